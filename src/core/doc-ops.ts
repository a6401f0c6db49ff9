/**
 * Reading and writing JSON values at key paths of a low-level Automerge document. Writes go into
 * the document's open transaction; the caller decides when to commit (see DocHandle).
 */
import type { AutomergeDoc } from './automerge'
import { PathConflictError, InvalidPathError } from './errors'
import { asIndex } from './paths'
import { checkJson, fromAutomergeScalar, normalizeMaterialized, type JsonValue } from './values'

type ObjKind = 'map' | 'list' | 'text'
interface Obj {
  id: string
  kind: ObjKind
}
const ROOT: Obj = { id: '_root', kind: 'map' }

type Found =
  { kind: 'obj'; obj: Obj } | { kind: 'scalar'; datatype: string; value: unknown } | undefined

function child(doc: AutomergeDoc, parent: Obj, key: string): Found {
  let prop: string | number = key
  if (parent.kind === 'list') {
    const i = asIndex(key)
    if (i === undefined || i >= doc.length(parent.id)) return undefined
    prop = i
  } else if (parent.kind === 'text') {
    return undefined
  }
  const got = doc.getWithType(parent.id, prop)
  if (got === null || got === undefined) return undefined
  const [datatype, value] = got as [string, unknown]
  if (datatype === 'map' || datatype === 'list' || datatype === 'text') {
    return { kind: 'obj', obj: { id: value as string, kind: datatype } }
  }
  return { kind: 'scalar', datatype, value }
}

function materialize(doc: AutomergeDoc, obj: Obj): unknown {
  if (obj.kind === 'text') return doc.text(obj.id)
  return normalizeMaterialized(doc.materialize(obj.id))
}

export function readAt(doc: AutomergeDoc, keys: readonly string[]): unknown {
  let cur: Obj = ROOT
  for (let i = 0; i < keys.length; i++) {
    const found = child(doc, cur, keys[i] as string)
    if (found === undefined) return undefined
    if (found.kind === 'scalar') {
      return i === keys.length - 1 ? fromAutomergeScalar(found.datatype, found.value) : undefined
    }
    cur = found.obj
  }
  return materialize(doc, cur)
}

/** Walks to the parent of the last key, creating maps on the way; conflicts throw. */
function parentFor(doc: AutomergeDoc, keys: readonly string[]): Obj {
  let cur: Obj = ROOT
  for (let i = 0; i < keys.length - 1; i++) {
    const key = keys[i] as string
    const found = child(doc, cur, key)
    if (found === undefined) {
      if (cur.kind !== 'map') {
        throw new PathConflictError(
          `"${key}" is not an element of the list at /${keys.slice(0, i).join('/')}`,
        )
      }
      cur = { id: doc.putObject(cur.id, key, {}), kind: 'map' }
    } else if (found.kind === 'scalar' || found.obj.kind === 'text') {
      throw new PathConflictError(`/${keys.slice(0, i + 1).join('/')} holds a value, not an object`)
    } else {
      cur = found.obj
    }
  }
  return cur
}

function datatypeOf(v: number): 'int' | 'f64' {
  return Number.isSafeInteger(v) ? 'int' : 'f64'
}

function putValue(
  doc: AutomergeDoc,
  obj: Obj,
  prop: string | number,
  value: JsonValue,
  insert: boolean,
  exact: boolean,
): void {
  if (value !== null && typeof value === 'object') {
    if (exact) {
      // Nested unsafe integers must be written as floats one by one (putObject would store them
      // as 64-bit ints and overflow); rare, so the slow path is fine.
      const empty = Array.isArray(value) ? [] : {}
      const id = insert
        ? doc.insertObject(obj.id, prop as number, empty)
        : doc.putObject(obj.id, prop, empty)
      const inner: Obj = { id, kind: Array.isArray(value) ? 'list' : 'map' }
      if (Array.isArray(value)) value.forEach((v, i) => putValue(doc, inner, i, v, true, true))
      else for (const [k, v] of Object.entries(value)) putValue(doc, inner, k, v, false, true)
      return
    }
    if (insert) doc.insertObject(obj.id, prop as number, value as never)
    else doc.putObject(obj.id, prop, value as never)
    return
  }
  const datatype = typeof value === 'number' ? datatypeOf(value) : undefined
  if (insert) doc.insert(obj.id, prop as number, value as never, datatype as never)
  else doc.put(obj.id, prop, value as never, datatype as never)
}

export function writeAt(doc: AutomergeDoc, keys: readonly string[], value: unknown): void {
  const info = checkJson(value)
  const json = value as JsonValue
  if (keys.length === 0) {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw new InvalidPathError('the document root can only be set to an object')
    }
    for (const k of doc.keys('_root')) if (!(k in json)) doc.delete('_root', k)
    for (const [k, v] of Object.entries(json))
      putValue(doc, ROOT, k, v, false, info.hasUnsafeIntegers)
    return
  }
  const parent = parentFor(doc, keys)
  const last = keys[keys.length - 1] as string
  if (parent.kind === 'map') {
    putValue(doc, parent, last, json, false, info.hasUnsafeIntegers)
    return
  }
  const len = doc.length(parent.id)
  const index = last === '-' ? len : asIndex(last)
  if (index === undefined || index > len) {
    throw new PathConflictError(
      `"${last}" is not an index of the list (length ${len}); use "-" to append`,
    )
  }
  putValue(doc, parent, index, json, index === len, info.hasUnsafeIntegers)
}

/** Deletes the value at `keys`; deleting something absent is not an error. */
export function deleteAt(doc: AutomergeDoc, keys: readonly string[]): void {
  if (keys.length === 0)
    throw new InvalidPathError('cannot delete a document root; delete its keys')
  let cur: Obj = ROOT
  for (let i = 0; i < keys.length - 1; i++) {
    const found = child(doc, cur, keys[i] as string)
    if (found === undefined || found.kind === 'scalar') return
    cur = found.obj
  }
  const last = keys[keys.length - 1] as string
  if (cur.kind === 'map') doc.delete(cur.id, last)
  else if (cur.kind === 'list') {
    const i = asIndex(last)
    if (i !== undefined && i < doc.length(cur.id)) doc.delete(cur.id, i)
  }
}
