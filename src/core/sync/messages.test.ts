import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { concatBytes, utf8 } from '../bytes'
import { ProtocolError } from '../errors'
import { generateIdentity } from '../identity'
import { docIdFromBytes, isDocId, newDocId } from '../ids'
import { issueTabCert, verifyTabCert } from '../tab-cert'
import { Writer } from '../wire/codec'
import { helloVersion } from '../wire/versions'
import {
  decodeSyncFrame,
  encodeSyncFrame,
  MAX_TOPICS_PER_MESSAGE,
  type ChangeSignature,
  type DecodedSyncFrame,
  type SyncFrame,
} from './messages'

const FC = { seed: 0x5e11c, numRuns: 300 }

const bytesOf = (n: number): fc.Arbitrary<Uint8Array> =>
  fc.uint8Array({ minLength: n, maxLength: n })

/** Strings whose UTF-8 form fits in `max` bytes. */
const stringUpTo = (max: number): fc.Arbitrary<string> =>
  fc.string({ unit: 'grapheme', maxLength: max }).filter((s) => utf8(s).length <= max)

const docIdArb = bytesOf(16).map((b) => {
  const id = docIdFromBytes(b)
  if (!id.ok) throw id.error
  return id.value
})

const sigArb: fc.Arbitrary<ChangeSignature> = fc.record({
  hash: bytesOf(32),
  author: bytesOf(32),
  signature: bytesOf(64),
})

const frameArb: fc.Arbitrary<SyncFrame> = fc.oneof(
  fc.record({
    type: fc.constant('hello' as const),
    version: fc.maxSafeNat(),
    cert: fc.record({
      identityKey: bytesOf(32),
      peerId: stringUpTo(128),
      profileId: stringUpTo(64),
      issuedAt: fc.maxSafeNat(),
      signature: bytesOf(64),
    }),
  }),
  fc.record({
    type: fc.constant('interest' as const),
    topics: fc.array(bytesOf(32), { maxLength: 40 }),
  }),
  fc.record({
    type: fc.constant('sync' as const),
    docId: docIdArb,
    message: fc.uint8Array({ maxLength: 500 }),
    sigs: fc.array(sigArb, { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant('goodbye' as const), reason: stringUpTo(200) }),
  fc.record({
    type: fc.constant('presence' as const),
    docId: docIdArb,
    state: fc.record(
      {
        seq: fc.maxSafeNat(),
        here: fc.boolean(),
        name: stringUpTo(400),
        selection: fc.record({
          path: fc.array(stringUpTo(64), { maxLength: 8 }),
          anchor: stringUpTo(160),
          head: stringUpTo(160),
        }),
      },
      { requiredKeys: ['seq', 'here', 'name'] },
    ),
  }),
)

function decodeOk(b: Uint8Array): DecodedSyncFrame {
  const r = decodeSyncFrame(b)
  if (!r.ok) throw new Error(`expected a frame, got ${r.error.message}`)
  return r.value
}

/** A decoded frame with its SYNC signatures as an array, to compare with the frame encoded. */
function plain(f: DecodedSyncFrame): SyncFrame {
  return f.type === 'sync' ? { ...f, sigs: [...f.sigs] } : f
}

/** (a decoder that throws fails the test by itself: no try/catch needed around it) */
function expectMalformed(b: Uint8Array, message?: RegExp): void {
  const r = decodeSyncFrame(b)
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(ProtocolError)
  expect(r.error.code).toBe('MALFORMED_MESSAGE')
  if (message !== undefined) expect(r.error.message).toMatch(message)
}

function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error('expected an exception')
}

/** What a decoded frame must look like, whatever bytes it came from. */
function expectWellFormed(f: SyncFrame): void {
  switch (f.type) {
    case 'hello':
      expect(f.cert.identityKey.length).toBe(32)
      expect(f.cert.signature.length).toBe(64)
      expect(utf8(f.cert.peerId).length).toBeLessThanOrEqual(128)
      expect(utf8(f.cert.profileId).length).toBeLessThanOrEqual(64)
      expect(Number.isSafeInteger(f.version)).toBe(true)
      expect(Number.isSafeInteger(f.cert.issuedAt)).toBe(true)
      break
    case 'interest':
      expect(f.topics.length).toBeLessThanOrEqual(MAX_TOPICS_PER_MESSAGE)
      for (const t of f.topics) expect(t.length).toBe(32)
      break
    case 'sync':
      expect(isDocId(f.docId)).toBe(true)
      for (const s of f.sigs) {
        expect(s.hash.length).toBe(32)
        expect(s.author.length).toBe(32)
        expect(s.signature.length).toBe(64)
      }
      break
    case 'goodbye':
      expect(utf8(f.reason).length).toBeLessThanOrEqual(200)
      break
    case 'presence':
      expect(isDocId(f.docId)).toBe(true)
      expect(Number.isSafeInteger(f.state.seq)).toBe(true)
      expect(utf8(f.state.name).length).toBeLessThanOrEqual(400)
      if (f.state.selection !== undefined) {
        expect(f.state.selection.path.length).toBeLessThanOrEqual(8)
        expect(utf8(f.state.selection.anchor).length).toBeLessThanOrEqual(160)
      }
      break
  }
}

describe('sync frames: round trips', () => {
  it('round-trips a HELLO carrying a real tab certificate, which still verifies', () => {
    const identity = generateIdentity()
    const peerId = '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu'
    const now = 1_700_000_000_000
    const cert = issueTabCert(identity, peerId, 'profile-1', now)
    const frame: SyncFrame = { type: 'hello', version: helloVersion('sync', 1), cert }
    const back = decodeOk(encodeSyncFrame(frame))
    expect(back).toEqual(frame)
    if (back.type !== 'hello') throw new Error('unreachable')
    expect(verifyTabCert(back.cert, peerId, now)).toEqual({ ok: true, value: identity.id })
  })

  it('round-trips every frame type', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const bytes = encodeSyncFrame(frame)
        const back = decodeOk(bytes)
        expect(plain(back)).toEqual(frame)
        expectWellFormed(back)
        // and encoding is deterministic
        expect(encodeSyncFrame(back)).toEqual(bytes)
      }),
      FC,
    )
  })

  it('round-trips edge cases: empty lists, empty message, maximum topics', () => {
    const id = newDocId()
    const frames: SyncFrame[] = [
      { type: 'interest', topics: [] },
      {
        type: 'interest',
        topics: Array.from({ length: MAX_TOPICS_PER_MESSAGE }, (_, i) =>
          new Uint8Array(32).fill(i),
        ),
      },
      { type: 'sync', docId: id, message: new Uint8Array(0), sigs: [] },
      { type: 'sync', docId: '1111111111111111', message: new Uint8Array([1]), sigs: [] },
      { type: 'goodbye', reason: '' },
      { type: 'goodbye', reason: 'x'.repeat(200) },
    ]
    for (const f of frames) expect(plain(decodeOk(encodeSyncFrame(f)))).toEqual(f)
  })

  it('returns copies of the fixed-size fields, not views of the input', () => {
    const sig: ChangeSignature = {
      hash: new Uint8Array(32).fill(1),
      author: new Uint8Array(32).fill(2),
      signature: new Uint8Array(64).fill(3),
    }
    const bytes = encodeSyncFrame({
      type: 'sync',
      docId: newDocId(),
      message: Uint8Array.of(9),
      sigs: [sig],
    })
    const back = decodeOk(bytes)
    bytes.fill(0)
    if (back.type !== 'sync') throw new Error('unreachable')
    expect(back.sigs.at(0)).toEqual(sig)
  })

  it('cuts a long GOODBYE reason so that the receiver accepts it', () => {
    expect(decodeOk(encodeSyncFrame({ type: 'goodbye', reason: 'y'.repeat(1000) }))).toEqual({
      type: 'goodbye',
      reason: 'y'.repeat(200),
    })
    // 200 characters of non-ASCII text are more than 200 bytes: the cut counts bytes
    const accented = decodeOk(encodeSyncFrame({ type: 'goodbye', reason: 'é'.repeat(150) }))
    expect(accented).toEqual({ type: 'goodbye', reason: 'é'.repeat(100) })
    // a cut never splits a character (here: 4-byte emoji, a surrogate pair in UTF-16)
    const emoji = decodeOk(encodeSyncFrame({ type: 'goodbye', reason: 'a' + '😀'.repeat(100) }))
    expect(emoji).toEqual({ type: 'goodbye', reason: 'a' + '😀'.repeat(49) })
  })

  it('accepts any GOODBYE reason, cutting it to a prefix of at most 200 bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 400 }), (reason) => {
        const back = decodeOk(encodeSyncFrame({ type: 'goodbye', reason }))
        if (back.type !== 'goodbye') throw new Error('unreachable')
        expect(reason.startsWith(back.reason)).toBe(true)
        expect(utf8(back.reason).length).toBeLessThanOrEqual(200)
        if (utf8(reason).length <= 200) expect(back.reason).toBe(reason)
        else expect(utf8(back.reason).length).toBeGreaterThan(196) // at most one character lost
      }),
      FC,
    )
  })
})

describe('sync frames: bad input', () => {
  it('rejects a SYNC frame whose document id is not 16 bytes', () => {
    for (const n of [0, 1, 15, 17, 32, 64]) {
      const bytes = new Writer()
        .u8(3)
        .bytes(new Uint8Array(n).fill(7))
        .bytes(Uint8Array.of(1, 2))
        .varint(0)
        .finish()
      expectMalformed(bytes, /bad document id/)
    }
    // an id longer than 64 bytes is refused by the length limit itself
    const long = new Writer().u8(3).bytes(new Uint8Array(65)).bytes(Uint8Array.of(1)).varint(0)
    expectMalformed(long.finish(), /above limit 64/)
  })

  it('rejects a SYNC frame encoded from a base58 string that is not a document id', () => {
    const bytes = encodeSyncFrame({
      type: 'sync',
      docId: 'abc',
      message: Uint8Array.of(1),
      sigs: [],
    })
    expectMalformed(bytes, /bad document id/)
  })

  it('refuses to encode a document id that is not base58', () => {
    const e = thrown(() =>
      encodeSyncFrame({
        type: 'sync',
        docId: '0OIl-not-base58',
        message: Uint8Array.of(1),
        sigs: [],
      }),
    )
    expect(e).toMatchObject({ code: 'INVALID_DOC_ID' })
  })

  it('rejects unknown message types and an empty buffer', () => {
    expectMalformed(new Uint8Array(0))
    for (const t of [0, 6, 7, 127, 255])
      expectMalformed(Uint8Array.of(t), /unknown sync message type/)
  })

  it('rejects more topics than MAX_TOPICS_PER_MESSAGE', () => {
    const w = new Writer().u8(2).varint(MAX_TOPICS_PER_MESSAGE + 1)
    for (let i = 0; i <= MAX_TOPICS_PER_MESSAGE; i++) w.raw(new Uint8Array(32))
    expectMalformed(w.finish(), /above limit 1024/)
  })

  it('rejects a topic count larger than the topics present', () => {
    const w = new Writer().u8(2).varint(3).raw(new Uint8Array(32)).raw(new Uint8Array(32))
    expectMalformed(w.finish(), /truncated/)
  })

  it('rejects HELLO peer ids and profile ids above their limits', () => {
    const hello = (peerId: string, profileId: string): Uint8Array =>
      new Writer()
        .u8(1)
        .varint(1)
        .raw(new Uint8Array(32))
        .string(peerId)
        .string(profileId)
        .varint(5)
        .raw(new Uint8Array(64))
        .finish()
    expect(decodeSyncFrame(hello('p'.repeat(128), 'q'.repeat(64))).ok).toBe(true)
    expectMalformed(hello('p'.repeat(129), 'q'), /above limit 128/)
    expectMalformed(hello('p', 'q'.repeat(65)), /above limit 64/)
  })

  it('rejects invalid UTF-8 in strings', () => {
    const bytes = new Writer().u8(4).bytes(Uint8Array.of(0xc3, 0x28)).finish()
    expectMalformed(bytes, /invalid UTF-8/)
  })

  it('rejects every strict prefix of a valid frame', () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), (frame, cutSeed) => {
        const bytes = encodeSyncFrame(frame)
        expectMalformed(bytes.subarray(0, cutSeed % bytes.length))
      }),
      FC,
    )
  })

  it('rejects trailing bytes after a valid frame', () => {
    fc.assert(
      fc.property(frameArb, fc.uint8Array({ minLength: 1, maxLength: 10 }), (frame, extra) => {
        expectMalformed(concatBytes([encodeSyncFrame(frame), extra]), /trailing bytes/)
      }),
      FC,
    )
  })

  it('never throws on garbage; whatever it accepts is well formed and re-encodes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          // garbage behind a valid type byte, to get past the first check
          fc
            .tuple(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 300 }))
            .map(([t, rest]) => concatBytes([Uint8Array.of(t), rest])),
        ),
        (bytes) => {
          const r = decodeSyncFrame(bytes)
          if (r.ok) {
            expectWellFormed(r.value)
            expect(decodeSyncFrame(encodeSyncFrame(r.value))).toEqual(r)
          } else {
            expect(r.error.code).toBe('MALFORMED_MESSAGE')
          }
        },
      ),
      { seed: FC.seed, numRuns: 500 },
    )
  })

  it('never throws on mutated valid frames; whatever it accepts is well formed', () => {
    fc.assert(
      fc.property(
        frameArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 3,
        }),
        (frame, flips) => {
          const bytes = encodeSyncFrame(frame).slice()
          for (const [at, xor] of flips) {
            const i = at % bytes.length
            bytes[i] = (bytes[i] ?? 0) ^ xor
          }
          const r = decodeSyncFrame(bytes)
          if (r.ok) expectWellFormed(r.value)
          else expect(r.error.code).toBe('MALFORMED_MESSAGE')
        },
      ),
      FC,
    )
  })
})
