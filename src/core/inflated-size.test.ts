import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { deflateRawSync } from 'node:zlib'
import { am } from './automerge'
import { documentColumns, inflatedSize, MAX_COLUMNS } from './inflated-size'

const MiB = 1024 * 1024

function uleb(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

/** A document chunk around `data` (checksum not filled in: nothing here reads it). */
const docChunk = (data: number[] | Uint8Array): Uint8Array =>
  new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 0, ...uleb(data.length), ...data])

/** One op column (actor type), deflated when `deflate`. */
function oneColumn(content: Uint8Array, deflate: boolean): Uint8Array {
  const col = deflate ? deflateRawSync(content) : content
  return docChunk([0, 0, 0, 1, deflate ? 0x09 : 0x01, ...uleb(col.length), ...col])
}

function savedDoc(keys: number): { saved: Uint8Array; plain: Uint8Array } {
  const d = am().create()
  for (let i = 0; i < keys; i++) d.put('_root', `key ${i}`, `value ${i % 17}`)
  d.commit()
  const out = { saved: d.save(), plain: d.saveNoCompress() }
  d.free()
  return out
}

describe('inflatedSize', () => {
  it('is what Automerge saves uncompressed, for documents with deflated columns', async () => {
    for (const keys of [1, 300, 1000]) {
      const { saved, plain } = savedDoc(keys)
      const size = await inflatedSize(saved, Infinity)
      expect(size.ok).toBe(true)
      // the same data; only the chunk's length prefix may differ by a byte or two
      if (size.ok) expect(Math.abs(size.value - plain.length)).toBeLessThanOrEqual(4)
      if (keys >= 300) expect(saved.length).toBeLessThan(plain.length)
    }
  })

  it('stops counting soon after the cap', async () => {
    const bomb = oneColumn(new Uint8Array(16 * MiB), true)
    expect(bomb.length).toBeLessThan(32 * 1024)
    for (const cap of [0, 1000, MiB]) {
      const size = await inflatedSize(bomb, cap)
      expect(size.ok && size.value > cap).toBe(true)
      expect(size.ok && size.value).toBeLessThan(cap + 2 * MiB)
    }
  })

  it('counts plain columns as they are and deflated ones as inflated', async () => {
    const content = new Uint8Array(5000).fill(7)
    const plain = oneColumn(content, false)
    const deflated = oneColumn(content, true)
    const a = await inflatedSize(plain, Infinity)
    const b = await inflatedSize(deflated, Infinity)
    expect(a).toEqual({ ok: true, value: plain.length })
    const cols = documentColumns(deflated)
    expect(cols.ok && cols.value.deflated.length).toBe(1)
    // the deflated chunk: its bytes, less the column as sent, plus the column inflated
    const sent = cols.ok ? (cols.value.deflated[0] as Uint8Array).length : 0
    expect(b).toEqual({ ok: true, value: deflated.length - sent + content.length })
  })

  it('returns an error, never throws, on malformed chunks', async () => {
    const { saved } = savedDoc(300)
    const bad = [
      new Uint8Array([0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 1, 0]), // a change chunk
      docChunk([5]), // five actors, none there
      docChunk([0, 3]), // three heads, none there
      docChunk([0, 0, 2, 1]), // a column table cut short
      docChunk([0, 0, 0, 1, 0x09, 10, 1, 2]), // column data cut short
      docChunk([0, 0, 0, 1, 0x09, 4, 0xff, 0xff, 0xff, 0xff]), // not DEFLATE
      // more columns than Automerge writes: each would be a count of its own
      docChunk([
        0,
        0,
        0,
        ...uleb(MAX_COLUMNS + 1),
        ...new Array<number>(MAX_COLUMNS + 1).fill(0).flatMap(() => [0x09, 2]),
        ...new Array<number>(MAX_COLUMNS + 1).fill(0).flatMap(() => [3, 0]),
      ]),
    ]
    for (const c of bad) {
      const r = await inflatedSize(c, Infinity)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.code).toBe('MALFORMED_MESSAGE')
    }
    let start = 9
    while ((saved[start] as number) & 0x80) start++
    start++ // past the length
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: start, max: saved.length - 1 }), async (cut) => {
        // a real document cut short, re-framed with its new length
        const data = saved.subarray(start, cut)
        const r = await inflatedSize(docChunk(data), 64 * MiB)
        return r.ok || r.error.code === 'MALFORMED_MESSAGE'
      }),
      { seed: 12, numRuns: 100 },
    )
  })
})
