import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib'
import { countInflated, countInflatedSync } from './deflate-count'

const MiB = 1024 * 1024

/** What zlib inflates `data` to, or undefined where zlib refuses it. */
function zlibLength(data: Uint8Array): number | undefined {
  try {
    return inflateRawSync(data).length
  } catch {
    return undefined
  }
}

const strategies = [
  { level: 0 }, // stored blocks
  { level: 1 },
  { level: 9 },
  { level: 6, strategy: constants.Z_FIXED },
  { level: 6, strategy: constants.Z_HUFFMAN_ONLY },
  { level: 6, strategy: constants.Z_RLE },
]

/** Bytes with some repetition, so matches of every length and distance show up. */
const content = fc
  .array(
    fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc
        .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 2000 }))
        .map(([b, n]) => new Uint8Array(n).fill(b)),
      fc.constantFrom(new TextEncoder().encode('key value key value '.repeat(20))),
    ),
    { maxLength: 40 },
  )
  .map((parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
    let at = 0
    for (const p of parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  })

describe('countInflated', () => {
  it('counts exactly what zlib inflates, for every block type and strategy', () => {
    fc.assert(
      fc.property(content, fc.constantFrom(...strategies), (data, options) => {
        const deflated = deflateRawSync(data, options)
        expect(countInflatedSync(deflated)).toBe(data.length)
      }),
      { numRuns: 500 },
    )
  })

  it('agrees with zlib on corrupted data: the same length where zlib inflates it', () => {
    let refusedByBoth = 0
    fc.assert(
      fc.property(
        content,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.nat(),
        fc.boolean(),
        (data, flips, cut, truncate) => {
          const bytes = new Uint8Array(deflateRawSync(data))
          for (const [at, bit] of flips) bytes[at % bytes.length]! ^= 1 << bit
          const input = truncate ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes
          const z = zlibLength(input)
          const ours = countInflatedSync(input)
          if (z === undefined) {
            refusedByBoth += ours === undefined ? 1 : 0
            // zlib may refuse for a reason ours does not see only when the data is cut short
            // (zlib wants the end-of-block of the final block); anything ours accepts is a length
            // no inflater would exceed
            if (ours !== undefined) expect(truncate).toBe(true)
          } else expect(ours).toBe(z)
        },
      ),
      { numRuns: 2000 },
    )
    expect(refusedByBoth).toBeGreaterThan(100)
  })

  it('refuses what is not DEFLATE: an invalid block type, a bad stored length, a far distance', () => {
    expect(countInflatedSync(new Uint8Array([0x07]))).toBeUndefined() // final, type 3
    // stored block whose length and its complement disagree
    expect(countInflatedSync(new Uint8Array([0x01, 5, 0, 0, 0, 1, 2, 3, 4, 5]))).toBeUndefined()
    // fixed block: literal 'a' then a match at distance 2, with one byte of output
    const farBack = new Uint8Array(deflateRawSync(Buffer.from('ab'.repeat(20)), { level: 9 }))
    expect(countInflatedSync(farBack)).toBe(40)
    expect(countInflatedSync(new Uint8Array(0))).toBeUndefined()
  })

  it('counts a bomb to its cap in milliseconds and without making its output', async () => {
    const bomb = deflateRawSync(new Uint8Array(256 * MiB))
    expect(bomb.length).toBeLessThan(300 * 1024)
    const before = process.memoryUsage()
    const full = countInflatedSync(bomb)
    expect(full).toBe(256 * MiB)
    for (const cap of [0, 1000, 64 * MiB]) {
      const n = await countInflated(bomb, cap)
      expect(n).toBeGreaterThan(cap)
      expect(n).toBeLessThanOrEqual(cap + 258)
    }
    const after = process.memoryUsage()
    // nothing near the 256 MiB it stands for: neither on the heap nor outside it
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(4 * MiB)
    expect(after.heapUsed - before.heapUsed).toBeLessThan(16 * MiB)
  })

  it('yields to the event loop while counting a large document', async () => {
    const data = new Uint8Array(4 * MiB)
    // 16 letters at random: Huffman-coded at about 4 bits each, hardly a match
    const noise = randomBytes(data.length)
    for (let i = 0; i < data.length; i++) data[i] = 97 + ((noise[i] as number) & 15)
    const deflated = deflateRawSync(data, { level: 1 })
    let ticks = 0
    const timer = setInterval(() => ticks++, 0)
    const n = await countInflated(deflated, Infinity)
    clearInterval(timer)
    expect(n).toBe(data.length)
    expect(deflated.length).toBeGreaterThan(data.length / 3) // Huffman-coded, not matched away
    expect(ticks).toBeGreaterThan(0)
  })
})
