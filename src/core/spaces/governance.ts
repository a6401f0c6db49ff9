/**
 * The rules a space applies to its documents, as the repo's Governance: who may sign which
 * changes. For the space document itself every change is replayed on a copy, one at a time, and
 * judged on the patches it produces (mayChangeSpace); for the space's other documents the author
 * must be a writer or admin (mayWriteDoc), and only `<did>` may write under a top-level `~<did>`
 * key (owned.ts), locally as well as in changes from peers.
 */
import { am, type AutomergeDoc } from '../automerge'
import { bytesToHex, sha256 } from '../bytes'
import { DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { OrreryError, type Result, err, ok } from '../errors'
import type { Identity } from '../identity'
import { seedSigner, type Signer } from '../signer'
import type { Governance, IncomingChange } from '../repo/governance'
import { normalizeMaterialized } from '../values'
import { readSpace, roleOf, roleAtLeast, type SpaceState } from './model'
import { changeOps } from './change-ops'
import { mayChangeSpace, mayWriteDoc } from './policy'
import { OwnedPaths, ownedPathError, ownerOfKey, type ChangeBytes } from './owned'

export interface SpaceContext {
  spaceId: string
  /** the space's current state (from its document) */
  state(): SpaceState
  identity(): Identity | undefined
}

/** The identity's signer (its seed is in memory; a WebCrypto key would be a Signer too). */
function signerOf(ctx: SpaceContext): Signer | undefined {
  const me = ctx.identity()
  return me === undefined ? undefined : seedSigner(me)
}

/** Rules for a document of the space (not the space document). */
export function docGovernance(docId: string, ctx: SpaceContext): Governance {
  const owned = new OwnedPaths()
  return {
    signer: () => signerOf(ctx),
    mayWriteLocally: (rootKeys) => {
      const me = ctx.identity()
      if (me === undefined)
        return err(new OrreryError('NOT_READY', 'the identity is still loading'))
      const role = roleOf(ctx.state(), me.id)
      if (role === undefined)
        return err(new OrreryError('NOT_A_MEMBER', `you are not a member of space ${ctx.spaceId}`))
      if (!roleAtLeast(role, 'writer'))
        return err(new OrreryError('NOT_ALLOWED', `readers cannot change documents of this space`))
      for (const key of rootKeys ?? []) {
        const owner = ownerOfKey(key)
        if (owner !== undefined && owner !== me.id) {
          return err(ownedPathError(me.id, owner, `/${docId}/${key.replace(/~/g, '~0')}`))
        }
      }
      return ok(undefined)
    },
    admit: (doc, changes, entries) => {
      const space = ctx.state()
      for (const c of changes) {
        const r = mayWriteDoc(space, c.author, docId, { actor: c.actor, seq: c.seq })
        if (!r.ok) return r
      }
      const batch = withBytes(changes, entries)
      return batch.ok ? owned.admit(doc, batch.value) : batch
    },
  }
}

/**
 * Rules for the space document. Local writes are refused unless this user is an admin or the
 * space manager announced a write of its own (a join, a rename) with `expectOwnWrite`.
 */
export function spaceGovernance(ctx: SpaceContext, ownWrite: () => boolean): Governance {
  return {
    signer: () => signerOf(ctx),
    mayWriteLocally: () => {
      const me = ctx.identity()
      if (me === undefined)
        return err(new OrreryError('NOT_READY', 'the identity is still loading'))
      if (ownWrite() || roleOf(ctx.state(), me.id) === 'admin') return ok(undefined)
      return err(new OrreryError('NOT_ALLOWED', 'only admins change a space directly'))
    },
    // a repair would sign whatever a hidden map holds, as this user's own change
    mayRepair: () => false,
    admit: (doc, changes, entries) => replaySpaceChanges(doc, changes, entries, ctx.spaceId),
  }
}

/**
 * Applies each new change to a copy of the space document, dependencies first, and judges the
 * patches it alone produces, its operations, and its author's role as of its dependencies. A
 * change whose dependencies are missing is refused (MISSING_DEPS, held and tried again when the
 * space changes): Automerge would queue it and apply it later
 * together with its dependency, and it would then be judged as that change's author's. For the
 * same reason, a step that applies anything besides the change being judged is refused.
 */
export function replaySpaceChanges(
  doc: AutomergeDoc,
  changes: IncomingChange[],
  entries: Uint8Array[],
  spaceId: string,
  now = Date.now(),
): Result<void> {
  if (changes.length === 0) return ok(undefined)
  const byHash = new Map(changes.map((c) => [c.hash, c]))
  const ordered = changeBytesInOrder(entries, byHash)
  if (!ordered.ok) return ordered
  const copy = doc.clone()
  try {
    // a change the space document has, or that came twice (a mirror's log may hold one change
    // in several uploaders' envelopes), is judged once: applying it again changes nothing
    const seen = new Set<string>()
    let pending = ordered.value
      .map((o) => ({ ...o, decoded: am().decodeChange(o.bytes) }))
      .filter((p) => {
        const again = seen.has(p.decoded.hash) || copy.getChangeByHash(p.decoded.hash) !== null
        seen.add(p.decoded.hash)
        return !again
      })
    while (pending.length > 0) {
      const ready = pending.find((p) =>
        p.decoded.deps.every((d) => copy.getChangeByHash(d) !== null),
      )
      if (ready === undefined) {
        return err(
          new OrreryError(
            'MISSING_DEPS',
            `${pending.length} change(s) to the space came without the changes they depend on`,
          ),
        )
      }
      pending = pending.filter((p) => p !== ready)
      const { change, bytes, decoded } = ready
      const beforeHeads = copy.getHeads()
      const before = readSpace(normalizeMaterialized(copy.materialize('/')), spaceId)
      // the author's role is read as of the change's dependencies (usually today's heads)
      const atDeps = sameHeads(decoded.deps, beforeHeads)
        ? before
        : readSpace(normalizeMaterialized(copy.materialize('/', decoded.deps)), spaceId)
      copy.applyChanges([bytes])
      const applied = copy.getChanges(beforeHeads)
      if (applied.length !== 1) {
        return err(
          new OrreryError(
            'NOT_ALLOWED',
            `a change by ${change.author} to the space ${applied.length === 0 ? 'did not apply' : 'applied other changes with it'}`,
          ),
        )
      }
      const afterHeads = copy.getHeads()
      const patches = copy.diff(beforeHeads, afterHeads)
      const after = readSpace(normalizeMaterialized(copy.materialize('/')), spaceId)
      const verdict = mayChangeSpace(
        before,
        after,
        patches,
        change.author,
        now,
        { actor: change.actor, seq: change.seq },
        {
          atDeps,
          ops: () => changeOps(copy, decoded),
          own: () =>
            readSpace(normalizeMaterialized(copy.materialize('/', [decoded.hash])), spaceId),
        },
      )
      if (!verdict.ok) return verdict
    }
    return ok(undefined)
  } catch (e) {
    return err(
      new OrreryError('MALFORMED_MESSAGE', `a change to the space did not apply: ${String(e)}`),
    )
  } finally {
    copy.free()
  }
}

/** The changes with their bytes (those that came inside a whole document are taken out of it). */
function withBytes(changes: IncomingChange[], entries: Uint8Array[]): Result<ChangeBytes[]> {
  const out: ChangeBytes[] = []
  const rest = new Map<string, IncomingChange>()
  for (const c of changes) {
    if (c.bytes !== undefined) out.push({ change: c, bytes: c.bytes })
    else rest.set(c.hash, c)
  }
  if (rest.size === 0) return ok(out)
  try {
    const more = changeBytesInOrder(entries, rest)
    if (!more.ok) return more
    const found = new Map(more.value.map((m) => [m.change.hash, m]))
    if (found.size !== rest.size) {
      return err(new OrreryError('MALFORMED_MESSAGE', 'a signed change is missing from its batch'))
    }
    return ok([...out, ...found.values()])
  } catch (e) {
    return err(new OrreryError('MALFORMED_MESSAGE', `a document chunk did not load: ${String(e)}`))
  }
}

/** The bytes of the listed changes, in an order where each comes after its dependencies. */
function changeBytesInOrder(
  entries: Uint8Array[],
  wanted: Map<string, IncomingChange>,
): Result<{ change: IncomingChange; bytes: Uint8Array }[]> {
  const out: { change: IncomingChange; bytes: Uint8Array }[] = []
  for (const entry of entries) {
    const chunks = splitChunks(entry, false)
    if (!chunks.ok) return err(chunks.error)
    for (const c of chunks.value) {
      const list =
        c[8] === DOCUMENT_CHUNK
          ? (() => {
              const tmp = am().load(c)
              try {
                return tmp.getChanges([]) // topological order
              } finally {
                tmp.free()
              }
            })()
          : [c]
      for (const bytes of list) {
        const change = wanted.get(bytesToHex(sha256(bytes.subarray(8))))
        if (change !== undefined) out.push({ change, bytes })
      }
    }
  }
  return ok(out)
}

function sameHeads(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((h) => b.includes(h))
}
