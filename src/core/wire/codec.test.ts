import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Reader, Writer } from './codec'

const FC = { seed: 0x0c0dec, numRuns: 300 }

type Field =
  | { kind: 'u8'; v: number }
  | { kind: 'varint'; v: number }
  | { kind: 'bytes'; v: Uint8Array }
  | { kind: 'string'; v: string }
  | { kind: 'raw'; v: Uint8Array }

const fieldArb: fc.Arbitrary<Field> = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((v): Field => ({ kind: 'u8', v })),
  fc
    .oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.integer({ min: 0, max: 2 ** 32 }),
      fc.maxSafeNat(),
      fc.constantFrom(0, 127, 128, 16383, 16384, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER),
    )
    .map((v): Field => ({ kind: 'varint', v })),
  fc.uint8Array({ maxLength: 300 }).map((v): Field => ({ kind: 'bytes', v })),
  fc.string({ unit: 'grapheme', maxLength: 40 }).map((v): Field => ({ kind: 'string', v })),
  fc.uint8Array({ minLength: 0, maxLength: 20 }).map((v): Field => ({ kind: 'raw', v })),
)

function write(fields: readonly Field[]): Uint8Array {
  const w = new Writer()
  for (const f of fields) {
    switch (f.kind) {
      case 'u8':
        w.u8(f.v)
        break
      case 'varint':
        w.varint(f.v)
        break
      case 'bytes':
        w.bytes(f.v)
        break
      case 'string':
        w.string(f.v)
        break
      case 'raw':
        w.raw(f.v)
        break
    }
  }
  return w.finish()
}

/** Reads the fields back in order; returns what was read (the reader keeps its error). */
function read(r: Reader, fields: readonly Field[]): Field[] {
  return fields.map((f): Field => {
    switch (f.kind) {
      case 'u8':
        return { kind: 'u8', v: r.u8() }
      case 'varint':
        return { kind: 'varint', v: r.varint() }
      case 'bytes':
        return { kind: 'bytes', v: r.bytes(1 << 20) }
      case 'string':
        return { kind: 'string', v: r.string(1 << 20) }
      case 'raw':
        return { kind: 'raw', v: r.raw(f.v.length) }
    }
  })
}

const varintBytes = (n: number): Uint8Array => new Writer().varint(n).finish()

describe('Writer', () => {
  it('encodes varints as unsigned LEB128', () => {
    expect([...varintBytes(0)]).toEqual([0])
    expect([...varintBytes(1)]).toEqual([1])
    expect([...varintBytes(127)]).toEqual([0x7f])
    expect([...varintBytes(128)]).toEqual([0x80, 0x01])
    expect([...varintBytes(300)]).toEqual([0xac, 0x02])
    expect([...varintBytes(16384)]).toEqual([0x80, 0x80, 0x01])
    expect([...varintBytes(2 ** 32)]).toEqual([0x80, 0x80, 0x80, 0x80, 0x10])
    // the largest safe integer still fits in the 8 bytes the reader accepts
    expect(varintBytes(Number.MAX_SAFE_INTEGER).length).toBe(8)
  })

  it('refuses varints that are negative, fractional or unsafe', () => {
    const w = new Writer()
    expect(() => w.varint(-1)).toThrow(RangeError)
    expect(() => w.varint(1.5)).toThrow(RangeError)
    expect(() => w.varint(Number.NaN)).toThrow(RangeError)
    expect(() => w.varint(Infinity)).toThrow(RangeError)
    expect(() => w.varint(Number.MAX_SAFE_INTEGER + 1)).toThrow(RangeError)
    expect(w.finish().length).toBe(0)
  })

  it('keeps u8, varint and raw parts in the order they were written', () => {
    const out = new Writer()
      .u8(1)
      .raw(new Uint8Array([2, 3]))
      .u8(4)
      .varint(300)
      .raw(new Uint8Array([5]))
      .bytes(new Uint8Array([6, 7]))
      .string('hé')
      .u8(0x1ff) // masked to one byte
      .finish()
    expect([...out]).toEqual([1, 2, 3, 4, 0xac, 0x02, 5, 2, 6, 7, 3, 0x68, 0xc3, 0xa9, 0xff])
  })

  it('finishes an empty writer as zero bytes', () => {
    expect(new Writer().finish()).toEqual(new Uint8Array(0))
  })

  it('writes lengths before bytes and strings (UTF-8 byte length, not UTF-16 length)', () => {
    const s = '€😀'
    const out = new Writer().string(s).finish()
    expect(out[0]).toBe(7) // 3 + 4 bytes
    expect(out.length).toBe(8)
  })
})

describe('Reader', () => {
  it('round-trips any sequence of fields', () => {
    fc.assert(
      fc.property(fc.array(fieldArb, { maxLength: 12 }), (fields) => {
        const buf = write(fields)
        const r = new Reader(buf)
        const back = read(r, fields)
        r.end()
        expect(r.error).toBeUndefined()
        expect(r.remaining).toBe(0)
        expect(back).toEqual(fields)
      }),
      FC,
    )
  })

  it('round-trips every safe non-negative integer as a varint', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const r = new Reader(varintBytes(n))
        expect(r.varint()).toBe(n)
        r.end()
        expect(r.error).toBeUndefined()
      }),
      FC,
    )
  })

  it('reports truncation at every cut point instead of throwing', () => {
    fc.assert(
      fc.property(
        fc.array(fieldArb, { minLength: 1, maxLength: 8 }),
        fc.nat(),
        (fields, cutSeed) => {
          const buf = write(fields)
          fc.pre(buf.length > 0)
          const cut = cutSeed % buf.length // strictly shorter than the whole
          const r = new Reader(buf.subarray(0, cut))
          let back: Field[] = []
          expect(() => {
            back = read(r, fields)
          }).not.toThrow()
          r.end()
          // reads follow the encoding exactly, so the first read that needs bytes past the cut
          // records the error
          expect(r.error).toBe('truncated')
          expect(back.length).toBe(fields.length)
        },
      ),
      FC,
    )
  })

  it('reports truncation for every prefix of a fixed message', () => {
    const fields: Field[] = [
      { kind: 'u8', v: 9 },
      { kind: 'varint', v: 2 ** 40 },
      { kind: 'bytes', v: new Uint8Array(200).fill(1) },
      { kind: 'string', v: 'grüße 😀' },
      { kind: 'raw', v: new Uint8Array([1, 2, 3]) },
    ]
    const buf = write(fields)
    for (let cut = 0; cut < buf.length; cut++) {
      const r = new Reader(buf.subarray(0, cut))
      read(r, fields)
      r.end()
      expect(r.error, `cut at ${cut}`).toBe('truncated')
    }
    const r = new Reader(buf)
    read(r, fields)
    r.end()
    expect(r.error).toBeUndefined()
  })

  it('returns harmless defaults after the first error and keeps the first message', () => {
    const r = new Reader(new Uint8Array([5]))
    expect(r.varint(3)).toBe(0)
    expect(r.error).toBe('number 5 above limit 3')
    expect(r.u8()).toBe(0)
    expect(r.varint()).toBe(0)
    expect(r.raw(1)).toEqual(new Uint8Array(0))
    expect(r.bytes(10)).toEqual(new Uint8Array(0))
    expect(r.string(10)).toBe('')
    expect(r.rest()).toEqual(new Uint8Array(0))
    r.fail('another problem')
    r.end()
    expect(r.error).toBe('number 5 above limit 3')
  })

  it('rejects lengths above the max argument before reading the bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        fc.nat({ max: 199 }),
        (data, maxSeed) => {
          const max = maxSeed % data.length // max < data.length
          const buf = new Writer().bytes(data).u8(7).finish()
          const r1 = new Reader(buf)
          expect(r1.bytes(max)).toEqual(new Uint8Array(0))
          expect(r1.error).toBe(`number ${data.length} above limit ${max}`)
          const r2 = new Reader(buf)
          expect(r2.bytes(data.length)).toEqual(data)
          expect(r2.u8()).toBe(7)
          expect(r2.error).toBeUndefined()
        },
      ),
      FC,
    )
  })

  it('applies the max argument to strings by UTF-8 byte length', () => {
    const buf = new Writer().string('ééé').finish() // 6 bytes, 3 characters
    const r = new Reader(buf)
    expect(r.string(5)).toBe('')
    expect(r.error).toMatch(/above limit 5/)
    expect(new Reader(buf).string(6)).toBe('ééé')
  })

  it('rejects a huge length without allocating (truncated, not a crash)', () => {
    const buf = new Writer().varint(Number.MAX_SAFE_INTEGER).u8(1).finish()
    const r = new Reader(buf)
    expect(r.bytes(Number.MAX_SAFE_INTEGER)).toEqual(new Uint8Array(0))
    expect(r.error).toBe('truncated')
  })

  it('reports invalid UTF-8 in strings', () => {
    const bad: number[][] = [
      [0xff],
      [0xc3], // lead byte without continuation
      [0x80], // lone continuation byte
      [0xc0, 0xaf], // overlong "/"
      [0xed, 0xa0, 0x80], // UTF-16 surrogate
      [0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
      [0x61, 0xe2, 0x82], // truncated "€"
    ]
    for (const b of bad) {
      const buf = new Writer().bytes(Uint8Array.from(b)).finish()
      const r = new Reader(buf)
      expect(r.string(100)).toBe('')
      expect(r.error, JSON.stringify(b)).toBe('invalid UTF-8')
    }
  })

  it('never throws on arbitrary bytes, whatever is read', () => {
    const op = fc.constantFrom('u8', 'varint', 'bytes', 'string', 'raw', 'rest', 'end')
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(op, { maxLength: 10 }), (buf, ops) => {
        const r = new Reader(buf)
        expect(() => {
          for (const o of ops) {
            if (o === 'u8') r.u8()
            else if (o === 'varint') r.varint(1000)
            else if (o === 'bytes') r.bytes(16)
            else if (o === 'string') r.string(16)
            else if (o === 'raw') r.raw(3)
            else if (o === 'rest') r.rest()
            else r.end()
          }
        }).not.toThrow()
        expect(r.remaining).toBeGreaterThanOrEqual(0)
        expect(r.remaining).toBeLessThanOrEqual(buf.length)
      }),
      FC,
    )
  })

  it('reports trailing bytes at end()', () => {
    const r = new Reader(new Uint8Array([1, 2, 3, 4]))
    expect(r.u8()).toBe(1)
    r.end()
    expect(r.error).toBe('3 trailing bytes')
    const r2 = new Reader(new Uint8Array([1]))
    r2.u8()
    r2.end()
    expect(r2.error).toBeUndefined()
  })

  it('accepts varints of at most 8 bytes', () => {
    const eight = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])
    const r = new Reader(eight)
    expect(r.varint()).toBe(2 ** 53 - 1)
    expect(r.error).toBeUndefined()

    const nine = new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
    const r2 = new Reader(nine)
    expect(r2.varint()).toBe(0)
    expect(r2.error).toBe('varint too long')
  })

  it('rejects an 8-byte varint above the safe integer range by default', () => {
    const big = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f])
    const r = new Reader(big)
    expect(r.varint()).toBe(0)
    expect(r.error).toMatch(/above limit 9007199254740991/)
  })

  it('rest() takes everything left and raw() returns views of the input', () => {
    const buf = new Uint8Array([1, 2, 3, 4, 5])
    const r = new Reader(buf)
    r.u8()
    const rest = r.rest()
    expect([...rest]).toEqual([2, 3, 4, 5])
    expect(r.remaining).toBe(0)
    expect(rest.buffer).toBe(buf.buffer)
    r.end()
    expect(r.error).toBeUndefined()
  })
})
