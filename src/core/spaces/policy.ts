/**
 * Who may change what in a space. The signed-writes plumbing verifies each change's signature and
 * then asks these pure functions whether its author may make it:
 *
 * - `mayWriteDoc` for the space's data documents: writers and admins may; readers and non-members
 *   may not; a removed member only up to the cutoff the removing admin recorded.
 * - `mayChangeSpace` for the space document itself, judged on the patches the change produced
 *   (applied to a copy), on its operations (so hidden writes count) and on the states before and
 *   after, with the lower of the author's roles at the change's dependencies and now. Admins may
 *   change anything as long as one admin remains; anyone else may only join with an invite,
 *   rename themselves, or (writers) add document entries. Every patch and operation outside those
 *   is refused with its path, and the states are compared as well, so replacing a parent map
 *   (which Automerge reports as one `put` of `{}`) cannot wipe entries the patches never name.
 */
import type { Patch } from '../automerge'
import { err, ok, type Result } from '../errors'
import { isDocId } from '../ids'
import { SpaceError, type SpaceErrorCode } from './errors'
import { checkInvite, decodeToken, verifyJoinProof, type InviteToken } from './invite'
import {
  adminsOf,
  recordOf,
  roleAtLeast,
  roleOf,
  type Removal,
  type RemovalValue,
  type Role,
  type SpaceState,
} from './model'
import type { OpAt } from './change-ops'
import { MAX_MEMBER_NAME_LENGTH, isActor, isLabel, isRecord, isSeq, pointer } from './values'

/** One Automerge change: its actor (hex) and sequence number. */
export interface ChangeRef {
  actor: string
  seq: number
}

/** One document's heads as the removing admin sees them: actor → highest sequence number. */
export interface DocHeads {
  docId: string
  actors: Record<string, number>
}

const fail = (code: SpaceErrorCode, message: string): Result<never> =>
  err(new SpaceError(code, message))

function withinCutoff(removal: Removal, docId: string, change: ChangeRef | undefined): boolean {
  if (change === undefined || !isSeq(change.seq)) return false
  const max = removal.cutoff.get(docId)?.get(change.actor)
  return max !== undefined && change.seq <= max
}

/** May `authorDid` make `change` to the space's data document `docId`? */
export function mayWriteDoc(
  space: SpaceState,
  authorDid: string,
  docId: string,
  change: ChangeRef,
): Result<void> {
  if (docId === space.id) {
    return fail('NOT_ALLOWED', `${docId} is the space document: mayChangeSpace judges its changes`)
  }
  const removal = space.removed.get(authorDid)
  if (removal !== undefined) {
    if (withinCutoff(removal, docId, change)) return ok(undefined)
    const max = removal.cutoff.get(docId)?.get(change.actor)
    return fail(
      'NOT_ALLOWED',
      `${authorDid} was removed from space ${space.id}; change ${change.actor}:${change.seq} to ${docId} is past the cutoff (${max === undefined ? 'none for this actor' : `seq ${max}`})`,
    )
  }
  const role = roleOf(space, authorDid)
  if (role === undefined) {
    return fail('NOT_A_MEMBER', `${authorDid} is not a member of space ${space.id}`)
  }
  if (role === 'reader') {
    return fail('NOT_ALLOWED', `${authorDid} is a reader of space ${space.id} and may not write`)
  }
  return ok(undefined)
}

// ---- the space document ------------------------------------------------------------------------

const MEMBER_FIELDS = new Set(['role', 'name', 'addedBy', 'addedAt', 'invite'])

const byKey = ([a]: [string, unknown], [b]: [string, unknown]): number =>
  a < b ? -1 : a > b ? 1 : 0

/** Deterministic text of a state fragment (Maps and Sets in sorted order) for comparisons. */
function fingerprint(v: unknown): string | undefined {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Map) return [...(x as Map<string, unknown>).entries()].sort(byKey)
    if (x instanceof Set) return [...(x as Set<string>)].sort()
    if (isRecord(x)) return Object.fromEntries(Object.entries(x).sort(byKey))
    return x
  }) as string | undefined
}

const keysOf = <K>(a: Iterable<K>, b: Iterable<K>): K[] => [...new Set([...a, ...b])]

interface Judgement {
  before: SpaceState
  after: SpaceState
  author: string
  role: Role | undefined
  /** the invite a newcomer joins with in this change */
  join: InviteToken | undefined
}

/** How far ahead of a verifier's clock a join's recorded time may be. */
export const MAX_CLOCK_SKEW_MS = 10 * 60_000

function isGenesis(s: SpaceState): boolean {
  return s.members.size === 0 && s.removed.size === 0 && s.creator === undefined
}

function checkGenesis(after: SpaceState, author: string): Result<void> {
  const only = [...after.members.keys()]
  if (
    after.creator !== author ||
    only.length !== 1 ||
    only[0] !== author ||
    roleOf(after, author) !== 'admin' ||
    after.removed.size > 0
  ) {
    return fail(
      'NOT_ALLOWED',
      `a new space's first change must make its author (${author}) its creator and only admin`,
    )
  }
  return ok(undefined)
}

/**
 * A non-member's change must be a valid self-join; returns the invite it uses. The invite's uses
 * are counted in `causal()`, the space as the change's own dependencies left it, not in `before`
 * (this peer's state, which may hold joins concurrent with this one): every peer then takes or
 * refuses the join alike, and concurrent joins beyond maxUses are ranked (model.ts).
 */
function checkJoin(
  before: SpaceState,
  after: SpaceState,
  author: string,
  now: number,
  causal: () => SpaceState,
): Result<InviteToken> {
  const m = recordOf(after, author)
  if (m === undefined) {
    return fail(
      'NOT_A_MEMBER',
      `${author} is not a member of space ${before.id}, and this change is not a valid join (no readable /members/${author} record)`,
    )
  }
  if (m.invite === undefined) {
    return fail('BAD_INVITE', `${author} joins without an invite (no invite: { token, proof })`)
  }
  const token = decodeToken(m.invite.token)
  if (!token.ok) return token
  const t = token.value
  // Expiry is judged at the time the join records (signed with the change), not on the
  // verifier's clock: otherwise every join would turn invalid the day its invite expires, and a
  // newcomer loading the space's history then would refuse the whole space. A join more than
  // MAX_CLOCK_SKEW_MS ahead of this clock is not believed yet.
  if (m.addedAt > now + MAX_CLOCK_SKEW_MS) {
    return fail(
      'NOT_ALLOWED',
      `${author} joins at ${new Date(m.addedAt).toISOString()}, in the future of this peer's clock`,
    )
  }
  const good = checkInvite(t, before, m.addedAt, author, false)
  if (!good.ok) return good
  const uses = checkInvite(t, causal(), m.addedAt, author)
  if (!uses.ok && uses.error.code === 'INVITE_EXHAUSTED') return uses
  if (!verifyJoinProof(t, m.invite.proof, author)) {
    return fail(
      'BAD_SIGNATURE',
      `invite ${t.id}: the join proof does not verify for ${author} (wrong secret, or made for another did)`,
    )
  }
  if (!roleAtLeast(t.role, m.role)) {
    return fail('NOT_ALLOWED', `invite ${t.id} grants ${t.role}; ${author} claims ${m.role}`)
  }
  if (m.addedBy !== t.by) {
    return fail('BAD_INVITE', `invite ${t.id}: addedBy must be the inviter ${t.by}`)
  }
  // No check that /redeemed/<id>/<author> is visible: two joins that create /redeemed/<id>
  // concurrently make a conflict that hides one of them, on some peers and not others (by
  // arrival order). Uses are counted from the member records (model.ts usesOf), never hidden.
  return ok(t)
}

/**
 * A patch that (re)creates a map: the only thing a non-admin may do at a container path such as
 * /docs or /redeemed/<id>. Replacing a map that held entries is caught by the state comparison.
 */
const createsMap = (p: Patch): boolean =>
  (p.action === 'put' && isRecord(p.value)) || p.action === 'conflict'

/** Why patch `p` is not allowed to a non-admin, or undefined if it is. */
function patchRefusal(p: Patch, j: Judgement): string | undefined {
  const [top, key, field] = p.path
  const depth = p.path.length
  const who = `${j.author} (${j.role ?? 'not a member'})`
  if (top === 'members' && key === j.author) {
    if (j.join !== undefined && depth === 2 && createsMap(p)) return undefined
    if (j.join !== undefined && depth > 2 && MEMBER_FIELDS.has(String(field))) return undefined
    if (j.join === undefined && depth === 3 && field === 'name') {
      if (p.action === 'del' || p.action === 'conflict') return undefined
      if (p.action === 'put' && isLabel(p.value, MAX_MEMBER_NAME_LENGTH)) return undefined
      return `${who} may set their own name only to a non-empty text of at most ${MAX_MEMBER_NAME_LENGTH} characters`
    }
  }
  if (top === 'redeemed' && j.join !== undefined) {
    if (depth <= 2 && (depth === 1 || key === j.join.id) && createsMap(p)) return undefined
    if (depth > 2 && key === j.join.id && field === j.author) return undefined
  }
  if (top === 'docs' && j.role === 'writer') {
    if (depth === 1 && createsMap(p)) return undefined
    const d = typeof key === 'string' ? j.after.docs.get(key) : undefined
    if (typeof key === 'string' && !j.before.docs.has(key) && d?.addedBy === j.author) {
      return undefined
    }
    return `${who} may only add new document entries with addedBy ${j.author}; not ${pointer(p.path)}`
  }
  return `${who} may not change ${pointer(p.path)}`
}

/** Everything a non-admin may not change must be equal before and after; else the path. */
function changedPath(j: Judgement): string | undefined {
  const { before: b, after: a, author } = j
  if (b.name !== a.name || b.creator !== a.creator || b.createdAt !== a.createdAt) return '/space'
  // records, counted or not: a concurrent join may move another out of its invite's quota
  const dids = (s: SpaceState): string[] => [...s.members.keys(), ...s.overQuota.keys()]
  for (const did of keysOf(dids(b), dids(a))) {
    const was = recordOf(b, did)
    const is = recordOf(a, did)
    if (did === author && j.join !== undefined) continue
    if (did === author && was !== undefined && is !== undefined) {
      if (fingerprint({ ...was, name: undefined }) === fingerprint({ ...is, name: undefined })) {
        continue
      }
    } else if (fingerprint(was) === fingerprint(is)) continue
    return `/members/${did}`
  }
  for (const did of keysOf(b.removed.keys(), a.removed.keys())) {
    if (fingerprint(b.removed.get(did)) !== fingerprint(a.removed.get(did)))
      return `/removed/${did}`
  }
  for (const id of keysOf(b.revoked, a.revoked)) {
    if (b.revoked.has(id) !== a.revoked.has(id)) return `/revoked/${id}`
  }
  for (const id of keysOf(b.invites.keys(), a.invites.keys())) {
    if (fingerprint(b.invites.get(id)) !== fingerprint(a.invites.get(id))) return `/invites/${id}`
  }
  for (const id of keysOf(b.redeemed.keys(), a.redeemed.keys())) {
    const was = b.redeemed.get(id) ?? new Set<string>()
    const is = a.redeemed.get(id) ?? new Set<string>()
    for (const did of keysOf(was, is)) {
      if (was.has(did) && is.has(did)) continue
      if (!was.has(did) && did === author && id === j.join?.id) continue
      // a join's /redeemed/<id> map may win a conflict with a concurrent join's and hide its
      // entries (see checkJoin); the uses stay counted through the member records
      if (!is.has(did) && id === j.join?.id) continue
      return `/redeemed/${id}/${did}`
    }
  }
  for (const id of keysOf(b.docs.keys(), a.docs.keys())) {
    const was = b.docs.get(id)
    const is = a.docs.get(id)
    if (fingerprint(was) === fingerprint(is)) continue
    if (was === undefined && j.role === 'writer' && is?.addedBy === author) continue
    return `/docs/${id}`
  }
  return undefined
}

/**
 * Why operation `op` is not allowed to a non-admin, or undefined if it is. Each operation is
 * judged like the patch it would make if it were visible, so what a hidden (conflict-losing) map
 * holds is judged too. A non-admin may create a map only where nothing was (as of the change's
 * dependencies): one more map at a taken key either replaces what is there or is hidden beside
 * it, waiting to be merged into it.
 */
function opRefusal(op: OpAt, j: Judgement): string | undefined {
  const who = `${j.author} (${j.role ?? 'not a member'})`
  if (op.path === undefined) {
    return `${who} may not ${op.action} in an object that was not visible (as of the change's dependencies)`
  }
  const at = pointer(op.path)
  if (op.action === 'makeMap' && op.occupied) {
    return `${who} may not create a map at ${at}, which already holds a value (it would replace or hide it)`
  }
  const p =
    op.action === 'makeMap'
      ? { action: 'put', path: op.path, value: {} }
      : op.action === 'set'
        ? { action: 'put', path: op.path, value: op.value }
        : op.action === 'del'
          ? { action: 'del', path: op.path }
          : undefined
  if (p === undefined) return `${who} may not ${op.action} at ${at}`
  return patchRefusal(p as Patch, j)
}

function checkNonAdmin(
  j: Judgement,
  patches: readonly Patch[],
  ops: readonly OpAt[] | undefined,
): Result<void> {
  for (const p of patches) {
    const why = patchRefusal(p, j)
    if (why !== undefined) return fail('NOT_ALLOWED', why)
  }
  for (const op of ops ?? []) {
    const why = opRefusal(op, j)
    if (why !== undefined) return fail('NOT_ALLOWED', why)
  }
  const changed = changedPath(j)
  if (changed !== undefined) {
    return fail(
      'NOT_ALLOWED',
      `${j.author} (${j.role ?? 'newcomer'}) may not change ${changed} (directly or by replacing a map above it)`,
    )
  }
  return ok(undefined)
}

/** The lesser of two roles (no role is the least). */
function lowerRole(now: Role | undefined, atDeps: Role | undefined): Role | undefined {
  if (now === undefined || atDeps === undefined) return undefined
  return roleAtLeast(now, atDeps) ? atDeps : now
}

/** What a change's causal past says about it (see change-ops.ts). */
export interface CausalContext {
  /** the space as of the change's dependencies: the author's role is read here */
  atDeps: SpaceState
  /** the change's operations, with the paths they write (asked only for non-admins' changes) */
  ops(): readonly OpAt[]
  /** the space as of the change's dependencies and the change itself (asked for admins' changes) */
  own?(): SpaceState
}

/**
 * May `authorDid` make a change to the space document that turned `before` into `after` with
 * `patches`? `now` is the time invites are checked against. `change` (actor, seq) lets a removed
 * member's change through if the removing admin's cutoff for the space document covers it (it was
 * accepted before the removal); otherwise a removed member may do nothing. An empty `before` (no
 * creator, no members, no removals) is a new space: its first change must make the author its
 * creator and only admin.
 *
 * With `causal` (what the signed-writes plumbing always passes), the author's role is the one
 * they had at the change's dependencies, unless it is lower now: a reader's change concurrent
 * with their promotion stays a reader's change on every peer, in either arrival order, and a
 * demoted member gains nothing by backdating a change to before the demotion (which, like a
 * removal, still splits peers that got the change first from those that got the demotion first).
 * A change that does not descend from the space's first change is refused, and a non-admin's
 * change is judged by its operations as well as by its patches. A join's invite uses are counted
 * in the space as its dependencies left it (`causal.atDeps`; `before` without `causal`).
 */
export function mayChangeSpace(
  before: SpaceState,
  after: SpaceState,
  patches: readonly Patch[],
  authorDid: string,
  now: number,
  change?: ChangeRef,
  causal?: CausalContext,
): Result<void> {
  const removal = before.removed.get(authorDid)
  if (removal !== undefined) {
    if (withinCutoff(removal, before.id, change)) return ok(undefined)
    return fail(
      'NOT_ALLOWED',
      `${authorDid} was removed from space ${before.id} and may not change it`,
    )
  }
  if (isGenesis(before)) return checkGenesis(after, authorDid)
  if (causal !== undefined && isGenesis(causal.atDeps)) {
    return fail(
      'NOT_ALLOWED',
      `a change by ${authorDid} to space ${before.id} does not descend from the space's first change`,
    )
  }
  const current = roleOf(before, authorDid)
  const role = causal === undefined ? current : lowerRole(current, roleOf(causal.atDeps, authorDid))
  if (role === 'admin') {
    if (adminsOf(after).length === 0) {
      return fail('NOT_ALLOWED', `space ${before.id} must keep at least one admin`)
    }
    // Judged on the change's own history, so every peer agrees: two admins stepping down at once
    // (each seeing the other stay) left no admin together, and each peer refused whichever came
    // second, keeping a different admin (found by the policy model, test/chaos/policy.test.ts).
    // Only another admin demotes or removes an admin, and two admins doing that to each other
    // is the arrival-order case of a demotion (see SECURITY.md).
    const own = causal?.own?.()
    if (own !== undefined && roleOf(own, authorDid) !== 'admin') {
      return fail(
        'NOT_ALLOWED',
        `${authorDid} may not demote or remove themselves in space ${before.id}: another admin must`,
      )
    }
    return ok(undefined)
  }
  let join: InviteToken | undefined
  if (role === undefined) {
    const joined = checkJoin(before, after, authorDid, now, () => causal?.atDeps ?? before)
    if (!joined.ok) return joined
    join = joined.value
  }
  return checkNonAdmin({ before, after, author: authorDid, role, join }, patches, causal?.ops())
}

/**
 * The /removed/<did> record an admin writes to remove `did`: writes by `did` stay accepted up to
 * the admin's current heads of each document (`heads`, including the space document's own). The
 * admin keeps the member record (so the former role stays readable); roleOf sees no role.
 */
export function removeMember(
  space: SpaceState,
  did: string,
  admin: string,
  heads: readonly DocHeads[],
  now = Date.now(),
): Result<RemovalValue> {
  if (roleOf(space, admin) !== 'admin') {
    return fail('NOT_ALLOWED', `${admin} is not an admin of space ${space.id}`)
  }
  if (space.removed.has(did)) {
    return fail('NOT_A_MEMBER', `${did} was already removed from space ${space.id}`)
  }
  if (!space.members.has(did)) {
    return fail('NOT_A_MEMBER', `${did} is not a member of space ${space.id}`)
  }
  if (roleOf(space, did) === 'admin' && adminsOf(space).length === 1) {
    return fail('NOT_ALLOWED', `${did} is the last admin of space ${space.id}`)
  }
  if (did === admin) {
    return fail('NOT_ALLOWED', `an admin may not remove themselves from space ${space.id}`)
  }
  const cutoff: Record<string, Record<string, number>> = {}
  for (const h of heads) {
    if (!isDocId(h.docId)) return fail('INVALID_VALUE', `not a document id: ${String(h.docId)}`)
    const doc = (cutoff[h.docId] ??= {})
    for (const [actor, seq] of Object.entries(h.actors)) {
      if (!isActor(actor) || !isSeq(seq)) {
        return fail('INVALID_VALUE', `bad head ${actor}:${String(seq)} for ${h.docId}`)
      }
      doc[actor] = Math.max(doc[actor] ?? 0, seq)
    }
  }
  return ok({ by: admin, at: now, cutoff })
}
