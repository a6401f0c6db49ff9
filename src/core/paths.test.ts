import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { InvalidPathError } from './errors'
import { docIdFromBytes, parseDocId } from './ids'
import { asIndex, formatPath, parsePath } from './paths'

const FC = { seed: 0x9a7, numRuns: 400 }
const fixedId = docIdFromBytes(new Uint8Array(16).fill(0xab))
if (!fixedId.ok) throw fixedId.error
const ID = fixedId.value

function parseError(path: string): InvalidPathError {
  try {
    parsePath(path)
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidPathError)
    expect((e as InvalidPathError).code).toBe('INVALID_PATH')
    return e as InvalidPathError
  }
  throw new Error(`expected ${JSON.stringify(path)} to be refused`)
}

const docIdArb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
  const id = docIdFromBytes(b)
  if (!id.ok) throw id.error
  return id.value
})

describe('parsePath', () => {
  it('uses a valid document id in these tests', () => {
    expect(parseDocId(ID).ok).toBe(true)
    expect(parseDocId(ID + 'x').ok).toBe(false)
  })

  it('parses a document and its keys', () => {
    expect(parsePath(`/${ID}`)).toEqual({ docId: ID, keys: [] })
    expect(parsePath(`/${ID}/`)).toEqual({ docId: ID, keys: [] })
    expect(parsePath(`/${ID}/a`)).toEqual({ docId: ID, keys: ['a'] })
    expect(parsePath(`/${ID}/a/b/0/-`)).toEqual({ docId: ID, keys: ['a', 'b', '0', '-'] })
    expect(parsePath(`/${ID}/ spaced key /ünï©ødé/😀`)).toEqual({
      docId: ID,
      keys: [' spaced key ', 'ünï©ødé', '😀'],
    })
  })

  it('unescapes ~1 to "/" and ~0 to "~" (RFC 6901, ~1 first)', () => {
    expect(parsePath(`/${ID}/a~1b`).keys).toEqual(['a/b'])
    expect(parsePath(`/${ID}/a~0b`).keys).toEqual(['a~b'])
    expect(parsePath(`/${ID}/~01`).keys).toEqual(['~1'])
    expect(parsePath(`/${ID}/~10`).keys).toEqual(['/0'])
    expect(parsePath(`/${ID}/~0~0/~1~1`).keys).toEqual(['~~', '//'])
    expect(parsePath(`/${ID}/~1`).keys).toEqual(['/'])
  })

  it('refuses paths that do not start with "/"', () => {
    for (const p of ['', ID, `${ID}/a`, ' /' + ID]) {
      expect(parseError(p).message).toMatch(/starts with "\/<docId>"/)
    }
    expect(parseError(undefined as unknown as string).message).toMatch(/starts with/)
    expect(parseError(42 as unknown as string).message).toMatch(/starts with/)
  })

  it('refuses an invalid document id', () => {
    const bad = [
      '/',
      '//a',
      '/abc',
      '/abc/def',
      `/${ID}x`, // 17 bytes
      '/0OIl0OIl0OIl0OIl0OIl', // not base58
      '/' + '1'.repeat(15),
      '/' + 'z'.repeat(30), // decodes to 22 bytes: no form of id
      `/${ID}~1a`,
    ]
    for (const p of bad) expect(parseError(p).message).toMatch(/not a document id/)
  })

  it('refuses empty keys', () => {
    for (const p of [`/${ID}//`, `/${ID}//a`, `/${ID}/a/`, `/${ID}/a//b`, `/${ID}/a/b/`]) {
      expect(parseError(p).message).toMatch(/empty key/)
    }
  })

  it('refuses bad "~" escapes', () => {
    for (const seg of ['~', 'a~', '~2', '~a', '~~', '~-', '~ 1', 'ok~0~', '~0~']) {
      expect(parseError(`/${ID}/${seg}`).message, seg).toMatch(/bad "~" escape/)
    }
    expect(parseError(`/${ID}/ok/~2/ok`).message).toMatch(/bad "~" escape in "~2"/)
  })

  it('allows 64 keys and refuses 65', () => {
    const keys = (n: number): string => Array.from({ length: n }, (_, i) => `k${i}`).join('/')
    expect(parsePath(`/${ID}/${keys(64)}`).keys).toHaveLength(64)
    expect(parseError(`/${ID}/${keys(65)}`).message).toMatch(/deeper than 64/)
  })

  it('refuses a trailing "/" after keys, even at the depth limit', () => {
    const keys = Array.from({ length: 64 }, (_, i) => `k${i}`).join('/')
    expect(() => parsePath(`/${ID}/${keys}/`)).toThrow(InvalidPathError)
  })

  it('limits keys to 1024 characters after unescaping', () => {
    expect(parsePath(`/${ID}/${'a'.repeat(1024)}`).keys[0]).toHaveLength(1024)
    expect(parseError(`/${ID}/${'a'.repeat(1025)}`).message).toMatch(/longer than 1024/)
    // 2048 characters of escapes unescape to 1024
    expect(parsePath(`/${ID}/${'~1'.repeat(1024)}`).keys[0]).toBe('/'.repeat(1024))
    expect(parseError(`/${ID}/${'~0'.repeat(1025)}`).message).toMatch(/longer than 1024/)
  })

  it('never throws anything but InvalidPathError', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), docIdArb, fc.boolean(), (tail, id, prefixed) => {
        const path = prefixed ? `/${id}${tail}` : tail
        let parsed: ReturnType<typeof parsePath> | undefined
        try {
          parsed = parsePath(path)
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidPathError)
        }
        if (parsed === undefined) return
        for (const k of parsed.keys) expect(k.length).toBeGreaterThan(0)
        expect(parsed.keys.length).toBeLessThanOrEqual(64)
        if (prefixed && (tail === '' || tail.startsWith('/'))) expect(parsed.docId).toBe(id)
      }),
      FC,
    )
  })
})

describe('formatPath', () => {
  it('escapes "~" and "/" and joins with "/"', () => {
    expect(formatPath(ID, [])).toBe(`/${ID}`)
    expect(formatPath(ID, ['a', 'b'])).toBe(`/${ID}/a/b`)
    expect(formatPath(ID, ['a/b', '~', '~1', 3, 0])).toBe(`/${ID}/a~1b/~0/~01/3/0`)
  })

  it('round-trips through parsePath for any non-empty keys', () => {
    const key = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
    const nasty = fc.stringMatching(/^[~/01a]{1,8}$/)
    fc.assert(
      fc.property(docIdArb, fc.array(fc.oneof(key, nasty), { maxLength: 64 }), (id, keys) => {
        const path = formatPath(id, keys)
        expect(parsePath(path)).toEqual({ docId: id, keys })
        // and formatting the parse gives the same text back
        expect(formatPath(id, parsePath(path).keys)).toBe(path)
      }),
      FC,
    )
  })

  it('formats numbers as their decimal text', () => {
    expect(parsePath(formatPath(ID, [0, 12, 'x'])).keys).toEqual(['0', '12', 'x'])
  })
})

describe('asIndex', () => {
  it('reads decimal list indexes without leading zeros', () => {
    expect(asIndex('0')).toBe(0)
    expect(asIndex('7')).toBe(7)
    expect(asIndex('10')).toBe(10)
    expect(asIndex('999999999')).toBe(999999999)
    for (const k of ['', '-', '-1', '01', '00', '1.5', '1e3', ' 1', '1 ', '+1', '0x1', 'a']) {
      expect(asIndex(k), k).toBeUndefined()
    }
    expect(asIndex('1000000000')).toBeUndefined() // more than 9 digits
  })

  it('agrees with String(n) for every index it accepts', () => {
    fc.assert(
      fc.property(fc.nat({ max: 999_999_999 }), (n) => {
        expect(asIndex(String(n))).toBe(n)
      }),
      FC,
    )
  })
})
