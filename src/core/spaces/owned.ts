/**
 * Owned paths (issue 13). In a governed data document, a top-level key `~<did>` (a valid,
 * canonical did:key) and everything below it belong to that identity: only changes signed by it
 * may write there. Only the first key of a path counts: a `~did` key deeper down is an ordinary
 * key, because whoever may write its parent could replace or delete the parent map and with it
 * everything "owned" below (the document root can be neither replaced nor deleted).
 *
 * Every operation of an incoming change is judged by the object it writes into: an object's owner
 * is the top-level key its chain of parents starts from, fixed when the object is made, so it is
 * resolved once per object and cached. A root operation (set, delete, make at `~did`) is owned by
 * its key. Objects made in the same batch get their owner from their make operation. Anything
 * else is looked up in the document: its current path (`objInfo`), or, for an object that is no
 * longer visible (deleted, or a conflict's hidden loser), the make operation in the change that
 * created it. Every replica therefore reaches the same verdict whatever its heads. An object
 * found nowhere is refused (MISSING_DEPS when the change's dependencies are missing too, so it
 * is held and tried again).
 *
 * Cost: a change's bytes contain the literal key of any `~did` it writes at the top level (change
 * chunks never compress their columns; Automerge refuses such chunks), so while neither the
 * document's history nor the batch contains `~did:key:z`, nothing is decoded at all.
 */
import { am, type AutomergeDoc, type Prop } from '../automerge'
import { err, ok, OrreryError, type Result } from '../errors'
import { didKeyFromPublicKey, publicKeyFromDidKey } from '../identity'
import type { IncomingChange } from '../repo/governance'
import { SpaceError } from './errors'

/** The marker that makes a top-level key owned: `~` followed by a did:key. */
export const OWNED_MARK = '~'
const NEEDLE = new TextEncoder().encode('~did:key:z')
const MAKES = new Set(['makeMap', 'makeList', 'makeText', 'makeTable'])

const keyOwners = new Map<string, string | undefined>()

/** The identity owning top-level key `key`, or undefined for an ordinary key. */
export function ownerOfKey(key: Prop | undefined): string | undefined {
  if (typeof key !== 'string' || !key.startsWith('~did:key:z')) return undefined
  if (keyOwners.has(key)) return keyOwners.get(key)
  const did = key.slice(1)
  const pub = publicKeyFromDidKey(did)
  // canonical form only: the text a signature's key turns into
  const owner = pub.ok && didKeyFromPublicKey(pub.value) === did ? did : undefined
  if (keyOwners.size > 10_000) keyOwners.clear()
  keyOwners.set(key, owner)
  return owner
}

/** The owner of a path inside a document (its first key), or undefined. */
export const ownerOfPath = (keys: readonly Prop[]): string | undefined => ownerOfKey(keys[0])

/** The top-level key that makes `did` its owner. */
export const ownedKey = (did: string): string => `${OWNED_MARK}${did}`

function pointer(path: readonly Prop[]): string {
  return '/' + path.map((k) => String(k).replace(/~/g, '~0').replace(/\//g, '~1')).join('/')
}

/** The refusal of a write by `author` under `path` (owned by `owner`). */
export function ownedPathError(author: string, owner: string, path: string): SpaceError {
  return new SpaceError(
    'OWNED_PATH',
    `${author} may not write ${path}: it is under ${pointer([ownedKey(owner)])}, owned by ${owner}`,
  )
}

/** Whether `bytes` contain the needle (a plain scan: change chunks are small). */
export function mentionsOwnedKey(bytes: Uint8Array): boolean {
  const n = NEEDLE.length
  const first = NEEDLE[0]
  outer: for (let i = bytes.indexOf(first as number); i >= 0 && i <= bytes.length - n;) {
    for (let j = 1; j < n; j++) {
      if (bytes[i + j] !== NEEDLE[j]) {
        i = bytes.indexOf(first as number, i + 1)
        continue outer
      }
    }
    return true
  }
  return false
}

interface RawOp {
  action: string
  obj: string
  key?: unknown
  values?: unknown[]
}

interface Make {
  parent: string
  key: unknown
}

/** `null`: not owned; undefined: not found */
type Owner = string | null

/** The makes of a decoded change: op id → where it made the object. */
function makesOf(d: { actor: string; startOp: number; ops: unknown[] }, into: Map<string, Make>) {
  let counter = d.startOp
  for (const op of d.ops as RawOp[]) {
    if (MAKES.has(op.action)) into.set(`${counter}@${d.actor}`, { parent: op.obj, key: op.key })
    counter += Array.isArray(op.values) ? Math.max(1, op.values.length) : 1
  }
}

/** One change of a batch with its bytes. */
export interface ChangeBytes {
  change: IncomingChange
  bytes: Uint8Array
}

/** The owned-path rule for one document: a per-document cache of object owners. */
export class OwnedPaths {
  /** objects of the document (never of a batch not yet applied) → owner */
  private readonly owners = new Map<string, Owner>()
  /** whether the document's history may hold an owned key (undefined: not looked at yet) */
  private mayHold: boolean | undefined

  /** Judges every operation of `batch` (new changes to `doc`, signatures checked). */
  admit(doc: AutomergeDoc, batch: readonly ChangeBytes[]): Result<void> {
    if (batch.length === 0) return ok(undefined)
    let mentioned = false
    for (const b of batch) if (mentionsOwnedKey(b.bytes)) mentioned = true
    if (!mentioned && !this.holds(doc)) return ok(undefined)
    this.mayHold = true
    try {
      return this.judge(doc, batch)
    } catch (e) {
      return err(new OrreryError('MALFORMED_MESSAGE', `a change did not decode: ${String(e)}`))
    }
  }

  /** Whether the document ever had an owned top-level key (looked up once, then kept up). */
  private holds(doc: AutomergeDoc): boolean {
    if (this.mayHold === undefined) {
      // once per document: the uncompressed save holds every key ever written, deleted or not.
      // On a copy: saving moves the document's incremental-save cursor (DocStore relies on it).
      if (doc.getHeads().length === 0) this.mayHold = false
      else {
        const copy = doc.clone()
        try {
          this.mayHold = mentionsOwnedKey(copy.saveNoCompress())
        } finally {
          copy.free()
        }
      }
    }
    return this.mayHold
  }

  private judge(doc: AutomergeDoc, batch: readonly ChangeBytes[]): Result<void> {
    const decoded = batch.map((b) => ({ change: b.change, d: am().decodeChange(b.bytes) }))
    const makes = new Map<string, Make>()
    for (const { d } of decoded) makesOf(d, makes)
    const inBatch = new Set(decoded.map((x) => x.d.hash))
    const history = new History(doc)
    const batchOwners = new Map<string, Owner | undefined>()
    const ownerOf = (obj: string, depth = 0): Owner | undefined => {
      if (obj === '_root') return null
      if (this.owners.has(obj)) return this.owners.get(obj)
      if (batchOwners.has(obj)) return batchOwners.get(obj)
      if (depth > 64) return undefined // deeper than any path the state API writes
      const m = makes.get(obj)
      if (m !== undefined) {
        const o =
          m.parent === '_root' ? (ownerOfKey(m.key as Prop) ?? null) : ownerOf(m.parent, depth + 1)
        batchOwners.set(obj, o)
        return o
      }
      const found = this.fromDoc(doc, obj, history, depth)
      if (found !== undefined) this.owners.set(obj, found)
      return found
    }
    for (const { change, d } of decoded) {
      for (const op of d.ops as RawOp[]) {
        const owner = op.obj === '_root' ? (ownerOfKey(op.key as Prop) ?? null) : ownerOf(op.obj)
        if (owner === null || owner === change.author) continue
        if (owner !== undefined) {
          return err(ownedPathError(change.author, owner, describe(doc, op, makes)))
        }
        const missing = d.deps.filter((h) => !inBatch.has(h) && doc.getChangeMetaByHash(h) === null)
        if (missing.length > 0) {
          return err(
            new OrreryError(
              'MISSING_DEPS',
              `a change by ${change.author} writes into object ${op.obj}, unknown here, and came without ${missing.length} change(s) it depends on`,
            ),
          )
        }
        return err(
          new SpaceError(
            'NOT_ALLOWED',
            `a change by ${change.author} writes into object ${op.obj}, which is in neither the document nor the change's past`,
          ),
        )
      }
    }
    return ok(undefined)
  }

  /** The owner of an object of the document: by its path, else by the op that made it. */
  private fromDoc(
    doc: AutomergeDoc,
    obj: string,
    history: History,
    depth: number,
  ): Owner | undefined {
    try {
      const path = doc.objInfo(obj).path
      if (path !== undefined && path.length > 0) return ownerOfKey(path[0]) ?? null
    } catch {
      return undefined // not an object of this document
    }
    const m = history.makeOf(obj)
    if (m === undefined) return undefined
    if (m.parent === '_root') return ownerOfKey(m.key as Prop) ?? null
    if (this.owners.has(m.parent)) return this.owners.get(m.parent)
    if (depth > 64) return undefined
    const up = this.fromDoc(doc, m.parent, history, depth + 1)
    if (up !== undefined) this.owners.set(m.parent, up)
    return up
  }
}

/**
 * The make operations of the document's history, looked up for objects that are no longer
 * visible (rare: a write into a deleted or hidden object). The change list is read once per batch.
 */
class History {
  private byActor: Map<string, { startOp: number; maxOp: number; hash: string }[]> | undefined
  constructor(private readonly doc: AutomergeDoc) {}

  makeOf(obj: string): Make | undefined {
    const at = obj.indexOf('@')
    const counter = Number(obj.slice(0, at))
    const actor = obj.slice(at + 1)
    if (this.byActor === undefined) {
      this.byActor = new Map()
      for (const m of this.doc.getChangesMeta([])) {
        const list = this.byActor.get(m.actor) ?? []
        list.push({ startOp: m.startOp, maxOp: m.maxOp, hash: m.hash })
        this.byActor.set(m.actor, list)
      }
    }
    const meta = this.byActor.get(actor)?.find((m) => m.startOp <= counter && counter <= m.maxOp)
    const bytes = meta === undefined ? null : this.doc.getChangeByHash(meta.hash)
    if (bytes === null) return undefined
    const makes = new Map<string, Make>()
    makesOf(am().decodeChange(bytes), makes)
    return makes.get(obj)
  }
}

/** The path an operation writes, for an error message (the object's path now, or as made). */
function describe(doc: AutomergeDoc, op: RawOp, makes: Map<string, Make>): string {
  const key = typeof op.key === 'string' ? [op.key] : []
  const pathOf = (obj: string, depth: number): Prop[] => {
    if (obj === '_root' || depth > 64) return []
    try {
      const path = doc.objInfo(obj).path
      if (path !== undefined) return path
    } catch {
      // made in this batch
    }
    const m = makes.get(obj)
    if (m === undefined) return [`(object ${obj})`]
    return [...pathOf(m.parent, depth + 1), typeof m.key === 'string' ? m.key : '(element)']
  }
  return pointer([...pathOf(op.obj, 0), ...key])
}
