/** Fuzzing the rendezvous protocol's decoder (JOIN, LEAVE, PEERS, LEFT): what a relay reads. */
import { describe, expect, it } from 'vitest'
import { sha256, utf8 } from '../../src/core/bytes'
import {
  decodeDiscovery,
  encodeDiscovery,
  MAX_ADDR_LENGTH,
  MAX_ADDRS,
  MAX_PEERS_PER_ANSWER,
  MAX_TOPICS_PER_JOIN,
  type DiscoveryMessage,
} from '../../src/core/discovery/messages'
import { fuzz } from './harness'

const topic = (s: string): Uint8Array => sha256(utf8(s))
const PEER = '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu'
const ADDR = `/ip4/127.0.0.1/tcp/4001/ws/p2p/${PEER}`

const messages: DiscoveryMessage[] = [
  { type: 'join', topics: [topic('a'), topic('b')], addrs: [ADDR, '/ip6/::1/tcp/1'] },
  { type: 'join', topics: [], addrs: [] },
  { type: 'leave', topics: [topic('a')] },
  {
    type: 'peers',
    topic: topic('a'),
    kind: 'answer',
    peers: [
      { id: PEER, addrs: [ADDR] },
      { id: 'x', addrs: [] },
    ],
  },
  { type: 'peers', topic: topic('b'), kind: 'joined', peers: [] },
  { type: 'left', topic: topic('c'), peer: PEER },
]
const pool = messages.map(encodeDiscovery)

describe('fuzz: discovery messages', () => {
  it('answers every input with a message within the limits or a typed error', async () => {
    const report = await fuzz({
      name: 'discovery',
      pool,
      inputs: { firstBytes: [0, 1, 2, 3, 4, 5] },
      run: decodeDiscovery,
      check: (_input, out) => {
        if (!out.ok) return
        const m = out.value
        if (m.type === 'join' || m.type === 'leave') {
          expect(m.topics.length).toBeLessThanOrEqual(MAX_TOPICS_PER_JOIN)
          for (const t of m.topics) expect(t.length).toBe(32)
        }
        if (m.type === 'join') {
          expect(m.addrs.length).toBeLessThanOrEqual(MAX_ADDRS)
          for (const a of m.addrs) expect(utf8(a).length).toBeLessThanOrEqual(MAX_ADDR_LENGTH)
        }
        if (m.type === 'peers') {
          expect(m.topic.length).toBe(32)
          expect(m.peers.length).toBeLessThanOrEqual(MAX_PEERS_PER_ANSWER)
        }
        // what was accepted encodes back to the same bytes: nothing was skipped or invented
        expect(decodeDiscovery(encodeDiscovery(m))).toEqual(out)
      },
    })
    expect(report.outcomes.ok).toBeGreaterThan(0)
    expect(report.outcomes.MALFORMED_MESSAGE).toBeGreaterThan(0)
  })
})
