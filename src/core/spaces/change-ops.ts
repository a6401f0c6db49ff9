/**
 * The operations of one change to a space document, each with the path it writes to, so that the
 * policy can judge what a change does and not only what it shows. Patches only report what
 * becomes visible: a change that creates a map losing a conflict (Automerge keeps one of two maps
 * created at the same key concurrently and hides the other) produces no patch for anything
 * written inside that map, and before issue 12 a peer's conflict repair then copied those hidden
 * entries into the visible map and signed them as its own.
 *
 * An operation names the object it writes into by id. The id is resolved to a path in the
 * document as of the change's dependencies (`objInfo(obj, deps)`): that is the state its author
 * saw, so an honest change always resolves, and the answer does not depend on which concurrent
 * changes this peer happens to have applied already. Objects the change creates itself get the
 * path of the operation that creates them. Limits: an object that is not visible at the
 * dependencies (a hidden conflict loser, a deleted map, or an object from outside the change's
 * causal past) has no path (`path: undefined`); the policy refuses such operations from
 * non-admins. The path is where the author wrote, not where the value ends up after a merge:
 * a write into a map that a concurrent change replaced lands in a hidden map, which is harmless
 * because nothing repairs the space document.
 */
import type { AutomergeDoc, Heads, Prop } from '../automerge'
import type { DecodedChange } from 'automerge-wasm'

export interface OpAt {
  /** Automerge's action: makeMap, makeList, makeText, set, del, inc, mark… */
  action: string
  /** the key the operation writes (its object's path and its key); undefined if unresolvable */
  path: Prop[] | undefined
  /**
   * the key already held a value as of the change's dependencies, or earlier in this change: a
   * new object here replaces or hides what was there
   */
  occupied: boolean
  /** the scalar written by `set` */
  value?: unknown
}

const MAKES = new Set(['makeMap', 'makeList', 'makeText', 'makeTable'])
const OBJECTS = new Set(['map', 'list', 'text', 'table'])

interface RawOp {
  action: string
  obj: string
  key?: unknown
  elemId?: unknown
  insert?: boolean
  value?: unknown
  values?: unknown[]
}

/**
 * The operations of `change` with their paths, resolved in `doc` as of the change's
 * dependencies (which `doc` must contain). Never throws: what does not resolve has no path.
 */
export function changeOps(doc: AutomergeDoc, change: DecodedChange): OpAt[] {
  const deps: Heads = change.deps
  const paths = new Map<string, Prop[] | undefined>([['_root', []]])
  const written = new Set<string>()
  const out: OpAt[] = []
  let counter = change.startOp
  /** objects this change creates: nothing was in them before */
  const created = new Set<string>()
  const pathOf = (obj: string): Prop[] | undefined => {
    if (!paths.has(obj)) paths.set(obj, visiblePath(doc, obj, deps))
    return paths.get(obj)
  }
  for (const raw of change.ops as unknown as RawOp[]) {
    const id = `${counter}@${change.actor}`
    // a multi-value insert uses one op id per value
    counter += Array.isArray(raw.values) ? Math.max(1, raw.values.length) : 1
    const base = pathOf(raw.obj)
    const key = typeof raw.key === 'string' ? raw.key : undefined
    // list positions are element ids, not paths: such an op gets no path
    const path = base !== undefined && key !== undefined ? [...base, key] : undefined
    const slot = `${raw.obj}\u0000${key ?? ''}`
    let occupied = written.has(slot)
    if (!occupied && !created.has(raw.obj) && key !== undefined && MAKES.has(raw.action)) {
      try {
        occupied = doc.getWithType(raw.obj, key, deps) !== null
      } catch {
        occupied = true // unreadable counts as taken (fails safe)
      }
    }
    written.add(slot)
    if (MAKES.has(raw.action)) {
      paths.set(id, path)
      created.add(id)
    }
    out.push({
      action: raw.action,
      path,
      occupied,
      ...(raw.action === 'set' ? { value: raw.value } : {}),
    })
  }
  return out
}

/** The path of `obj` as of `heads` if it is the visible object there (not hidden, not deleted). */
function visiblePath(doc: AutomergeDoc, obj: string, heads: Heads): Prop[] | undefined {
  try {
    const path = doc.objInfo(obj, heads).path
    if (path === undefined) return undefined
    let cur = '_root'
    for (const key of path) {
      const v = doc.getWithType(cur, key, heads) as [string, unknown] | null
      if (v === null || !OBJECTS.has(v[0]) || typeof v[1] !== 'string') return undefined
      cur = v[1]
    }
    return cur === obj ? path : undefined
  } catch {
    return undefined // not in the document at the dependencies
  }
}
