import { InvalidValueError } from './errors'

/** The values the state API stores: JSON. */
export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }

const MAX_VALUE_DEPTH = 64

export interface ValueInfo {
  /** true when some number can only be stored exactly as a float (Automerge ints are 64-bit). */
  hasUnsafeIntegers: boolean
}

/** Checks that `value` is plain JSON; throws InvalidValueError naming the offending place. */
export function checkJson(value: unknown, where = 'value'): ValueInfo {
  const info: ValueInfo = { hasUnsafeIntegers: false }
  const seen = new Set<object>()
  const walk = (v: unknown, at: string, depth: number): void => {
    if (depth > MAX_VALUE_DEPTH)
      throw new InvalidValueError(`${at}: nested deeper than ${MAX_VALUE_DEPTH}`)
    if (v === null || typeof v === 'boolean' || typeof v === 'string') return
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new InvalidValueError(`${at}: ${v} is not a JSON number`)
      if (Number.isInteger(v) && !Number.isSafeInteger(v)) info.hasUnsafeIntegers = true
      return
    }
    if (typeof v !== 'object') throw new InvalidValueError(`${at}: a ${typeof v} is not JSON`)
    if (seen.has(v)) throw new InvalidValueError(`${at}: circular reference`)
    seen.add(v)
    if (Array.isArray(v)) {
      // an index loop, not forEach: a hole in a sparse array is undefined, which JSON has not
      for (let i = 0; i < v.length; i++) walk(v[i] as unknown, `${at}[${i}]`, depth + 1)
    } else {
      const proto = Object.getPrototypeOf(v) as unknown
      if (proto !== Object.prototype && proto !== null) {
        throw new InvalidValueError(`${at}: only plain objects are JSON (got ${describe(v)})`)
      }
      for (const [k, item] of Object.entries(v)) {
        if (k === '') throw new InvalidValueError(`${at}: empty keys are not addressable`)
        walk(item, `${at}.${k}`, depth + 1)
      }
    }
    seen.delete(v)
  }
  walk(value, where, 0)
  return info
}

function describe(v: object): string {
  const name = (v as { constructor?: { name?: string } }).constructor?.name
  return name ?? 'object'
}

/** Scalars read back from Automerge, turned into JSON-friendly values. */
export function fromAutomergeScalar(datatype: string, v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (datatype === 'counter' && typeof v === 'number') return v
  return v
}

/** Deep conversion of a materialised Automerge value (bigint ints become numbers). */
export function normalizeMaterialized(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v)
  if (v === null || typeof v !== 'object') return v
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const item: unknown = v[i]
      if (typeof item === 'bigint' || (item !== null && typeof item === 'object'))
        v[i] = normalizeMaterialized(item)
    }
    return v
  }
  if (v instanceof Uint8Array || v instanceof Date) return v
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o)) {
    const item = o[k]
    if (typeof item === 'bigint' || (item !== null && typeof item === 'object'))
      o[k] = normalizeMaterialized(item)
  }
  return o
}
