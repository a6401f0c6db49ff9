import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { concatBytes, utf8 } from '../bytes'
import { ProtocolError } from '../errors'
import { Writer } from '../wire/codec'
import {
  decodeDiscovery,
  encodeDiscovery,
  MAX_ADDR_LENGTH,
  MAX_ADDRS,
  MAX_PEERS_PER_ANSWER,
  MAX_TOPICS_PER_JOIN,
  type DiscoveryMessage,
  type PeerEntry,
} from './messages'

const FC = { seed: 0xd15c0, numRuns: 300 }

const topicArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

/** Strings whose UTF-8 form fits in `max` bytes. */
const stringUpTo = (max: number, maxLength = max): fc.Arbitrary<string> =>
  fc.string({ unit: 'grapheme', maxLength }).filter((s) => utf8(s).length <= max)

const addrArb = fc.oneof(
  fc
    .tuple(fc.ipV4(), fc.integer({ min: 1, max: 65535 }))
    .map(([ip, port]) => `/ip4/${ip}/tcp/${port}/ws`),
  stringUpTo(MAX_ADDR_LENGTH, 60),
)
const addrsArb = fc.array(addrArb, { maxLength: MAX_ADDRS })
const peerArb: fc.Arbitrary<PeerEntry> = fc.record({ id: stringUpTo(128, 60), addrs: addrsArb })

const messageArb: fc.Arbitrary<DiscoveryMessage> = fc.oneof(
  fc.record({
    type: fc.constant('join' as const),
    topics: fc.array(topicArb, { maxLength: 20 }),
    addrs: addrsArb,
  }),
  fc.record({ type: fc.constant('leave' as const), topics: fc.array(topicArb, { maxLength: 20 }) }),
  fc.record({
    type: fc.constant('peers' as const),
    topic: topicArb,
    kind: fc.constantFrom('answer' as const, 'joined' as const),
    peers: fc.array(peerArb, { maxLength: 6 }),
  }),
  fc.record({ type: fc.constant('left' as const), topic: topicArb, peer: stringUpTo(128, 60) }),
)

function decodeOk(b: Uint8Array): DiscoveryMessage {
  const r = decodeDiscovery(b)
  if (!r.ok) throw new Error(`expected a message, got ${r.error.message}`)
  return r.value
}

function expectMalformed(b: Uint8Array, message?: RegExp): void {
  const r = decodeDiscovery(b)
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(ProtocolError)
  expect(r.error.code).toBe('MALFORMED_MESSAGE')
  if (message !== undefined) expect(r.error.message).toMatch(message)
}

function expectWellFormed(m: DiscoveryMessage): void {
  const checkAddrs = (addrs: string[]): void => {
    expect(addrs.length).toBeLessThanOrEqual(MAX_ADDRS)
    for (const a of addrs) expect(utf8(a).length).toBeLessThanOrEqual(MAX_ADDR_LENGTH)
  }
  switch (m.type) {
    case 'join':
    case 'leave':
      if (m.type === 'join') checkAddrs(m.addrs)
      expect(m.topics.length).toBeLessThanOrEqual(MAX_TOPICS_PER_JOIN)
      for (const t of m.topics) expect(t.length).toBe(32)
      break
    case 'peers':
      expect(m.topic.length).toBe(32)
      expect(['answer', 'joined']).toContain(m.kind)
      expect(m.peers.length).toBeLessThanOrEqual(MAX_PEERS_PER_ANSWER)
      for (const p of m.peers) {
        expect(utf8(p.id).length).toBeLessThanOrEqual(128)
        checkAddrs(p.addrs)
      }
      break
    case 'left':
      expect(m.topic.length).toBe(32)
      expect(utf8(m.peer).length).toBeLessThanOrEqual(128)
      break
  }
}

const topics = (n: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => new Uint8Array(32).fill(i & 0xff))

describe('discovery messages: round trips', () => {
  it('round-trips every message type', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeDiscovery(m)
        const back = decodeOk(bytes)
        expect(back).toEqual(m)
        expectWellFormed(back)
        expect(encodeDiscovery(back)).toEqual(bytes)
      }),
      FC,
    )
  })

  it('round-trips messages exactly at the limits', () => {
    const addrs = Array.from({ length: MAX_ADDRS }, (_, i) =>
      `/dns4/${String(i)}`.padEnd(MAX_ADDR_LENGTH, 'a'),
    )
    const peers = Array.from({ length: MAX_PEERS_PER_ANSWER }, (_, i) => ({
      id: String(i).padEnd(128, 'p'),
      addrs,
    }))
    const msgs: DiscoveryMessage[] = [
      { type: 'join', topics: topics(MAX_TOPICS_PER_JOIN), addrs },
      { type: 'join', topics: [], addrs: [] },
      { type: 'leave', topics: topics(MAX_TOPICS_PER_JOIN) },
      { type: 'peers', topic: new Uint8Array(32), kind: 'answer', peers },
      { type: 'peers', topic: new Uint8Array(32).fill(1), kind: 'joined', peers: [] },
      { type: 'left', topic: new Uint8Array(32).fill(2), peer: 'p'.repeat(128) },
    ]
    for (const m of msgs) expect(decodeOk(encodeDiscovery(m))).toEqual(m)
  })

  it('returns topics that do not alias the input buffer', () => {
    const bytes = encodeDiscovery({ type: 'leave', topics: topics(2) })
    const back = decodeOk(bytes)
    bytes.fill(0xaa)
    expect(back).toEqual({ type: 'leave', topics: topics(2) })
  })
})

describe('discovery messages: limits enforced on decode', () => {
  it(`refuses more than ${MAX_TOPICS_PER_JOIN} topics in JOIN and LEAVE`, () => {
    const over = topics(MAX_TOPICS_PER_JOIN + 1)
    expectMalformed(encodeDiscovery({ type: 'join', topics: over, addrs: [] }), /above limit 256/)
    expectMalformed(encodeDiscovery({ type: 'leave', topics: over }), /above limit 256/)
  })

  it(`refuses more than ${MAX_ADDRS} addresses`, () => {
    const addrs = Array.from({ length: MAX_ADDRS + 1 }, () => '/ip4/1.2.3.4/tcp/1')
    expectMalformed(encodeDiscovery({ type: 'join', topics: [], addrs }), /above limit 8/)
    expectMalformed(
      encodeDiscovery({
        type: 'peers',
        topic: new Uint8Array(32),
        kind: 'answer',
        peers: [{ id: 'p', addrs }],
      }),
      /above limit 8/,
    )
  })

  it(`refuses an address longer than ${MAX_ADDR_LENGTH} bytes (counted in UTF-8)`, () => {
    const long = 'a'.repeat(MAX_ADDR_LENGTH + 1)
    expectMalformed(encodeDiscovery({ type: 'join', topics: [], addrs: [long] }), /above limit 512/)
    const wide = 'é'.repeat(MAX_ADDR_LENGTH / 2 + 1) // 257 characters, 514 bytes
    expectMalformed(encodeDiscovery({ type: 'join', topics: [], addrs: [wide] }), /above limit/)
  })

  it(`refuses more than ${MAX_PEERS_PER_ANSWER} peers in an answer`, () => {
    const peers = Array.from({ length: MAX_PEERS_PER_ANSWER + 1 }, (_, i) => ({
      id: `p${i}`,
      addrs: [],
    }))
    expectMalformed(
      encodeDiscovery({ type: 'peers', topic: new Uint8Array(32), kind: 'joined', peers }),
      /above limit 64/,
    )
  })

  it('refuses peer ids longer than 128 bytes', () => {
    const id = 'q'.repeat(129)
    expectMalformed(encodeDiscovery({ type: 'left', topic: new Uint8Array(32), peer: id }))
    expectMalformed(
      encodeDiscovery({
        type: 'peers',
        topic: new Uint8Array(32),
        kind: 'answer',
        peers: [{ id, addrs: [] }],
      }),
    )
  })

  it('refuses a PEERS kind other than 0 (answer) or 1 (joined)', () => {
    for (const kind of [2, 3, 255]) {
      const bytes = new Writer().u8(3).raw(new Uint8Array(32)).u8(kind).varint(0).finish()
      expectMalformed(bytes, /bad peers kind/)
    }
  })

  it('refuses unknown types, empty input, short topics and trailing bytes', () => {
    expectMalformed(new Uint8Array(0))
    for (const t of [0, 5, 200]) expectMalformed(Uint8Array.of(t), /unknown discovery message type/)
    expectMalformed(new Writer().u8(4).raw(new Uint8Array(31)).finish(), /truncated/)
    expectMalformed(
      new Writer().u8(2).varint(2).raw(new Uint8Array(32)).raw(new Uint8Array(31)).finish(),
      /truncated/,
    )
    const ok = encodeDiscovery({ type: 'left', topic: new Uint8Array(32), peer: 'x' })
    expectMalformed(concatBytes([ok, Uint8Array.of(0)]), /1 trailing bytes/)
  })

  it('refuses invalid UTF-8 in an address', () => {
    const bytes = new Writer().u8(1).varint(0).varint(1).bytes(Uint8Array.of(0xff, 0xfe)).finish()
    expectMalformed(bytes, /invalid UTF-8/)
  })
})

describe('discovery messages: fuzzing', () => {
  it('rejects every strict prefix of a valid message', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), (m, cut) => {
        const bytes = encodeDiscovery(m)
        expectMalformed(bytes.subarray(0, cut % bytes.length))
      }),
      FC,
    )
  })

  it('never throws on garbage; whatever it accepts is within the limits and re-encodes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc
            .tuple(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 300 }))
            .map(([t, rest]) => concatBytes([Uint8Array.of(t), rest])),
        ),
        (bytes) => {
          const r = decodeDiscovery(bytes)
          if (r.ok) {
            expectWellFormed(r.value)
            expect(decodeDiscovery(encodeDiscovery(r.value))).toEqual(r)
          } else {
            expect(r.error.code).toBe('MALFORMED_MESSAGE')
          }
        },
      ),
      { seed: FC.seed, numRuns: 500 },
    )
  })

  it('never throws on mutated valid messages; whatever it accepts is within the limits', () => {
    fc.assert(
      fc.property(
        messageArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (m, flips) => {
          const bytes = encodeDiscovery(m).slice()
          for (const [at, xor] of flips) {
            const i = at % bytes.length
            bytes[i] = (bytes[i] ?? 0) ^ xor
          }
          const r = decodeDiscovery(bytes)
          if (r.ok) expectWellFormed(r.value)
          else expect(r.error.code).toBe('MALFORMED_MESSAGE')
        },
      ),
      FC,
    )
  })
})
