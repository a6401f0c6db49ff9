import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ProtocolError } from '../errors'
import { identityFromSeed } from '../identity'
import { MAX_MANIFEST_BYTES } from '../blocks/types'
import { Writer } from '../wire/codec'
import {
  decodeReleasesMessage,
  encodeReleasesMessage,
  MAX_KEYS_PER_QUERY,
  MAX_RELEASES_MESSAGE,
  type ReleaseKey,
  type ReleasesMessage,
} from './messages'

const FC = { seed: 0x7e1e, numRuns: 200 }

const publisherArb = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((seed) => identityFromSeed(seed, 0).id)
const nameArb = fc
  .string({ minLength: 1, maxLength: 100, unit: 'grapheme' })
  .filter((s) => s.trim().length > 0 && s.length <= 100)
const keyArb: fc.Arbitrary<ReleaseKey> = fc.record({ publisher: publisherArb, name: nameArb })

const messageArb: fc.Arbitrary<ReleasesMessage> = fc.oneof(
  fc.record({
    type: fc.constant('query' as const),
    keys: fc.array(keyArb, { minLength: 1, maxLength: MAX_KEYS_PER_QUERY }),
  }),
  fc.record({
    type: fc.constant('announce' as const),
    manifest: fc.uint8Array({ minLength: 1, maxLength: 2000 }),
  }),
  fc.constant({ type: 'done' as const }),
)

const did = identityFromSeed(new Uint8Array(32).fill(1), 0).id

function decodeError(bytes: Uint8Array): ProtocolError {
  const r = decodeReleasesMessage(bytes)
  expect(r.ok).toBe(false)
  if (r.ok) throw new Error('decoded')
  expect(r.error).toBeInstanceOf(ProtocolError)
  return r.error
}

/** a QUERY written by hand, bypassing the encoder's checks */
function rawQuery(keys: { publisher: string; name: string }[], count = keys.length): Uint8Array {
  const w = new Writer().u8(1).varint(count)
  for (const k of keys) w.string(k.publisher).string(k.name)
  return w.finish()
}

describe('releases messages', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const r = decodeReleasesMessage(encodeReleasesMessage(m))
        expect(r.ok && r.value).toEqual(m)
      }),
      FC,
    )
  })

  it('carry the largest manifest and 64 keys of the longest names within the limit', () => {
    const big = encodeReleasesMessage({
      type: 'announce',
      manifest: new Uint8Array(MAX_MANIFEST_BYTES).fill(0x7b),
    })
    expect(big.length).toBeLessThanOrEqual(MAX_RELEASES_MESSAGE)
    const r = decodeReleasesMessage(big)
    expect(r.ok && r.value.type === 'announce' && r.value.manifest.length).toBe(MAX_MANIFEST_BYTES)
    const keys = Array.from({ length: MAX_KEYS_PER_QUERY }, () => ({
      publisher: did,
      name: '\u{1F600}'.repeat(50),
    }))
    const q = encodeReleasesMessage({ type: 'query', keys })
    expect(q.length).toBeLessThanOrEqual(MAX_RELEASES_MESSAGE)
    expect(decodeReleasesMessage(q)).toEqual({ ok: true, value: { type: 'query', keys } })
  })

  it('refuse to encode what breaks the limits', () => {
    const key = { publisher: did, name: 'app' }
    expect(() => encodeReleasesMessage({ type: 'query', keys: [] })).toThrow(RangeError)
    const many = Array.from({ length: MAX_KEYS_PER_QUERY + 1 }, () => key)
    expect(() => encodeReleasesMessage({ type: 'query', keys: many })).toThrow(RangeError)
    const badKey = { publisher: 'did:key:nope', name: 'app' }
    expect(() => encodeReleasesMessage({ type: 'query', keys: [badKey] })).toThrow(RangeError)
    expect(() => encodeReleasesMessage({ type: 'announce', manifest: new Uint8Array() })).toThrow(
      RangeError,
    )
    const oversized = new Uint8Array(MAX_MANIFEST_BYTES + 1)
    expect(() => encodeReleasesMessage({ type: 'announce', manifest: oversized })).toThrow(
      RangeError,
    )
  })

  it('refuse too many keys, empty lists and bad keys', () => {
    const key = { publisher: did, name: 'app' }
    const many = Array.from({ length: MAX_KEYS_PER_QUERY + 1 }, () => key)
    expect(decodeError(rawQuery(many)).message).toMatch(/above limit 64/)
    expect(decodeError(rawQuery([])).message).toMatch(/empty key list/)
    expect(decodeError(rawQuery([{ publisher: 'did:key:z123', name: 'a' }])).message).toMatch(
      /key 0: publisher is not an Ed25519 did:key/,
    )
    expect(decodeError(rawQuery([key, { publisher: did, name: ' ' }])).message).toMatch(
      /key 1: empty app name/,
    )
    expect(decodeError(rawQuery([{ publisher: did, name: 'x'.repeat(101) }])).message).toMatch(
      /longer than 100/,
    )
    expect(decodeError(rawQuery([{ publisher: did, name: 'x'.repeat(301) }])).message).toMatch(
      /above limit 300/,
    )
    const longDid = { publisher: `${did}${'z'.repeat(100)}`, name: 'a' }
    expect(decodeError(rawQuery([longDid])).message).toMatch(/above limit 128/)
    // says 2 keys, carries 1
    expect(decodeError(rawQuery([key], 2)).message).toMatch(/truncated/)
  })

  it('refuse oversized and empty manifests', () => {
    const over = new Writer()
      .u8(2)
      .bytes(new Uint8Array(MAX_MANIFEST_BYTES + 1))
      .finish()
    expect(decodeError(over).message).toMatch(/above limit 262144/)
    const huge = new Uint8Array(MAX_RELEASES_MESSAGE + 1).fill(2)
    expect(decodeError(huge).code).toBe('MESSAGE_TOO_LARGE')
    const lengthOnly = new Writer()
      .u8(2)
      .varint(MAX_MANIFEST_BYTES + 1)
      .finish()
    expect(decodeError(lengthOnly).message).toMatch(/above limit/)
    expect(decodeError(new Writer().u8(2).varint(0).finish()).message).toMatch(/empty manifest/)
  })

  it('refuse unknown types, empty messages and trailing bytes', () => {
    expect(decodeError(new Uint8Array([9, 1])).message).toMatch(/unknown message type 9/)
    expect(decodeError(new Uint8Array(0)).message).toMatch(/empty message/)
    expect(decodeError(new Uint8Array([3, 0])).message).toMatch(/done: 1 trailing bytes/)
    const announce = encodeReleasesMessage({ type: 'announce', manifest: new Uint8Array([1]) })
    expect(decodeError(new Uint8Array([...announce, 0])).message).toMatch(/trailing/)
  })

  it('never throw on garbage or truncation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeReleasesMessage(bytes)
        if (r.ok) expect(decodeReleasesMessage(encodeReleasesMessage(r.value))).toEqual(r)
      }),
      FC,
    )
    fc.assert(
      fc.property(messageArb, fc.nat(), (m, cut) => {
        const bytes = encodeReleasesMessage(m)
        expect(decodeReleasesMessage(bytes.subarray(0, cut % bytes.length)).ok).toBe(false)
      }),
      FC,
    )
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, x) => {
        const bytes = encodeReleasesMessage(m).slice()
        bytes[at % bytes.length]! ^= x
        decodeReleasesMessage(bytes) // any result, no throw
      }),
      FC,
    )
  })
})
