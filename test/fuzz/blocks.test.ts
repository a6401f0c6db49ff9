/** Fuzzing the block exchange's decoder (WANT, BLOCK, DONT_HAVE, CANCEL) and binary CIDs. */
import { describe, expect, it } from 'vitest'
import { utf8 } from '../../src/core/bytes'
import { blockCid, cidFromBytes, jsonCid, parseCid } from '../../src/core/blocks/cid'
import {
  decodeBlocksMessage,
  encodeBlocksMessage,
  MAX_CIDS_PER_MESSAGE,
  type BlocksMessage,
} from '../../src/core/blocks/messages'
import { BLOCK_SIZE } from '../../src/core/blocks/types'
import { fuzz } from './harness'

const a = blockCid(utf8('a'))
const b = blockCid(new Uint8Array(1000).fill(7))
const m = jsonCid(utf8('{"x":1}'))

const messages: BlocksMessage[] = [
  { type: 'want', cids: [a, b, m] },
  { type: 'want', cids: [a] },
  { type: 'block', cid: a, bytes: utf8('a') },
  { type: 'block', cid: b, bytes: new Uint8Array(1000).fill(7) },
  { type: 'block', cid: blockCid(new Uint8Array(0)), bytes: new Uint8Array(0) },
  { type: 'dont-have', cids: [m, a] },
  { type: 'cancel', cids: [b] },
]
const pool = messages.map(encodeBlocksMessage)

describe('fuzz: blocks messages', () => {
  it('answers every input with a message of valid CIDs or a typed error', async () => {
    const report = await fuzz({
      name: 'blocks',
      pool,
      inputs: { firstBytes: [0, 1, 2, 3, 4, 5] },
      run: decodeBlocksMessage,
      check: (_input, out) => {
        if (!out.ok) return
        const msg = out.value
        const cids = msg.type === 'block' ? [msg.cid] : msg.cids
        expect(cids.length).toBeGreaterThan(0)
        expect(cids.length).toBeLessThanOrEqual(MAX_CIDS_PER_MESSAGE)
        for (const c of cids) expect(parseCid(c).ok).toBe(true)
        if (msg.type === 'block') expect(msg.bytes.length).toBeLessThanOrEqual(BLOCK_SIZE)
      },
    })
    expect(report.outcomes.ok).toBeGreaterThan(0)
    expect(report.outcomes.MALFORMED_MESSAGE).toBeGreaterThan(0)
  })

  it('answers every binary CID with a canonical CIDv1 or a typed error', async () => {
    const cidPool = [a, b, m].map((c) => parseCid(c)).map((r) => (r.ok ? r.value.bytes : utf8('')))
    await fuzz({
      name: 'cid',
      pool: cidPool,
      run: cidFromBytes,
      check: (_input, out) => {
        if (out.ok) expect(parseCid(out.value).ok).toBe(true)
      },
    })
  })
})
