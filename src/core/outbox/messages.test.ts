import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ProtocolError } from '../errors'
import { identityFromSeed } from '../identity'
import { issueTabCert } from '../tab-cert'
import type { JsonValue } from '../values'
import { Writer } from '../wire/codec'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  MAX_KIND_BYTES,
  MAX_OUTBOX_MESSAGE,
  MAX_PAYLOAD_BYTES,
  signMessage,
  signingBytes,
  verifyMessage,
  type OutboxFrame,
  type OutboxMessage,
} from './messages'
import { identityTopic } from './topic'

const FC = { seed: 0x0b0c, numRuns: 100 }
const alice = identityFromSeed(new Uint8Array(32).fill(1))
const bob = identityFromSeed(new Uint8Array(32).fill(2))
const mallory = identityFromSeed(new Uint8Array(32).fill(3))

const mention = (payload: JsonValue = { post: 'p1', text: 'hi @bob' }): OutboxMessage =>
  signMessage(alice, { to: bob.id, kind: 'microblog/mention', payload })

function decoded(bytes: Uint8Array): OutboxFrame {
  const r = decodeOutboxFrame(bytes)
  if (!r.ok) throw r.error
  return r.value
}

function decodeError(bytes: Uint8Array): ProtocolError {
  const r = decodeOutboxFrame(bytes)
  expect(r.ok).toBe(false)
  if (r.ok) throw new Error('decoded')
  expect(r.error).toBeInstanceOf(ProtocolError)
  return r.error
}

const jsonArb: fc.Arbitrary<JsonValue> = fc
  .jsonValue({ maxDepth: 3 })
  .map((v) => JSON.parse(JSON.stringify(v)) as JsonValue) // -0 and the like, as JSON has them
  .filter((v) => !JSON.stringify(v).includes('"":')) // the state API's JSON has no empty keys
const kindArb = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._/-]{0,40}$/)
const idArb = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .map((b) => Buffer.from(b).toString('hex'))

describe('outbox messages', () => {
  it('round-trip messages, acks and hellos', () => {
    fc.assert(
      fc.property(
        idArb,
        kindArb,
        jsonArb,
        fc.integer({ min: 0, max: 2 ** 50 }),
        (id, kind, payload, createdAt) => {
          const message = signMessage(alice, { id, to: bob.id, kind, payload, createdAt })
          const back = decoded(encodeOutboxFrame({ type: 'message', message }))
          expect(back).toEqual({ type: 'message', message })
          expect(verifyMessage((back as { message: OutboxMessage }).message)).toBe(true)
          expect(JSON.parse(message.payload)).toEqual(payload)
          for (const status of ['accepted', 'not-me', 'rejected'] as const) {
            expect(decoded(encodeOutboxFrame({ type: 'ack', id, status }))).toEqual({
              type: 'ack',
              id,
              status,
            })
          }
        },
      ),
      FC,
    )
    const cert = issueTabCert(bob, '12D3KooWExamplePeerIdForTheTestOnly', 'profile-1')
    expect(decoded(encodeOutboxFrame({ type: 'hello', version: 1, cert }))).toEqual({
      type: 'hello',
      version: 1,
      cert,
    })
  })

  it('are signed by `from` over every field: forged and tampered messages fail', () => {
    const m = mention()
    expect(verifyMessage(m)).toBe(true)
    // signed by someone else than `from`, or not signed at all
    expect(verifyMessage({ ...m, signature: new Uint8Array(64) })).toBe(false)
    const byMallory = {
      ...m,
      signature: signMessage(mallory, {
        id: m.id,
        to: m.to,
        kind: m.kind,
        payload: JSON.parse(m.payload) as JsonValue,
        createdAt: m.createdAt,
      }).signature,
    }
    expect(verifyMessage(byMallory)).toBe(false)
    // any field changed after signing
    const tampered: OutboxMessage[] = [
      { ...m, to: mallory.id },
      { ...m, from: mallory.id },
      { ...m, kind: 'microblog/like' },
      { ...m, payload: '{"post":"p2","text":"hi @bob"}' },
      { ...m, createdAt: m.createdAt + 1 },
      { ...m, id: m.id.replace(/^./, m.id[0] === '0' ? '1' : '0') },
    ]
    for (const t of tampered) {
      expect(verifyMessage(t)).toBe(false)
      // still well-formed: the decoder passes it on and the receiver refuses it
      const back = decoded(encodeOutboxFrame({ type: 'message', message: t }))
      expect(verifyMessage((back as { message: OutboxMessage }).message)).toBe(false)
    }
    // one flipped bit anywhere in the encoded frame: undecodable or unverifiable, never accepted
    const bytes = encodeOutboxFrame({ type: 'message', message: m })
    for (let i = 1; i < bytes.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const copy = bytes.slice()
        copy[i] = (copy[i] as number) ^ bit
        const r = decodeOutboxFrame(copy)
        if (r.ok && r.value.type === 'message') expect(verifyMessage(r.value.message)).toBe(false)
      }
    }
  })

  it('sign canonical bytes that separate fields unambiguously', () => {
    const a = signingBytes({ ...mention(), kind: 'ab', payload: '"c"' })
    const b = signingBytes({ ...mention(), kind: 'a', payload: '"bc"' })
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
  })

  it('enforce the limits when signing and decoding', () => {
    const big = 'x'.repeat(MAX_PAYLOAD_BYTES - 2) // its JSON text is exactly the limit
    const m = mention(big)
    expect(decoded(encodeOutboxFrame({ type: 'message', message: m })).type).toBe('message')
    expect(encodeOutboxFrame({ type: 'message', message: m }).length).toBeLessThanOrEqual(
      MAX_OUTBOX_MESSAGE,
    )
    expect(() => mention(big + 'x')).toThrow(/payload exceeds/)
    expect(() =>
      signMessage(alice, { to: bob.id, kind: 'k'.repeat(MAX_KIND_BYTES + 1), payload: 1 }),
    ).toThrow(/kind/)
    expect(() => signMessage(alice, { to: 'did:web:example.com', kind: 'k', payload: 1 })).toThrow(
      /to is not/,
    )
    expect(() => signMessage(alice, { to: bob.id, kind: 'has space', payload: 1 })).toThrow()
    expect(() => signMessage(alice, { to: bob.id, kind: 'k', payload: NaN })).toThrow()
    expect(() =>
      signMessage(alice, { to: bob.id, kind: 'k', payload: { d: new Date() } as never }),
    ).toThrow()
    expect(() => encodeOutboxFrame({ type: 'message', message: { ...m, id: 'nothex' } })).toThrow(
      RangeError,
    )

    // hand-made frames that break the limits
    const frame = (f: (w: Writer) => void): Uint8Array => {
      const w = new Writer().u8(2).raw(new Uint8Array(16)).string(alice.id).string(bob.id)
      f(w)
      return w.finish()
    }
    const payloadTooBig = frame((w) =>
      w
        .string('k')
        .string(JSON.stringify('y'.repeat(MAX_PAYLOAD_BYTES)))
        .varint(1)
        .raw(new Uint8Array(64)),
    )
    expect(decodeError(payloadTooBig).code).toBe('MESSAGE_TOO_LARGE')
    const notJson = frame((w) =>
      w.string('k').string('{not json').varint(1).raw(new Uint8Array(64)),
    )
    expect(decodeError(notJson).message).toMatch(/not JSON/)
    const badKind = frame((w) => w.string('k k').string('1').varint(1).raw(new Uint8Array(64)))
    expect(decodeError(badKind).message).toMatch(/kind/)
    const shortSig = frame((w) => w.string('k').string('1').varint(1).raw(new Uint8Array(63)))
    expect(decodeError(shortSig).message).toMatch(/truncated/)
    const trailing = frame((w) => w.string('k').string('1').varint(1).raw(new Uint8Array(65)))
    expect(decodeError(trailing).message).toMatch(/trailing/)
    const badUtf8 = frame((w) =>
      w
        .string('k')
        .bytes(new Uint8Array([0x22, 0xff, 0x22]))
        .varint(1)
        .raw(new Uint8Array(64)),
    )
    expect(decodeError(badUtf8).message).toMatch(/UTF-8/)
    expect(decodeError(new Uint8Array([3, ...new Uint8Array(16), 9])).message).toMatch(/status/)
    expect(decodeError(new Uint8Array([9])).message).toMatch(/unknown message type/)
    expect(decodeError(new Uint8Array(0)).message).toMatch(/truncated|unknown/)
    expect(decodeError(new Uint8Array(MAX_OUTBOX_MESSAGE + 1)).code).toBe('MESSAGE_TOO_LARGE')
  })

  it('never throw on garbage or on truncated and extended frames', () => {
    const valid = [
      encodeOutboxFrame({ type: 'message', message: mention() }),
      encodeOutboxFrame({ type: 'ack', id: mention().id, status: 'accepted' }),
      encodeOutboxFrame({ type: 'hello', version: 1, cert: issueTabCert(bob, 'peer', 'p') }),
    ]
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeOutboxFrame(bytes)
        if (r.ok && r.value.type === 'message') expect(verifyMessage(r.value.message)).toBe(false)
      }),
      { ...FC, numRuns: 2000 },
    )
    fc.assert(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
        (bytes, cut, extra) => {
          const at = cut % bytes.length
          expect(decodeOutboxFrame(bytes.subarray(0, at)).ok).toBe(false)
          expect(decodeOutboxFrame(new Uint8Array([...bytes, ...extra])).ok).toBe(false)
          const mutated = bytes.slice()
          mutated[at] = (extra[0] as number) ^ (mutated[at] as number)
          decodeOutboxFrame(mutated) // must not throw
        },
      ),
      FC,
    )
  })

  it('give every identity its own topic', () => {
    expect(identityTopic(alice.id)).toHaveLength(32)
    expect(identityTopic(alice.id)).toEqual(identityTopic(alice.id))
    expect(identityTopic(alice.id)).not.toEqual(identityTopic(bob.id))
  })
})
