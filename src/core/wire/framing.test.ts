import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { concatBytes, equalBytes } from '../bytes'
import { ProtocolError, type Result } from '../errors'
import { Reader, Writer } from './codec'
import { encodeMessage, MAX_FRAME, MessageDecoder, type FramingLimits } from './framing'

const SEED = 0xf4a3e
const CODES = ['MALFORMED_MESSAGE', 'MESSAGE_TOO_LARGE', 'PROTOCOL_VIOLATION']

/** Deterministic pseudo-random bytes (xorshift32), so multi-megabyte messages cost no shrinking. */
function pseudoRandom(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed | 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

/** Cuts `bytes` at the given points (any numbers; reduced modulo the length). */
function split(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  if (bytes.length === 0) return [bytes]
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let at = 0
  for (const p of points) {
    out.push(bytes.subarray(at, p))
    at = p
  }
  out.push(bytes.subarray(at))
  return out
}

interface Outcome {
  messages: Uint8Array[]
  error: ProtocolError | undefined
}

/** Feeds chunks until the first error; never lets an exception escape unnoticed. */
function feed(decoder: MessageDecoder, chunks: readonly Uint8Array[]): Outcome {
  const messages: Uint8Array[] = []
  for (const c of chunks) {
    const r = decoder.push(c)
    if (!r.ok) return { messages, error: r.error }
    messages.push(...r.value)
  }
  return { messages, error: undefined }
}

function expectProtocolError(
  r: Result<unknown, ProtocolError>,
  code?: string,
  message?: RegExp,
): ProtocolError {
  expect(r.ok).toBe(false)
  if (r.ok) throw new Error('unreachable')
  expect(r.error).toBeInstanceOf(ProtocolError)
  expect(CODES).toContain(r.error.code)
  if (code !== undefined) expect(r.error.code).toBe(code)
  if (message !== undefined) expect(r.error.message).toMatch(message)
  return r.error
}

/** A frame: varint(body length) then the body. */
const frame = (body: readonly number[] | Uint8Array): Uint8Array =>
  new Writer().varint(body.length).raw(Uint8Array.from(body)).finish()

const varint = (n: number): number[] => [...new Writer().varint(n).finish()]

/** Reads one encoded frame back: its flag, the announced total (flag 1) and its data size. */
function parseFrame(f: Uint8Array): { flag: number; total: number | undefined; data: number } {
  const r = new Reader(f)
  const length = r.varint()
  expect(length).toBe(r.remaining)
  const flag = r.u8()
  const total = flag === 1 ? r.varint() : undefined
  const data = r.rest().length
  expect(r.error).toBeUndefined()
  return { flag, total, data }
}

const small: FramingLimits = { maxFrame: 64, maxMessage: 4096 }

describe('encodeMessage', () => {
  it('sends a small message as one whole frame', () => {
    const msg = Uint8Array.from([1, 2, 3])
    const frames = encodeMessage(msg)
    expect(frames).toHaveLength(1)
    expect([...(frames[0] ?? [])]).toEqual([4, 0, 1, 2, 3])
  })

  it('sends an empty message as a one-byte frame', () => {
    const frames = encodeMessage(new Uint8Array(0))
    expect(frames.map((f) => [...f])).toEqual([[1, 0]])
    const d = new MessageDecoder(small)
    const r = d.push(frames[0] ?? new Uint8Array(0))
    expect(r).toEqual({ ok: true, value: [new Uint8Array(0)] })
  })

  it('keeps every frame within maxFrame (whole frame, length prefix included)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 27, max: 2000 }),
        fc.integer({ min: 0, max: 5000 }),
        (maxFrame, size) => {
          const msg = pseudoRandom(size, size + maxFrame)
          const frames = encodeMessage(msg, maxFrame)
          for (const f of frames) expect(f.length).toBeLessThanOrEqual(maxFrame)
          const d = new MessageDecoder({ maxFrame, maxMessage: size })
          const out = feed(d, frames)
          expect(out.error).toBeUndefined()
          expect(out.messages).toHaveLength(1)
          expect(equalBytes(out.messages[0] ?? new Uint8Array(1), msg)).toBe(true)
          expect(d.end()).toEqual({ ok: true, value: undefined })
        },
      ),
      { seed: SEED, numRuns: 300 },
    )
  })

  it('refuses a maxFrame too small to split with (instead of looping forever)', () => {
    expect(() => encodeMessage(new Uint8Array(100), 26)).toThrow(RangeError)
    expect(() => encodeMessage(new Uint8Array(100), 0)).toThrow(RangeError)
    expect(() => encodeMessage(new Uint8Array(100), -5)).toThrow(RangeError)
    // the smallest usable size still works, one byte per part
    const frames = encodeMessage(pseudoRandom(100, 3), 27)
    expect(frames).toHaveLength(100)
  })

  it('splits a multi-megabyte message into frames of at most MAX_FRAME and reassembles it', () => {
    const size = 5 * 1024 * 1024 + 12345
    const msg = pseudoRandom(size, 42)
    const frames = encodeMessage(msg)
    expect(frames.length).toBeGreaterThanOrEqual(Math.ceil(size / MAX_FRAME))
    for (const f of frames) {
      expect(f.length).toBeLessThanOrEqual(MAX_FRAME)
      expect(f.length).toBeGreaterThan(0)
    }
    // each frame is varint(length of the rest) then its flag: 1 (with the total) first, then 2
    const parsed = frames.map(parseFrame)
    expect(parsed[0]?.flag).toBe(1)
    expect(parsed[0]?.total).toBe(size)
    for (const p of parsed.slice(1)) expect(p.flag).toBe(2)
    const carried = parsed.reduce((n, p) => n + p.data, 0)
    expect(carried).toBe(size)

    const d = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: 8 * 1024 * 1024 })
    const all = concatBytes(frames)
    const out = feed(d, split(all, [1, 2, 3, 100_000, 1_000_000, 1_000_001, all.length - 1]))
    expect(out.error).toBeUndefined()
    expect(out.messages).toHaveLength(1)
    expect(out.messages[0]?.length).toBe(size)
    // (vitest's deep equality is far too slow for megabytes: compare with a plain loop)
    expect(equalBytes(out.messages[0] ?? new Uint8Array(0), msg)).toBe(true)
    expect(d.end().ok).toBe(true)
  })
})

describe('MessageDecoder round trips', () => {
  it('decodes streams of random messages cut into random pieces (small frames)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 700 }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 27, max: 300 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (messages, maxFrame, cuts) => {
          const stream = concatBytes(messages.flatMap((m) => encodeMessage(m, maxFrame)))
          const d = new MessageDecoder({ maxFrame, maxMessage: 700 })
          const out = feed(d, split(stream, cuts))
          expect(out.error).toBeUndefined()
          expect(out.messages.length).toBe(messages.length)
          out.messages.forEach((m, i) =>
            expect(equalBytes(m, messages[i] ?? new Uint8Array(0))).toBe(true),
          )
          expect(d.end().ok).toBe(true)
        },
      ),
      { seed: SEED, numRuns: 400 },
    )
  })

  it('decodes messages of 1 byte to several megabytes fed in random pieces', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.integer({ min: 1, max: 1000 }),
            fc.integer({ min: MAX_FRAME - 40, max: MAX_FRAME + 40 }),
            fc.integer({ min: 1, max: 3 * 1024 * 1024 }),
          ),
          { minLength: 1, maxLength: 3 },
        ),
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.nat({ max: 8 }), { maxLength: 10 }),
        (sizes, cuts, tinyCuts) => {
          const messages = sizes.map((s, i) => pseudoRandom(s, s * 31 + i))
          const stream = concatBytes(messages.flatMap((m) => encodeMessage(m)))
          // extra cuts close to the start: length prefixes and flags arriving byte by byte
          const d = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: 3 * 1024 * 1024 })
          const out = feed(d, split(stream, [...cuts, ...tinyCuts]))
          expect(out.error).toBeUndefined()
          expect(out.messages.length).toBe(messages.length)
          out.messages.forEach((m, i) =>
            expect(equalBytes(m, messages[i] ?? new Uint8Array(0))).toBe(true),
          )
          expect(d.end().ok).toBe(true)
        },
      ),
      { seed: SEED, numRuns: 25 },
    )
  })

  it('decodes a stream delivered one byte at a time', () => {
    const messages = [pseudoRandom(300, 1), new Uint8Array(0), pseudoRandom(5, 2)]
    const stream = concatBytes(messages.flatMap((m) => encodeMessage(m, 64)))
    const d = new MessageDecoder(small)
    const out: Uint8Array[] = []
    for (let i = 0; i < stream.length; i++) {
      const r = d.push(stream.subarray(i, i + 1))
      expect(r.ok).toBe(true)
      if (r.ok) out.push(...r.value)
      // a message appears exactly when its last byte arrived, not before
    }
    expect(out).toEqual(messages)
    expect(d.end().ok).toBe(true)
  })

  it('accepts Uint8ArrayList chunks', () => {
    const msg = pseudoRandom(1000, 9)
    const list = new Uint8ArrayList(...encodeMessage(msg, 64))
    const d = new MessageDecoder(small)
    expect(d.push(list)).toEqual({ ok: true, value: [msg] })
  })

  it('returns messages that do not alias the pushed chunk', () => {
    const chunk = concatBytes(encodeMessage(Uint8Array.from([1, 2, 3])))
    const d = new MessageDecoder(small)
    const r = d.push(chunk)
    chunk.fill(0xee)
    expect(r).toEqual({ ok: true, value: [Uint8Array.from([1, 2, 3])] })
  })

  it('is chunking-invariant on arbitrary bytes: same messages, same verdict', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, cuts) => {
          const whole = new MessageDecoder(small).push(bytes)
          const d = new MessageDecoder(small)
          const pieces = feed(d, split(bytes, cuts))
          expect(pieces.error?.code).toBe(whole.ok ? undefined : whole.error.code)
          if (whole.ok) expect(pieces.messages).toEqual(whole.value)
        },
      ),
      { seed: SEED, numRuns: 500 },
    )
  })
})

describe('MessageDecoder refusals', () => {
  it('refuses an oversized length prefix before the frame arrives', () => {
    const d = new MessageDecoder(small)
    const r = d.push(Uint8Array.from(varint(small.maxFrame + 1)))
    expectProtocolError(r, 'MESSAGE_TOO_LARGE', /exceeds 64/)
    const huge = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: 1 << 30 })
    expectProtocolError(huge.push(Uint8Array.from(varint(2 ** 34))), 'MESSAGE_TOO_LARGE')
  })

  it('accepts a frame of exactly maxFrame bytes', () => {
    const body = [0, ...pseudoRandom(small.maxFrame - 1, 5)]
    const d = new MessageDecoder(small)
    const r = d.push(frame(body))
    expect(r).toEqual({ ok: true, value: [Uint8Array.from(body.slice(1))] })
  })

  it('refuses a length prefix longer than 5 bytes', () => {
    const d = new MessageDecoder(small)
    expectProtocolError(
      d.push(Uint8Array.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x00])),
      'MALFORMED_MESSAGE',
      /prefix too long/,
    )
  })

  it('refuses a zero-length frame', () => {
    expectProtocolError(new MessageDecoder(small).push(Uint8Array.from([0])), 'MALFORMED_MESSAGE')
  })

  it('refuses unknown frame flags', () => {
    for (let flag = 3; flag < 256; flag++) {
      const d = new MessageDecoder(small)
      expectProtocolError(d.push(frame([flag, 1, 2])), 'MALFORMED_MESSAGE', /unknown frame flag/)
    }
  })

  it('refuses a continuation without a first part', () => {
    const d = new MessageDecoder(small)
    expectProtocolError(d.push(frame([2, 1, 2, 3])), 'PROTOCOL_VIOLATION', /without a first/)
  })

  it('refuses a first part while another split message is in progress', () => {
    const d = new MessageDecoder(small)
    expect(d.push(frame([1, ...varint(10), 1, 2, 3]))).toEqual({ ok: true, value: [] })
    expectProtocolError(d.push(frame([1, ...varint(10), 4])), 'PROTOCOL_VIOLATION')
  })

  it('refuses a whole message inside a split one', () => {
    const d = new MessageDecoder(small)
    expect(d.push(frame([1, ...varint(10), 1, 2, 3])).ok).toBe(true)
    expectProtocolError(d.push(frame([0, 9])), 'PROTOCOL_VIOLATION', /inside a split/)
  })

  it('refuses parts longer than announced', () => {
    const d = new MessageDecoder(small)
    expect(d.push(frame([1, ...varint(4), 1, 2, 3])).ok).toBe(true)
    expectProtocolError(d.push(frame([2, 4, 5])), 'MALFORMED_MESSAGE')
    // the first part alone may not exceed the total either
    expectProtocolError(
      new MessageDecoder(small).push(frame([1, ...varint(2), 1, 2, 3])),
      'MALFORMED_MESSAGE',
    )
  })

  it('refuses empty parts', () => {
    expectProtocolError(new MessageDecoder(small).push(frame([1, 5])), 'MALFORMED_MESSAGE')
    const d = new MessageDecoder(small)
    expect(d.push(frame([1, 5, 1])).ok).toBe(true)
    expectProtocolError(d.push(frame([2])), 'MALFORMED_MESSAGE')
    expectProtocolError(new MessageDecoder(small).push(frame([1, 0])), 'MALFORMED_MESSAGE')
  })

  it('refuses a split message whose total is above maxMessage, on its first frame', () => {
    const limits = { maxFrame: 256, maxMessage: 1000 }
    const frames = encodeMessage(pseudoRandom(1001, 4), 256)
    expect(frames.length).toBeGreaterThan(1)
    const d = new MessageDecoder(limits)
    expectProtocolError(d.push(frames[0] ?? new Uint8Array(0)), 'MESSAGE_TOO_LARGE')
    // exactly maxMessage is fine
    const ok = feed(new MessageDecoder(limits), encodeMessage(pseudoRandom(1000, 4), 256))
    expect(ok.error).toBeUndefined()
    expect(ok.messages[0]?.length).toBe(1000)
  })

  it('refuses a whole-frame message above maxMessage', () => {
    const d = new MessageDecoder({ maxFrame: 1000, maxMessage: 10 })
    expectProtocolError(d.push(concatBytes(encodeMessage(new Uint8Array(11)))), 'MESSAGE_TOO_LARGE')
    const d2 = new MessageDecoder({ maxFrame: 1000, maxMessage: 10 })
    expect(d2.push(concatBytes(encodeMessage(new Uint8Array(10)))).ok).toBe(true)
  })

  it('refuses a first part with a truncated total', () => {
    expectProtocolError(new MessageDecoder(small).push(frame([1, 0x80])))
  })

  it('reports a stream that ends inside a frame or inside a split message', () => {
    const msg = pseudoRandom(500, 7)
    const stream = concatBytes(encodeMessage(msg, 64))
    for (let cut = 1; cut < stream.length; cut++) {
      const d = new MessageDecoder(small)
      const r = d.push(stream.subarray(0, cut))
      expect(r).toEqual({ ok: true, value: [] })
      expectProtocolError(d.end(), 'MALFORMED_MESSAGE', /stream ended inside a message/)
    }
    const d = new MessageDecoder(small)
    expect(d.push(stream)).toEqual({ ok: true, value: [msg] })
    expect(d.end()).toEqual({ ok: true, value: undefined })
    expect(new MessageDecoder(small).end().ok).toBe(true)
  })

  it('stays failed after an error, even when valid frames follow', () => {
    const d = new MessageDecoder(small)
    const first = expectProtocolError(d.push(Uint8Array.from([0])))
    const again = d.push(concatBytes(encodeMessage(Uint8Array.from([1]))))
    expect(again.ok).toBe(false)
    if (!again.ok) expect(again.error).toBe(first)
    const end = d.end()
    expect(end.ok).toBe(false)
    if (!end.ok) expect(end.error).toBe(first)
  })

  it('drops the whole push when an error follows good frames in the same chunk', () => {
    // documented behaviour: the stream is dead, so earlier messages in the chunk are not returned
    const d = new MessageDecoder(small)
    const r = d.push(concatBytes([...encodeMessage(Uint8Array.from([1])), Uint8Array.from([0])]))
    expectProtocolError(r, 'MALFORMED_MESSAGE')
  })
})

describe('MessageDecoder fuzzing', () => {
  const limitsArb = fc.record({
    maxFrame: fc.integer({ min: 1, max: 512 }),
    maxMessage: fc.integer({ min: 0, max: 4096 }),
  })

  it('never throws on arbitrary bytes in arbitrary pieces', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        limitsArb,
        (bytes, cuts, limits) => {
          const d = new MessageDecoder(limits)
          let out: Outcome = { messages: [], error: undefined }
          expect(() => {
            out = feed(d, split(bytes, cuts))
          }).not.toThrow()
          if (out.error !== undefined) expect(CODES).toContain(out.error.code)
          for (const m of out.messages) expect(m.length).toBeLessThanOrEqual(limits.maxMessage)
          const end = d.end()
          if (!end.ok) expect(CODES).toContain(end.error.code)
        },
      ),
      { seed: SEED, numRuns: 500 },
    )
  })

  type Mutation =
    | { kind: 'flip'; at: number; xor: number }
    | { kind: 'delete'; at: number }
    | { kind: 'insert'; at: number; byte: number }
    | { kind: 'truncate'; at: number }

  const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({
      kind: fc.constant('flip' as const),
      at: fc.nat(),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
    }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  )

  function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
    let b: Uint8Array = bytes.slice()
    for (const m of ms) {
      const at = b.length === 0 ? 0 : m.at % b.length
      if (m.kind === 'flip' && b.length > 0) b[at] = (b[at] ?? 0) ^ m.xor
      else if (m.kind === 'delete' && b.length > 0)
        b = concatBytes([b.subarray(0, at), b.subarray(at + 1)])
      else if (m.kind === 'insert')
        b = concatBytes([b.subarray(0, at), Uint8Array.from([m.byte]), b.subarray(at)])
      else if (m.kind === 'truncate') b = b.subarray(0, at)
    }
    return b
  }

  it('never throws on mutated valid streams, and stays within the limits', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 5 }),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, mutations, cuts) => {
          const limits = { maxFrame: 64, maxMessage: 300 }
          const stream = concatBytes(messages.flatMap((m) => encodeMessage(m, limits.maxFrame)))
          const bad = mutate(stream, mutations)
          const d = new MessageDecoder(limits)
          let out: Outcome = { messages: [], error: undefined }
          expect(() => {
            out = feed(d, split(bad, cuts))
          }).not.toThrow()
          if (out.error !== undefined) expect(CODES).toContain(out.error.code)
          for (const m of out.messages) expect(m.length).toBeLessThanOrEqual(limits.maxMessage)
          expect(() => d.end()).not.toThrow()
        },
      ),
      { seed: SEED, numRuns: 500 },
    )
  })
})
