/**
 * The space document: who is in a space (members and their roles), who was removed, which
 * documents belong to it, and the bookkeeping of invites. It is an Automerge document whose id is
 * the space id; this module reads its JSON value into a `SpaceState`.
 *
 *   /space                 { name, createdAt, creator }
 *   /members/<did>         { role, name?, addedBy, addedAt, invite?: { token, proof } }
 *   /removed/<did>         { by, at, cutoff: { [docId]: { [actorHex]: maxSeq } } }
 *   /docs/<docId>          { addedBy, addedAt, app? }
 *   /invites/<inviteId>    { role, maxUses, expiresAt, by }
 *   /revoked/<inviteId>    { by, at }
 *   /redeemed/<inviteId>/<did>  { at }
 *
 * `readSpace` never throws and skips entries it cannot read, failing safe: a malformed member
 * record grants nothing, while any entry at all under /removed/<did>, /revoked/<id> or
 * /redeemed/<id>/<did> counts (a removal, revocation or use cannot be undone by mangling it).
 *
 * An invite's `maxUses` is enforced on the merged document, so every peer agrees whatever order
 * concurrent joins reached it in: the members who joined with one invite are ranked by
 * (addedAt, did) and only the first maxUses count; the others are kept in `overQuota`, with no
 * role. (A join made after the invite was used up in its own history is refused outright: see
 * policy.ts.) The ranking is deterministic, not fair: an invite holder who backdates a concurrent
 * join takes the place of another; only a peer that serialises joins could prevent that.
 */
import { fromBase64Url, fromUtf8 } from '../bytes'
import { isDocId } from '../ids'
import type { Identity } from '../identity'
import {
  MAX_MEMBER_NAME_LENGTH,
  MAX_SPACE_NAME_LENGTH,
  isActor,
  isDid,
  isLabel,
  isRecord,
  isSeq,
  isTime,
} from './values'

export type Role = 'admin' | 'writer' | 'reader'

const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 }

export const isRole = (v: unknown): v is Role => v === 'admin' || v === 'writer' || v === 'reader'

/** True if role `a` includes everything role `b` may do. */
export function roleAtLeast(a: Role, b: Role): boolean {
  return RANK[a] >= RANK[b]
}

/** Admins grant any role; writers grant writer or reader; readers grant nothing. */
export function mayGrant(granter: Role, role: Role): boolean {
  if (granter === 'admin') return true
  if (granter === 'writer') return role === 'writer' || role === 'reader'
  return false
}

export interface MemberInvite {
  /** the invite token, encoded (see invite.ts `encodeToken`) */
  token: string
  /** the join proof (see invite.ts `joinProof`) */
  proof: string
}

export interface Member {
  role: Role
  name?: string
  addedBy: string
  addedAt: number
  invite?: MemberInvite
}

export interface Removal {
  by: string | undefined
  at: number | undefined
  /** docId → actor → the last sequence number accepted from that actor */
  cutoff: Map<string, Map<string, number>>
}

export interface DocEntry {
  addedBy: string
  addedAt: number
  /** the CID of the app manifest that opens this document */
  app?: string
}

export interface InviteRecord {
  role: Role
  maxUses: number
  expiresAt: number
  by: string
}

export interface SpaceState {
  id: string
  /** '' when the /space record is missing or malformed */
  name: string
  createdAt: number | undefined
  creator: string | undefined
  /** members who count (see top: joins beyond an invite's maxUses are in `overQuota`) */
  members: Map<string, Member>
  /** member records of joins beyond their invite's maxUses: no role */
  overQuota: Map<string, Member>
  removed: Map<string, Removal>
  docs: Map<string, DocEntry>
  invites: Map<string, InviteRecord>
  revoked: Set<string>
  redeemed: Map<string, Set<string>>
}

// ---- JSON values, as written into the space document -------------------------------------------

export interface MemberValue {
  role: Role
  name?: string
  addedBy: string
  addedAt: number
  invite?: MemberInvite
}

export interface RemovalValue {
  by: string
  at: number
  cutoff: Record<string, Record<string, number>>
}

export interface SpaceValue {
  space: { name: string; createdAt: number; creator: string }
  members: Record<string, MemberValue>
  removed: Record<string, RemovalValue>
  docs: Record<string, { addedBy: string; addedAt: number; app?: string }>
  invites: Record<string, InviteRecord>
  revoked: Record<string, { by: string; at: number }>
  redeemed: Record<string, Record<string, { at: number }>>
}

/** The initial value of a new space document: the creator is its only member, an admin. */
export function newSpaceValue(name: string, creator: Identity, now = Date.now()): SpaceValue {
  return {
    space: { name, createdAt: now, creator: creator.id },
    members: { [creator.id]: { role: 'admin', addedBy: creator.id, addedAt: now } },
    removed: {},
    docs: {},
    invites: {},
    revoked: {},
    redeemed: {},
  }
}

// ---- reading -----------------------------------------------------------------------------------

export function emptySpace(id: string): SpaceState {
  return {
    id,
    name: '',
    createdAt: undefined,
    creator: undefined,
    members: new Map(),
    overQuota: new Map(),
    removed: new Map(),
    docs: new Map(),
    invites: new Map(),
    revoked: new Set(),
    redeemed: new Map(),
  }
}

const entries = (v: unknown): [string, unknown][] => (isRecord(v) ? Object.entries(v) : [])

export function readMember(v: unknown): Member | undefined {
  if (!isRecord(v) || !isRole(v.role) || !isDid(v.addedBy) || !isTime(v.addedAt)) return undefined
  const m: Member = { role: v.role, addedBy: v.addedBy, addedAt: v.addedAt }
  if (isLabel(v.name, MAX_MEMBER_NAME_LENGTH)) m.name = v.name
  const inv = v.invite
  if (isRecord(inv) && typeof inv.token === 'string' && typeof inv.proof === 'string') {
    m.invite = { token: inv.token, proof: inv.proof }
  }
  return m
}

function readRemoval(v: unknown): Removal {
  const r = isRecord(v) ? v : {}
  const cutoff = new Map<string, Map<string, number>>()
  for (const [docId, actors] of entries(r.cutoff)) {
    const seqs = new Map<string, number>()
    for (const [actor, seq] of entries(actors))
      if (isActor(actor) && isSeq(seq)) seqs.set(actor, seq)
    cutoff.set(docId, seqs)
  }
  return {
    by: isDid(r.by) ? r.by : undefined,
    at: isTime(r.at) ? r.at : undefined,
    cutoff,
  }
}

function readDocEntry(v: unknown): DocEntry | undefined {
  if (!isRecord(v) || !isDid(v.addedBy) || !isTime(v.addedAt)) return undefined
  const d: DocEntry = { addedBy: v.addedBy, addedAt: v.addedAt }
  if (typeof v.app === 'string' && v.app.length > 0 && v.app.length <= 200) d.app = v.app
  return d
}

function readInviteRecord(v: unknown): InviteRecord | undefined {
  if (!isRecord(v) || !isRole(v.role) || !isDid(v.by)) return undefined
  if (!isTime(v.expiresAt) || !isTime(v.maxUses)) return undefined
  return { role: v.role, maxUses: v.maxUses, expiresAt: v.expiresAt, by: v.by }
}

function readInto(value: unknown, s: SpaceState): void {
  if (!isRecord(value)) return
  const space = value.space
  if (isRecord(space)) {
    if (isLabel(space.name, MAX_SPACE_NAME_LENGTH)) s.name = space.name
    if (isTime(space.createdAt)) s.createdAt = space.createdAt
    if (isDid(space.creator)) s.creator = space.creator
  }
  for (const [did, v] of entries(value.members)) {
    const m = isDid(did) ? readMember(v) : undefined
    if (m !== undefined) s.members.set(did, m)
  }
  for (const [did, v] of entries(value.removed)) s.removed.set(did, readRemoval(v))
  for (const [docId, v] of entries(value.docs)) {
    const d = isDocId(docId) && docId !== s.id ? readDocEntry(v) : undefined
    if (d !== undefined) s.docs.set(docId, d)
  }
  for (const [id, v] of entries(value.invites)) {
    const r = readInviteRecord(v)
    if (r !== undefined) s.invites.set(id, r)
  }
  for (const [id] of entries(value.revoked)) s.revoked.add(id)
  for (const [id, v] of entries(value.redeemed)) {
    if (isRecord(v)) s.redeemed.set(id, new Set(Object.keys(v)))
  }
  applyMaxUses(s)
}

/** The invite id and maxUses of the token in a member record (checked when the join was). */
export function inviteUse(m: Member): { id: string; maxUses: number } | undefined {
  const bytes = m.invite === undefined ? undefined : fromBase64Url(m.invite.token)
  if (bytes === undefined) return undefined
  try {
    const t = JSON.parse(fromUtf8(bytes)) as unknown
    if (isRecord(t) && typeof t.id === 'string' && isTime(t.maxUses) && t.maxUses > 0)
      return { id: t.id, maxUses: t.maxUses }
  } catch {
    // not a token: no use of any invite
  }
  return undefined
}

/** Moves the joins beyond each invite's maxUses from `members` to `overQuota` (see top). */
function applyMaxUses(s: SpaceState): void {
  const byInvite = new Map<string, [string, Member, number][]>()
  for (const [did, m] of s.members) {
    const use = inviteUse(m)
    if (use === undefined) continue
    let list = byInvite.get(use.id)
    if (list === undefined) byInvite.set(use.id, (list = []))
    list.push([did, m, use.maxUses])
  }
  for (const list of byInvite.values()) {
    list.sort(([a, ma], [b, mb]) => ma.addedAt - mb.addedAt || (a < b ? -1 : a > b ? 1 : 0))
    list.forEach(([did, m, maxUses], rank) => {
      if (rank < maxUses) return
      s.members.delete(did)
      s.overQuota.set(did, m)
    })
  }
}

/** A member's record, counted or not. */
export function recordOf(space: SpaceState, did: string): Member | undefined {
  return space.members.get(did) ?? space.overQuota.get(did)
}

/** The dids that used invite `inviteId`: its redemptions and the records of joins with it. */
export function usesOf(space: SpaceState, inviteId: string): Set<string> {
  const out = new Set(space.redeemed.get(inviteId) ?? [])
  for (const map of [space.members, space.overQuota])
    for (const [did, m] of map) if (inviteUse(m)?.id === inviteId) out.add(did)
  return out
}

/** Reads a space document's JSON value. Never throws; malformed entries are skipped (see top). */
export function readSpace(value: unknown, spaceId: string): SpaceState {
  const s = emptySpace(spaceId)
  try {
    readInto(value, s)
    return s
  } catch {
    // not JSON (a getter that throws, a revoked proxy…): nothing in it can be trusted
    return emptySpace(spaceId)
  }
}

/** The member's role; undefined for non-members and removed members. */
export function roleOf(space: SpaceState, did: string): Role | undefined {
  if (space.removed.has(did)) return undefined
  return space.members.get(did)?.role
}

/** The dids of current (not removed) admins. */
export function adminsOf(space: SpaceState): string[] {
  return [...space.members.keys()].filter((did) => roleOf(space, did) === 'admin')
}
