/**
 * Concurrent creation of the same map. `set('/doc/a/x')` on one peer and `set('/doc/a/y')` on
 * another, while `a` does not exist yet, each create a map at `a`; Automerge keeps one and hides
 * the other as a conflict, and with it `x` or `y`. For a key-value API that is data loss, so when
 * a patch reports such a conflict, entries of the hidden maps that the visible map lacks are
 * copied into it (recursively for nested maps). Every peer that may write the document does the
 * same copy; concurrent copies write equal values, so they converge. Scalar-vs-scalar conflicts
 * stay last-writer-wins.
 *
 * The copy is a change of the repairing tab, signed by its user. In a governed document the
 * caller (DocHandle) therefore repairs only where its user may write, and never in a space
 * document: there a hidden map is a way to smuggle entries past the space's rules, which judge
 * what a change's author may write, and the repair would sign them as the repairer's own.
 */
import type { AutomergeDoc, Patch, Prop } from './automerge'

type Full = [string, unknown]

function isObj(v: Full | null | undefined): v is [string, string] {
  return v !== null && v !== undefined && (v[0] === 'map' || v[0] === 'list' || v[0] === 'text')
}

/** Paths whose patches say two writers disagreed. */
export function conflictPaths(patches: readonly Patch[]): Prop[][] {
  const out: Prop[][] = []
  for (const p of patches) {
    const conflict = (p as { conflict?: boolean }).conflict === true
    if (p.action === 'conflict' || (p.action === 'put' && conflict)) out.push(p.path)
  }
  return out
}

/** The object id of the visible value at `path`, or undefined. */
function resolve(doc: AutomergeDoc, path: readonly Prop[]): string | undefined {
  let obj = '_root'
  for (const key of path) {
    const v = doc.getWithType(obj, key) as Full | null
    if (!isObj(v)) return undefined
    obj = v[1]
  }
  return obj
}

function copyMissing(doc: AutomergeDoc, from: string, to: string): number {
  let copied = 0
  for (const key of doc.keys(from)) {
    const src = doc.getWithType(from, key) as Full | null
    const dst = doc.getWithType(to, key) as Full | null
    if (src === null) continue
    if (dst === null) {
      if (isObj(src)) doc.putObject(to, key, doc.materialize(src[1]) as never)
      else doc.put(to, key, src[1] as never, src[0] as never)
      copied++
    } else if (src[0] === 'map' && dst[0] === 'map' && src[1] !== dst[1]) {
      copied += copyMissing(doc, src[1] as string, dst[1] as string)
    }
  }
  return copied
}

/** Merges hidden maps at each path into the visible one; returns how many entries it copied. */
export function repairMapConflicts(doc: AutomergeDoc, paths: readonly (readonly Prop[])[]): number {
  let copied = 0
  for (const path of paths) {
    if (path.length === 0) continue
    const parent = resolve(doc, path.slice(0, -1))
    const key = path[path.length - 1] as Prop
    if (parent === undefined) continue
    const winner = doc.getWithType(parent, key) as Full | null
    if (winner === null || winner[0] !== 'map') continue
    for (const v of doc.getAll(parent, key) as Full[]) {
      if (v[0] === 'map' && v[1] !== winner[1])
        copied += copyMissing(doc, v[1] as string, winner[1] as string)
    }
  }
  return copied
}
