/**
 * What the members of the policy model do, and the reference model that predicts it.
 *
 * Honest actions go through the checks the real `Spaces` makes before it writes (`checkInvite`,
 * `removeMember`, a local admin for role changes) and are written on the actor's own replica.
 * Forbidden ones (a non-admin's role change, a `/docs` edit, a join with an expired, used-up or
 * forged token, a reader's write) are made by a modified build: on a copy, signed with the
 * member's key, offered to every peer, never applied to the member's own replica.
 *
 * The reference model is plain data (roles, removals, invites and their uses) and predicts, for
 * a schedule where every action is seen by everyone before the next one, whether each change is
 * admitted; it knows nothing of Automerge. Under concurrency its predictions do not hold (the
 * outcome depends on arrival order and on Automerge's merge): the invariants check agreement.
 */
import type { AutomergeDoc } from '../../src/core/automerge'
import { newDocIdIn } from '../../src/core/ids'
import {
  checkInvite,
  createInvite,
  inviteRecord,
  joinValues,
  type Invite,
} from '../../src/core/spaces/invite'
import {
  adminsOf,
  mayGrant,
  newSpaceValue,
  recordOf,
  roleOf,
  type Role,
} from '../../src/core/spaces/model'
import { removeMember } from '../../src/core/spaces/policy'
import { PolicyNet, type Made, type PolicyPeer } from './policy-net'

export type JoinKind = 'valid' | 'stale' | 'forged-proof' | 'forged-role'
export type ForbiddenKind =
  | 'self-admin'
  | 'other-role'
  | 'other-name'
  | 'docs-delete'
  | 'docs-add-other'
  | 'docs-add-self'
  | 'remove-other'
  | 'invite-record'

/** One change an action made, and whether the reference predicts every peer admits it. */
export interface Outcome {
  made: Made
  admitted: boolean
}

export interface RefInvite {
  invite: Invite
  /** made by an admin's replica at this model time */
  at: number
}

/** The reference model: what an observer who sees every action in order knows. */
export class Reference {
  readonly roles = new Map<string, Role>()
  readonly removed = new Set<string>()
  /** invite id → dids that joined with it */
  readonly uses = new Map<string, Set<string>>()

  role(did: string): Role | undefined {
    return this.removed.has(did) ? undefined : this.roles.get(did)
  }

  admins(): number {
    return [...this.roles.keys()].filter((d) => this.role(d) === 'admin').length
  }

  /** Whether a join by `did` with `inv` dated `at` is valid (forgeries never are). */
  joinValid(inv: Invite, did: string, at: number, kind: JoinKind): boolean {
    if (kind === 'forged-proof' || kind === 'forged-role') return false
    const t = inv.token
    const inviter = this.role(t.by)
    return (
      !this.removed.has(did) &&
      !this.roles.has(did) &&
      at < t.expiresAt &&
      inviter !== undefined &&
      mayGrant(inviter, t.role) &&
      (this.uses.get(t.id)?.size ?? 0) < t.maxUses
    )
  }
}

// ---- writing into the space document (Automerge's low-level API) ------------------------------

/** The map at `path`, made where missing. */
function mapAt(doc: AutomergeDoc, path: string[]): string {
  let obj = '_root'
  for (const k of path) {
    const v = doc.getWithType(obj, k)
    obj = v !== null && v[0] === 'map' ? (v[1] as string) : doc.putObject(obj, k, {})
  }
  return obj
}

function put(doc: AutomergeDoc, path: string[], value: unknown): void {
  const obj = mapAt(doc, path.slice(0, -1))
  const key = path[path.length - 1]!
  if (value !== null && typeof value === 'object') doc.putObject(obj, key, value as never)
  else doc.put(obj, key, value as never)
}

function del(doc: AutomergeDoc, path: string[]): void {
  doc.delete(mapAt(doc, path.slice(0, -1)), path[path.length - 1]!)
}

// ---- the world ---------------------------------------------------------------------------------

/** Initial roles: p0 creates the space; p1 admin, p2 writer, p3 reader; p4 (if any) a stranger. */
export const INITIAL: (Role | undefined)[] = ['admin', 'admin', 'writer', 'reader', undefined]

export class PolicyWorld {
  readonly ref = new Reference()
  readonly invites: RefInvite[] = []
  private writes = 0

  constructor(readonly net: PolicyNet) {}

  /** This world (set up) on a copy of its net: what each schedule starts from. */
  copy(): PolicyWorld {
    const w = new PolicyWorld(new PolicyNet(this.net.peers.length, this.net))
    for (const [k, v] of this.ref.roles) w.ref.roles.set(k, v)
    for (const d of this.ref.removed) w.ref.removed.add(d)
    for (const [k, v] of this.ref.uses) w.ref.uses.set(k, new Set(v))
    w.invites.push(...this.invites)
    w.writes = this.writes
    return w
  }

  peer(i: number): PolicyPeer {
    return this.net.peers[i % this.net.peers.length]!
  }

  /**
   * p0 makes the space and its data document; the others join with invites from p0, with the
   * roles `initial` gives them (undefined: a stranger, who may join later); all in sync.
   */
  setup(initial: readonly (Role | undefined)[] = INITIAL.slice(1)): void {
    const p0 = this.peer(0)
    const value = newSpaceValue('policy', p0.identity, this.net.now(), this.net.nonce)
    p0.write('space', 'genesis', (d) => {
      for (const [k, v] of Object.entries(value)) d.putObject('_root', k, v as never)
    })
    this.ref.roles.set(p0.identity.id, 'admin')
    p0.write('space', 'list the data document', (d) =>
      put(d, ['docs', this.net.dataId], { addedBy: p0.identity.id, addedAt: this.net.now() }),
    )
    p0.write('data', 'data genesis', (d) => d.put('_root', 'title', 'data'))
    for (let i = 1; i < this.net.peers.length; i++) {
      const role = initial[i - 1]
      if (role === undefined) continue
      this.net.syncAll()
      this.invite(0, role, 1, false)
      this.net.syncAll()
      this.join(i, this.invites.length - 1, 'valid')
    }
    this.net.syncAll()
  }

  /** An admin's invite (Spaces.invite): refused locally unless `checkInvite` passes. */
  invite(by: number, role: Role, maxUses: number, short: boolean): Outcome[] {
    const p = this.peer(by)
    if (roleOf(p.state(), p.identity.id) !== 'admin') return []
    const now = this.net.now()
    const invite = createInvite({
      spaceId: this.net.spaceId,
      role,
      expiresAt: now + (short ? 90_000 : 24 * 3600 * 1000),
      maxUses,
      inviter: p.identity,
    })
    if (!checkInvite(invite.token, p.state(), now).ok) return []
    const made = p.write('space', `p${p.index} invites ${role}×${maxUses}`, (d) =>
      put(d, ['invites', invite.token.id], inviteRecord(invite.token)),
    )
    this.invites.push({ invite, at: now })
    return made === undefined ? [] : [{ made, admitted: this.ref.role(p.identity.id) === 'admin' }]
  }

  /**
   * `who` joins with invite `which`: `valid` as Spaces.join does (only if the invite checks out
   * locally); `stale` written whatever the local check says; `forged-*` with a wrong secret or a
   * token whose role was raised after signing.
   */
  join(who: number, which: number, kind: JoinKind): Outcome[] {
    const p = this.peer(who)
    const ri = this.invites[which % Math.max(1, this.invites.length)]
    if (ri === undefined || roleOf(p.state(), p.identity.id) !== undefined) return []
    if (recordOf(p.state(), p.identity.id) !== undefined && kind === 'valid') return []
    const me = p.identity.id
    const at = this.net.now()
    let inv: Invite = ri.invite
    if (kind === 'forged-proof') inv = { ...inv, secret: new Uint8Array(32).fill(0x55) }
    if (kind === 'forged-role') inv = { ...inv, token: { ...inv.token, role: 'admin' } }
    const predicted = this.ref.joinValid(inv, me, at, kind)
    const { member, redeemed } = joinValues(inv, me, at)
    const edit = (d: AutomergeDoc): void => {
      put(d, ['members', me], member)
      put(d, ['redeemed', inv.token.id, me], redeemed)
    }
    const what = `p${p.index} joins (${kind}) with invite #${which % this.invites.length}`
    let made: Made | undefined
    if (kind === 'valid') {
      if (!checkInvite(inv.token, p.state(), at, me).ok) return []
      made = p.write('space', what, edit)
    } else {
      made = p.forge('space', what, edit)
      if (made !== undefined) this.net.inject(made)
    }
    if (made === undefined) return []
    if (predicted) {
      this.ref.roles.set(me, inv.token.role)
      let set = this.ref.uses.get(inv.token.id)
      if (set === undefined) this.ref.uses.set(inv.token.id, (set = new Set()))
      set.add(me)
    }
    return [{ made, admitted: predicted }]
  }

  /** An admin sets a member's role (a direct write; Spaces has no method for it). */
  setRole(by: number, target: number, role: Role): Outcome[] {
    const p = this.peer(by)
    const t = this.peer(target).identity.id
    const s = p.state()
    if (roleOf(s, p.identity.id) !== 'admin' || roleOf(s, t) === undefined) return []
    // like a careful UI: never demote the last admin (the policy would refuse it everywhere else)
    if (roleOf(s, t) === 'admin' && role !== 'admin' && adminsOf(s).length === 1) return []
    const what = `p${p.index} sets p${target % this.net.peers.length} ${role}`
    const edit = (d: AutomergeDoc): void => put(d, ['members', t, 'role'], role)
    // an admin stepping down: only another admin may demote them, so a tab that writes it anyway
    // (no UI does) offers everyone a change they all refuse
    const self = t === p.identity.id && role !== 'admin'
    const made = self ? p.forge('space', what, edit) : p.write('space', what, edit)
    if (made === undefined) return []
    if (self) {
      this.net.inject(made)
      return [{ made, admitted: false }]
    }
    const ok =
      this.ref.role(p.identity.id) === 'admin' &&
      this.ref.role(t) !== undefined &&
      !(this.ref.role(t) === 'admin' && role !== 'admin' && this.ref.admins() === 1)
    if (ok) this.ref.roles.set(t, role)
    return [{ made, admitted: ok }]
  }

  /** An admin removes a member (Spaces.remove: the cutoff is this replica's heads of them). */
  remove(by: number, target: number): Outcome[] {
    const p = this.peer(by)
    const t = this.peer(target).identity.id
    const heads = [
      { docId: this.net.spaceId, actors: p.actorsOf('space', t) },
      { docId: this.net.dataId, actors: p.actorsOf('data', t) },
    ]
    const record = removeMember(p.state(), t, p.identity.id, heads, this.net.now())
    if (!record.ok && t === p.identity.id && roleOf(p.state(), t) === 'admin') {
      // an admin leaving: only another admin may remove them (removeMember says so); a tab that
      // writes it anyway offers everyone a change they all refuse
      const value = { by: t, at: this.net.now(), cutoff: {} }
      const made = p.forge('space', `p${p.index} removes themselves`, (d) =>
        put(d, ['removed', t], value),
      )
      if (made === undefined) return []
      this.net.inject(made)
      return [{ made, admitted: false }]
    }
    if (!record.ok) return []
    const made = p.write('space', `p${p.index} removes p${target % this.net.peers.length}`, (d) =>
      put(d, ['removed', t], record.value),
    )
    if (made === undefined) return []
    const ok =
      this.ref.role(p.identity.id) === 'admin' &&
      this.ref.roles.has(t) &&
      !this.ref.removed.has(t) &&
      !(this.ref.role(t) === 'admin' && this.ref.admins() === 1)
    if (ok) this.ref.removed.add(t)
    return [{ made, admitted: ok }]
  }

  /** A non-admin's modified build tries something only admins may do (or a writer's listing). */
  forbidden(who: number, kind: ForbiddenKind, other: number): Outcome[] {
    const p = this.peer(who)
    const me = p.identity.id
    if (roleOf(p.state(), me) === 'admin') return []
    const n = this.net.peers.length
    const o = this.peer(other % n === who % n ? other + 1 : other).identity.id
    const now = this.net.now()
    const edit = (d: AutomergeDoc): void => {
      if (kind === 'self-admin') put(d, ['members', me, 'role'], 'admin')
      else if (kind === 'other-role') put(d, ['members', o, 'role'], 'reader')
      else if (kind === 'other-name') put(d, ['members', o, 'name'], 'renamed')
      else if (kind === 'docs-delete') del(d, ['docs', this.net.dataId])
      else if (kind === 'docs-add-other')
        put(d, ['docs', newDocIdIn(this.net.spaceId)], { addedBy: o, addedAt: now })
      else if (kind === 'docs-add-self')
        put(d, ['docs', newDocIdIn(this.net.spaceId)], { addedBy: me, addedAt: now })
      else if (kind === 'remove-other') put(d, ['removed', o], { by: me, at: now, cutoff: {} })
      else
        put(d, ['invites', `forged${now}`], { role: 'admin', maxUses: 9, expiresAt: now, by: me })
    }
    const made = p.forge('space', `p${p.index} (non-admin) ${kind}`, edit)
    if (made === undefined) return []
    this.net.inject(made)
    // a writer may list a document of their own; nothing else here is a non-admin's to do
    return [{ made, admitted: kind === 'docs-add-self' && this.ref.role(me) === 'writer' }]
  }

  /**
   * `who` writes to the data document: on its own replica if it believes it may (a writer or an
   * admin) or was removed (a removed member's build that keeps writing); otherwise a modified
   * build offers the change to everyone.
   */
  write(who: number): Outcome[] {
    const p = this.peer(who)
    const me = p.identity.id
    const s = p.state()
    const key = `w${++this.writes}`
    const what = `p${p.index} writes ${key}`
    const role = roleOf(s, me)
    const own = role === 'admin' || role === 'writer' || s.removed.has(me)
    const made = own
      ? p.write('data', what, (d) => d.put('_root', key, me.slice(-6)))
      : p.forge('data', what, (d) => d.put('_root', key, me.slice(-6)))
    if (made === undefined) return []
    if (!own) this.net.inject(made)
    const r = this.ref.role(me)
    return [{ made, admitted: r === 'admin' || r === 'writer' }]
  }
}
