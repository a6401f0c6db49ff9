import { InvalidPathError } from './errors'
import { parseDocId, type DocId } from './ids'

/**
 * State paths: `/<docId>/a/b`. The first segment names the document, the rest are keys inside
 * it. Segments use JSON Pointer escaping (RFC 6901): `~1` for `/` and `~0` for `~`, so any string
 * can be a key. A segment of decimal digits addresses a list element when the parent is a list,
 * and `-` appends to a list.
 */
export interface StatePath {
  docId: DocId
  keys: string[]
}

const MAX_DEPTH = 64
const MAX_KEY_LENGTH = 1024

export function parsePath(path: string): StatePath {
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidPathError(`a path starts with "/<docId>", got ${JSON.stringify(path)}`)
  }
  const raw = path.slice(1).split('/')
  const first = raw.shift() ?? ''
  const doc = parseDocId(first)
  if (!doc.ok) throw new InvalidPathError(`${doc.error.message} (in path ${JSON.stringify(path)})`)
  if (raw.length === 1 && raw[0] === '') raw.pop() // "/<docId>/" is the document root
  if (raw.length > MAX_DEPTH) throw new InvalidPathError(`path deeper than ${MAX_DEPTH} keys`)
  const keys = raw.map((seg) => {
    if (seg === '') throw new InvalidPathError(`empty key in path ${JSON.stringify(path)}`)
    if (/~[^01]|~$/.test(seg))
      throw new InvalidPathError(`bad "~" escape in ${JSON.stringify(seg)}`)
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~')
    if (key.length > MAX_KEY_LENGTH) throw new InvalidPathError(`key longer than ${MAX_KEY_LENGTH}`)
    return key
  })
  return { docId: doc.value, keys }
}

export function formatPath(docId: DocId, keys: readonly (string | number)[]): string {
  const segs = keys.map((k) => String(k).replace(/~/g, '~0').replace(/\//g, '~1'))
  return '/' + [docId, ...segs].join('/')
}

/** A list index segment: digits without leading zeros. */
export function asIndex(key: string): number | undefined {
  return /^(0|[1-9][0-9]{0,8})$/.test(key) ? Number(key) : undefined
}
