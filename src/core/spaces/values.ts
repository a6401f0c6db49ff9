/** Small checks shared by the spaces modules. None of them throws. */
import { didKeyFromPublicKey, publicKeyFromDidKey } from '../identity'

export const MAX_SPACE_NAME_LENGTH = 100
export const MAX_MEMBER_NAME_LENGTH = 100

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

/** A readable, bounded rendering of any value for error messages. */
export function show(v: unknown): string {
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, 80)
  } catch {
    return '(unprintable)'
  }
}

/** A canonical Ed25519 did:key (the only kind of identity Orrery has). */
export function isDid(v: unknown): v is string {
  if (typeof v !== 'string' || v.length > 100) return false
  const key = publicKeyFromDidKey(v)
  return key.ok && didKeyFromPublicKey(key.value) === v
}

/** An Automerge actor id: lowercase hex, even length, at most 64 bytes. */
export function isActor(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 128 && /^([0-9a-f]{2})+$/.test(v)
}

export const isTime = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

export const isSeq = (v: unknown): v is number =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Non-empty, bounded, no control characters or broken Unicode. */
export function isLabel(v: unknown, max: number): v is string {
  return (
    typeof v === 'string' &&
    v.trim().length > 0 &&
    v.length <= max &&
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u001f\u007f]|\p{Cs}/u.test(v)
  )
}

/** A patch path as a JSON Pointer (`~1` for `/`, `~0` for `~`), for error messages. */
export function pointer(path: readonly (string | number)[]): string {
  return '/' + path.map((k) => String(k).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')
}
