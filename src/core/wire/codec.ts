/**
 * Bounds-checked binary reading and writing for Orrery's wire formats: unsigned LEB128 varints,
 * length-prefixed bytes and strings. The reader never throws: it records the first problem and
 * every later read returns a harmless default, so decoders check `r.error` once at the end.
 */
import { fromUtf8, utf8 } from '../bytes'

/** The bytes a shortest varint of `n` takes. */
export function varintLength(n: number): number {
  let bytes = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    bytes++
  }
  return bytes
}

/** A varint in its shortest form only (formats with one spelling per value, such as signed ones). */
export function readShortestVarint(r: Reader, max?: number): number {
  const before = r.remaining
  const n = r.varint(max)
  if (r.error === undefined && before - r.remaining !== varintLength(n))
    r.fail('a varint not in its shortest form')
  return n
}

export class Writer {
  private parts: Uint8Array[] = []
  private scratch: number[] = []
  private size = 0

  private flushScratch(): void {
    if (this.scratch.length === 0) return
    this.parts.push(Uint8Array.from(this.scratch))
    this.size += this.scratch.length
    this.scratch = []
  }

  u8(n: number): this {
    this.scratch.push(n & 0xff)
    return this
  }

  varint(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${n}`)
    while (n >= 0x80) {
      this.scratch.push((n % 0x80) | 0x80)
      n = Math.floor(n / 0x80)
    }
    this.scratch.push(n)
    return this
  }

  raw(b: Uint8Array): this {
    this.flushScratch()
    this.parts.push(b)
    this.size += b.length
    return this
  }

  bytes(b: Uint8Array): this {
    return this.varint(b.length).raw(b)
  }

  string(s: string): this {
    return this.bytes(utf8(s))
  }

  finish(): Uint8Array {
    this.flushScratch()
    if (this.parts.length === 1) return this.parts[0] as Uint8Array
    const out = new Uint8Array(this.size)
    let at = 0
    for (const p of this.parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

export class Reader {
  private at = 0
  error: string | undefined

  constructor(private readonly buf: Uint8Array) {}

  get remaining(): number {
    return this.buf.length - this.at
  }

  fail(why: string): void {
    this.error ??= why
  }

  u8(): number {
    if (this.error !== undefined) return 0
    if (this.at >= this.buf.length) {
      this.fail('truncated')
      return 0
    }
    return this.buf[this.at++] as number
  }

  varint(max = Number.MAX_SAFE_INTEGER): number {
    let result = 0
    let mul = 1
    for (let i = 0; i < 8; i++) {
      const b = this.u8()
      if (this.error !== undefined) return 0
      result += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (result > max) {
          this.fail(`number ${result} above limit ${max}`)
          return 0
        }
        return result
      }
      mul *= 0x80
    }
    this.fail('varint too long')
    return 0
  }

  raw(n: number): Uint8Array {
    if (this.error !== undefined) return new Uint8Array(0)
    if (n > this.remaining) {
      this.fail('truncated')
      return new Uint8Array(0)
    }
    const out = this.buf.subarray(this.at, this.at + n)
    this.at += n
    return out
  }

  bytes(maxLength: number): Uint8Array {
    const n = this.varint(maxLength)
    return this.raw(n)
  }

  string(maxLength: number): string {
    const b = this.bytes(maxLength)
    if (this.error !== undefined) return ''
    try {
      return fromUtf8(b)
    } catch {
      this.fail('invalid UTF-8')
      return ''
    }
  }

  rest(): Uint8Array {
    return this.raw(this.remaining)
  }

  /** Decoders call this last: trailing garbage is an error too. */
  end(): void {
    if (this.error === undefined && this.remaining !== 0)
      this.fail(`${this.remaining} trailing bytes`)
  }
}
