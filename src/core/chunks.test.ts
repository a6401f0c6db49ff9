import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { am } from './automerge'
import { concatBytes, sha256 } from './bytes'
import { ProtocolError } from './errors'
import {
  CHANGE_CHUNK,
  changeHash,
  changeHeader,
  chunkProblem,
  COMPRESSED_CHANGE_CHUNK,
  DOCUMENT_CHUNK,
  splitChunks,
} from './chunks'

const FC = { seed: 0xc4c, numRuns: 300 }
const TYPE_AT = 8

function realDoc(): { change: Uint8Array; changes: Uint8Array[]; saved: Uint8Array } {
  const d = am().create({ actor: 'aa'.repeat(16) })
  d.put('_root', 'k', 'v')
  d.commit(undefined, 0)
  const change = d.getLastLocalChange()
  if (change === null) throw new Error('no change')
  const list = d.putObject('_root', 'list', [1, 2, 3])
  d.insert(list, 0, 'x'.repeat(400))
  d.commit(undefined, 0)
  return { change, changes: d.getChanges([]), saved: d.save() }
}

const { change, changes, saved } = realDoc()

/** A well-framed chunk with the given type and body, checksum included. */
function framed(type: number, data: Uint8Array): Uint8Array {
  const body = new Uint8Array([type, ...lengthBytes(data.length), ...data])
  const sum = sha256(body)
  return new Uint8Array([0x85, 0x6f, 0x4a, 0x83, ...sum.subarray(0, 4), ...body])
}

function lengthBytes(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

describe('chunkProblem on real Automerge data', () => {
  it('accepts a change chunk, a saved document and several chunks back to back', () => {
    expect(change[TYPE_AT]).toBe(CHANGE_CHUNK)
    expect(saved[TYPE_AT]).toBe(DOCUMENT_CHUNK)
    expect(chunkProblem(change)).toBeUndefined()
    expect(chunkProblem(saved)).toBeUndefined()
    expect(changes).toHaveLength(2)
    for (const c of changes) expect(chunkProblem(c)).toBeUndefined()
    const all = concatBytes([saved, ...changes])
    expect(chunkProblem(all)).toBeUndefined()
    const split = splitChunks(all)
    expect(split.ok).toBe(true)
    if (split.ok) expect(split.value).toEqual([saved, ...changes])
    // and Automerge agrees that these bytes are a document
    expect(am().load(all).get('_root', 'k')).toBe('v')
  })

  it('accepts incremental saves', () => {
    const d = am().create()
    for (let i = 0; i < 3; i++) {
      d.put('_root', `k${i}`, i)
      d.commit()
      const inc = d.saveIncremental()
      expect(chunkProblem(inc)).toBeUndefined()
    }
  })

  it('detects every single-byte change of a change chunk', () => {
    let checked = 0
    for (let i = 0; i < change.length; i++) {
      for (let x = 1; x < 256; x++) {
        const b = change.slice()
        b[i] = (change[i] ?? 0) ^ x
        // Known gap: a change chunk relabelled as compressed has no checksum chunkProblem can
        // check cheaply (it covers the inflated data); Automerge refuses it when applied (below).
        if (i === TYPE_AT && b[i] === COMPRESSED_CHANGE_CHUNK) continue
        expect(chunkProblem(b), `byte ${i} ^ ${x}`).toBeDefined()
        checked++
      }
    }
    expect(checked).toBe(change.length * 255 - 1)
  })

  it('detects every single-bit flip of a change chunk and of a saved document', () => {
    for (const chunk of [change, saved, changes[1] ?? new Uint8Array(0)]) {
      for (let bit = 0; bit < chunk.length * 8; bit++) {
        const b = chunk.slice()
        b[bit >> 3] = (b[bit >> 3] ?? 0) ^ (1 << (bit & 7))
        // (the same known gap: a document chunk, type 0, relabelled as compressed, type 2)
        if (bit >> 3 === TYPE_AT && b[TYPE_AT] === COMPRESSED_CHANGE_CHUNK) continue
        expect(chunkProblem(b), `bit ${bit}`).toBeDefined()
      }
    }
  })

  it('leaves a chunk relabelled as compressed to Automerge, which refuses it', () => {
    const b = change.slice()
    b[TYPE_AT] = COMPRESSED_CHANGE_CHUNK
    expect(() => am().create().applyChanges([b])).toThrow()
    expect(() => am().create().loadIncremental(b)).toThrow()
    const s = saved.slice()
    s[TYPE_AT] = COMPRESSED_CHANGE_CHUNK
    expect(() => am().load(s)).toThrow()
    expect(() => am().create().loadIncremental(s)).toThrow()
  })

  it('detects truncation at every length, and trailing bytes', () => {
    for (const chunk of [change, saved]) {
      for (let n = 0; n < chunk.length; n++) {
        expect(chunkProblem(chunk.subarray(0, n)), `length ${n}`).toBeDefined()
      }
    }
    expect(chunkProblem(new Uint8Array(0))).toBe('empty change')
    expect(chunkProblem(change.subarray(0, 9))).toBe('chunk too short')
    expect(chunkProblem(change.subarray(0, change.length - 1))).toMatch(/is truncated/)
    // a valid chunk followed by part of another
    expect(chunkProblem(concatBytes([change, change.subarray(0, 20)]))).toMatch(/truncated/)
    expect(chunkProblem(concatBytes([change, Uint8Array.of(0)]))).toBe('chunk too short')
    expect(chunkProblem(concatBytes([change, new Uint8Array(12)]))).toMatch(/magic bytes/)
  })

  it('detects garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        expect(chunkProblem(bytes)).toBeDefined()
      }),
      FC,
    )
    // garbage behind the right magic bytes: the checksum catches it
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ maxLength: 100 }),
        (type, sum, data) => {
          const good = framed(type, data)
          fc.pre(!sum.every((v, i) => v === good[4 + i]))
          const bad = good.slice()
          bad.set(sum, 4)
          expect(chunkProblem(bad)).toBe('chunk checksum does not match')
        },
      ),
      FC,
    )
  })
})

describe('chunkProblem on hand-made chunks', () => {
  it('accepts any correctly framed document or change chunk (the inside is left to Automerge)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom(DOCUMENT_CHUNK, CHANGE_CHUNK),
            fc.uint8Array({ maxLength: 300 }),
          ),
          { minLength: 1, maxLength: 4 },
        ),
        (parts) => {
          const chunks = parts.map(([t, d]) => framed(t, d))
          const r = splitChunks(concatBytes(chunks))
          expect(r).toEqual({ ok: true, value: chunks })
        },
      ),
      FC,
    )
  })

  it('names unknown chunk types', () => {
    for (const t of [3, 4, 0x80, 0xff]) {
      expect(chunkProblem(framed(t, new Uint8Array(5)))).toBe(`unknown chunk type ${t}`)
    }
  })

  it('refuses a length of more than 8 varint bytes or one running off the end', () => {
    const header = [0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, CHANGE_CHUNK]
    const long = Uint8Array.from([...header, ...new Array<number>(9).fill(0x80), 0])
    expect(chunkProblem(long)).toBe('bad chunk length')
    const open = Uint8Array.from([...header, 0x80])
    expect(chunkProblem(open)).toBe('bad chunk length')
    const huge = Uint8Array.from([...header, 0xff, 0xff, 0xff, 0xff, 0x0f])
    expect(chunkProblem(huge)).toMatch(/chunk of \d+ bytes is truncated/)
  })

  it('hashes an uncompressed change chunk as Automerge does, and nothing else', () => {
    for (const c of [change, ...changes]) expect(changeHash(c)).toBe(am().decodeChange(c).hash)
    // the same change compressed (type 2): its bytes do not hash to its change hash
    const compressed = Uint8Array.from(change)
    compressed[TYPE_AT] = COMPRESSED_CHANGE_CHUNK
    expect(changeHash(compressed)).toBeUndefined()
    expect(changeHash(saved)).toBeUndefined()
  })

  it('answers bad framing with a typed error (a ProtocolError with a code), not a bare string', () => {
    for (const bytes of [new Uint8Array(0), new Uint8Array(12), framed(3, new Uint8Array(5))]) {
      const r = splitChunks(bytes)
      expect(r.ok).toBe(false)
      if (r.ok) continue
      expect(r.error).toBeInstanceOf(ProtocolError)
      expect(r.error.name).toBe('ProtocolError')
      expect(r.error.code).toBe('MALFORMED_MESSAGE')
    }
  })
})

describe('changeHeader', () => {
  it('reads what decodeChange reads of dependencies and actor, from the header alone', () => {
    const d = am().create()
    for (let i = 0; i < 3; i++) {
      d.put('_root', `k${i}`, i)
      d.commit()
    }
    const other = d.fork()
    other.put('_root', 'x', 1)
    other.commit()
    d.applyChanges(other.getChanges(d.getHeads()))
    d.put('_root', 'merge', true)
    d.commit()
    for (const c of d.getChanges([])) {
      const decoded = am().decodeChange(c)
      expect(changeHeader(c)).toEqual({ deps: decoded.deps, actor: decoded.actor })
    }
  })

  it('is undefined for anything but a whole change chunk', () => {
    const d = am().create()
    d.put('_root', 'a', 1)
    d.commit()
    const [change] = d.getChanges([])
    expect(changeHeader(d.save())).toBeUndefined()
    expect(changeHeader(change!.subarray(0, 12))).toBeUndefined()
    expect(changeHeader(new Uint8Array(0))).toBeUndefined()
  })
})
