/**
 * The policy model's invariants, read from each peer's replica (never from the policy's code):
 *
 * - no change whose author was not an admin as of its dependencies changes roles, removals,
 *   invites or `/docs` on any peer (a writer adding a document entry of their own, and a
 *   newcomer's own member record in a join, are what non-admins may do);
 * - a removed member's data changes past the removal's cutoff are held only by peers that took
 *   them before they knew of the removal (the documented limit "removal cutoff as seen by the
 *   remover"), never by a peer that knew;
 * - every peer's space keeps at least one admin;
 * - after the final heal, every peer holds the same space changes and reads the same members,
 *   roles and removals; or, where some peer refuses a change another took, that refusal is the
 *   documented arrival-order split (SECURITY.md "Other rules are judged in arrival order"): the
 *   refusing peer holds a change concurrent with it that lowered the role of its author or of
 *   the inviter of its join. Such schedules are counted, not failed; any other split fails.
 */
import { roleOf, type Role, type SpaceState } from '../../src/core/spaces/model'
import type { Made, PolicyNet, PolicyPeer } from './policy-net'

/**
 * Known kinds of split (SECURITY.md): `arrival-order`, a change concurrent with a demotion or
 * removal of its author or of its inviter; `data`, a data change taken before its author's
 * removal or demotion arrived. (A third one this model found, two admins stepping down at once,
 * is fixed (`mayChangeSpace`): it now fails the model like any other split.)
 */
export type SplitKind = 'arrival-order' | 'data'

export class PolicyViolation extends Error {
  readonly code = 'POLICY_VIOLATION'
  constructor(message: string) {
    super(message)
    this.name = 'PolicyViolation'
  }
}

const RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3 }
const rank = (s: SpaceState, did: string): number => {
  const r = roleOf(s, did)
  return r === undefined ? 0 : RANK[r]
}

const short = (did: string | undefined): string => (did ?? '?').slice(-6)

/** What a change did to the space, read on `p`'s replica at its dependencies and right after it. */
function around(p: PolicyPeer, m: Made): { before: SpaceState; after: SpaceState } {
  return { before: p.stateAt(m.deps), after: p.stateAt([m.hash]) }
}

const json = (v: unknown): string => JSON.stringify(v ?? null)

/** Why a non-admin's admitted change is a violation, or undefined. */
function nonAdminHarm(before: SpaceState, after: SpaceState, author: string): string | undefined {
  const dids = new Set([...before.members.keys(), ...after.members.keys()])
  for (const did of dids) {
    if (roleOf(before, did) === roleOf(after, did)) continue
    // a join: the newcomer's own record appears (invites are judged by the policy; counted below)
    if (did === author && before.members.get(did) === undefined && !before.removed.has(did))
      continue
    return `the role of ${short(did)}: ${roleOf(before, did)} → ${roleOf(after, did)}`
  }
  for (const did of new Set([...before.removed.keys(), ...after.removed.keys()]))
    if (json(before.removed.get(did)) !== json(after.removed.get(did)))
      return `the removal of ${short(did)}`
  for (const id of new Set([...before.invites.keys(), ...after.invites.keys()]))
    if (json(before.invites.get(id)) !== json(after.invites.get(id))) return `invite record ${id}`
  for (const id of new Set([...before.docs.keys(), ...after.docs.keys()])) {
    const was = before.docs.get(id)
    const is = after.docs.get(id)
    if (json(was) === json(is)) continue
    if (was === undefined && is?.addedBy === author && roleOf(before, author) === 'writer') continue
    return `/docs/${id}`
  }
  return undefined
}

export interface CheckFigures {
  /** changes by non-admins checked (on some peer) */
  nonAdminChecked: number
  /** removed members' changes past the cutoff held by a peer that got them first */
  removalArrivalOrder: number
}

export class PolicyChecker {
  /** per peer: hashes already checked */
  private readonly seen = new Map<PolicyPeer, Set<string>>()
  readonly figures: CheckFigures = { nonAdminChecked: 0, removalArrivalOrder: 0 }

  constructor(private readonly net: PolicyNet) {}

  /** After every step: the new changes on every peer, and each peer's admins. */
  step(): void {
    for (const p of this.net.peers) {
      let seen = this.seen.get(p)
      if (seen === undefined) this.seen.set(p, (seen = new Set()))
      for (const [hash] of p.admitted) {
        if (seen.has(hash)) continue
        seen.add(hash)
        const m = this.net.made.get(hash)!
        if (m.doc === 'space') this.checkSpaceChange(p, m)
      }
      if (
        p.state().creator !== undefined &&
        ![...p.state().members.keys()].some((d) => roleOf(p.state(), d) === 'admin')
      )
        throw new PolicyViolation(`${p.name} has no admin left`)
      this.checkRemoved(p)
    }
  }

  private checkSpaceChange(p: PolicyPeer, m: Made): void {
    if (m.deps.length === 0) return // the genesis (checkGenesis)
    const { before, after } = around(p, m)
    if (roleOf(before, m.author) === 'admin') return
    this.figures.nonAdminChecked++
    const harm = nonAdminHarm(before, after, m.author)
    if (harm !== undefined)
      throw new PolicyViolation(
        `${p.name} admitted "${m.what}" by ${short(m.author)} (${roleOf(before, m.author) ?? 'no role'} at its dependencies), which changes ${harm}`,
      )
  }

  private checkRemoved(p: PolicyPeer): void {
    const s = p.state()
    for (const [did, removal] of s.removed) {
      if (did === p.identity.id) continue // the removed member's own replica holds what it wrote
      const seenAt = p.removalSeen.get(did)
      for (const c of p.data.getChangesMeta([])) {
        const m = this.net.made.get(c.hash)!
        if (m.author !== did) continue
        const max = removal.cutoff.get(this.net.dataId)?.get(c.actor)
        if (max !== undefined && c.seq <= max) continue
        const at = p.admitted.get(c.hash)!
        if (seenAt === undefined || at > seenAt)
          throw new PolicyViolation(
            `${p.name} took "${m.what}" by the removed ${short(did)} (seq ${c.seq}, cutoff ${max ?? 'none'}) after it knew of the removal`,
          )
      }
    }
  }

  /**
   * After the final heal: agreement, or a split of a known kind (`split` names the kind and an
   * example). Any other difference between the peers throws.
   */
  final(): { split: { kind: SplitKind; example: string } | undefined } {
    this.step()
    const peers = this.net.peers
    const all = new Set<string>()
    // what a removed member's replica wrote to the data document after the removal (a modified
    // build that keeps writing) is on that replica alone
    for (const p of peers)
      for (const h of p.admitted.keys()) {
        const m = this.net.made.get(h)!
        if (m.doc === 'space' || m.author !== p.identity.id || this.heldElsewhere(h, p)) all.add(h)
      }
    let split: { kind: SplitKind; example: string } | undefined
    for (const p of peers) {
      for (const h of all) {
        const m = this.net.made.get(h)!
        if (p.has(h) || m.deps.some((d) => !p.doc(m.doc).getChangeMetaByHash(d))) continue
        const why = this.explain(p, m)
        if (why === undefined)
          throw new PolicyViolation(
            `${p.name} refuses "${m.what}" by ${short(m.author)}, which another peer took, and no concurrent change explains it`,
          )
        split ??= { kind: why.kind, example: `${p.name} refuses "${m.what}": ${why.text}` }
      }
    }
    if (split !== undefined) return { split }
    const members = peers.map((p) => membersOf(p.state()))
    if (new Set(members).size !== 1)
      throw new PolicyViolation(
        `the peers hold the same changes but read different members: ${members.join(' / ')}`,
      )
    return { split: undefined }
  }

  private heldElsewhere(hash: string, p: PolicyPeer): boolean {
    return this.net.peers.some((q) => q !== p && q.has(hash))
  }

  /** Why `p` refuses `m` (a change another peer took), if it is a split of a known kind. */
  private explain(p: PolicyPeer, m: Made): { kind: SplitKind; text: string } | undefined {
    if (m.doc === 'data') {
      // judged against this peer's space: its author may no longer write here
      const s = p.state()
      if (rank(s, m.author) < RANK.writer)
        return {
          kind: 'data',
          text: `${short(m.author)} is ${roleOf(s, m.author) ?? 'removed or no member'} here`,
        }
      return undefined
    }
    const holder = this.net.peers.find((q) => q.has(m.hash))
    if (holder === undefined) return undefined
    const at = around(holder, m)
    // a join relies on its inviter as well
    const joins = at.before.members.get(m.author) === undefined
    const inviter = joins ? at.after.members.get(m.author)?.addedBy : undefined
    const relied = [m.author, ...(inviter === undefined ? [] : [inviter])]
    const anc = this.ancestors(m.hash)
    for (const h of p.admitted.keys()) {
      const d = this.net.made.get(h)!
      if (d.doc !== 'space' || anc.has(h) || this.ancestors(h).has(m.hash)) continue
      const { before, after } = around(p, d)
      for (const did of relied)
        if (rank(after, did) < rank(before, did))
          return {
            kind: 'arrival-order',
            text: `it holds "${d.what}", concurrent with it, which lowers ${short(did)}`,
          }
    }
    return undefined
  }

  private readonly anc = new Map<string, Set<string>>()
  private ancestors(hash: string): Set<string> {
    let out = this.anc.get(hash)
    if (out !== undefined) return out
    out = new Set()
    const stack = [...(this.net.made.get(hash)?.deps ?? [])]
    while (stack.length > 0) {
      const h = stack.pop()!
      if (out.has(h)) continue
      out.add(h)
      stack.push(...(this.net.made.get(h)?.deps ?? []))
    }
    this.anc.set(hash, out)
    return out
  }
}

/** Members, roles and removals, sorted: the same string on peers that agree. */
export function membersOf(s: SpaceState): string {
  const roles = [...s.members.keys()].sort().map((d) => `${short(d)}:${roleOf(s, d) ?? '-'}`)
  return `${roles.join(',')} removed[${[...s.removed.keys()].sort().map(short).join(',')}]`
}
