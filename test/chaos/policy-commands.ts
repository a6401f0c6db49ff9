/**
 * The policy model's schedule as fast-check commands. Each prints itself the way it reads in a
 * shrunk counterexample (`p1 sets p2 admin`, `deliver p0→p3 ×2`, …).
 *
 * In a sequential run every action is followed by a full exchange between all peers, so nothing
 * is concurrent, and the reference model's prediction is checked: each change it predicts admitted
 * is on every peer, each other one on none (but its author's own replica, for a removed member
 * who keeps writing), and every peer reads the reference's roles. In a concurrent run, deliveries,
 * partitions and heals are commands too, and two admins act on different replicas.
 */
import fc from 'fast-check'
import type { Role } from '../../src/core/spaces/model'
import { PolicyViolation, membersOf, type PolicyChecker } from './policy-invariants'
import type { ForbiddenKind, JoinKind, Outcome, PolicyWorld } from './policy-world'

export interface PolicyRun {
  world: PolicyWorld
  checker: PolicyChecker
  sequential: boolean
  /** actions that wrote something (the rest were refused by the actor's own checks) */
  acted: number
}

type Cmd = fc.Command<object, PolicyRun>

abstract class Base implements Cmd {
  check(): boolean {
    return true
  }
  run(_m: object, r: PolicyRun): void {
    const net = r.world.net
    net.step++
    const outcomes = this.act(r)
    if (outcomes.length > 0) r.acted++
    net.trace.push(`${String(this)}: ${outcomes.map((o) => o.made.what).join(', ') || '(nothing)'}`)
    if (r.sequential) {
      net.syncAll()
      checkPrediction(r, outcomes)
    }
    r.checker.step()
  }
  abstract act(r: PolicyRun): Outcome[]
  abstract toString(): string
}

function checkPrediction(r: PolicyRun, outcomes: Outcome[]): void {
  const { net, ref } = r.world
  for (const { made, admitted } of outcomes) {
    const own = net.peers.find((p) => p.identity.id === made.author)
    for (const p of net.peers) {
      if (!admitted && !made.injected && p === own) continue // a removed member's own replica
      if (p.has(made.hash) !== admitted)
        throw new PolicyViolation(
          `the reference predicts "${made.what}" ${admitted ? 'admitted' : 'refused'} everywhere; ${p.name} ${p.has(made.hash) ? 'took' : 'refused'} it`,
        )
    }
  }
  const want = net.peers.map((p) => `${p.identity.id.slice(-6)}:${ref.role(p.identity.id) ?? '-'}`)
  for (const p of net.peers) {
    const got = net.peers.map(
      (q) => `${q.identity.id.slice(-6)}:${roleOfIn(p, q.identity.id) ?? '-'}`,
    )
    if (got.join(',') !== want.join(','))
      throw new PolicyViolation(
        `${p.name} reads roles ${got.join(',')}, the reference ${want.join(',')} (${membersOf(p.state())})`,
      )
  }
}

const roleOfIn = (p: PolicyRun['world']['net']['peers'][number], did: string): Role | undefined =>
  p.state().removed.has(did) ? undefined : p.state().members.get(did)?.role

class Invite extends Base {
  constructor(
    readonly by: number,
    readonly role: Role,
    readonly maxUses: number,
    readonly short: boolean,
  ) {
    super()
  }
  act(r: PolicyRun) {
    return r.world.invite(this.by, this.role, this.maxUses, this.short)
  }
  toString() {
    return `p${this.by} invites ${this.role} ×${this.maxUses}${this.short ? ' (90 s)' : ''}`
  }
}

class Join extends Base {
  constructor(
    readonly who: number,
    readonly which: number,
    readonly kind: JoinKind,
  ) {
    super()
  }
  act(r: PolicyRun) {
    return r.world.join(this.who, this.which, this.kind)
  }
  toString() {
    return `p${this.who} joins (${this.kind}) with invite #${this.which}`
  }
}

class SetRole extends Base {
  constructor(
    readonly by: number,
    readonly target: number,
    readonly role: Role,
  ) {
    super()
  }
  act(r: PolicyRun) {
    return r.world.setRole(this.by, this.target, this.role)
  }
  toString() {
    return `p${this.by} sets p${this.target} ${this.role}`
  }
}

class Remove extends Base {
  constructor(
    readonly by: number,
    readonly target: number,
  ) {
    super()
  }
  act(r: PolicyRun) {
    return r.world.remove(this.by, this.target)
  }
  toString() {
    return `p${this.by} removes p${this.target}`
  }
}

/** Two admins act at once on their own replicas, neither having seen the other's change. */
class Duel extends Base {
  constructor(
    readonly a: number,
    readonly b: number,
    readonly what: 'demote' | 'remove' | 'conflict',
    readonly target: number,
  ) {
    super()
  }
  act(r: PolicyRun) {
    const w = r.world
    if (this.what === 'demote')
      return [...w.setRole(this.a, this.b, 'writer'), ...w.setRole(this.b, this.a, 'reader')]
    if (this.what === 'remove') return [...w.remove(this.a, this.b), ...w.remove(this.b, this.a)]
    return [...w.setRole(this.a, this.target, 'admin'), ...w.setRole(this.b, this.target, 'reader')]
  }
  toString() {
    return this.what === 'conflict'
      ? `p${this.a} promotes p${this.target} while p${this.b} demotes them`
      : `p${this.a} and p${this.b} ${this.what} each other`
  }
}

class Forbidden extends Base {
  constructor(
    readonly who: number,
    readonly kind: ForbiddenKind,
    readonly other: number,
  ) {
    super()
  }
  act(r: PolicyRun) {
    return r.world.forbidden(this.who, this.kind, this.other)
  }
  toString() {
    return `p${this.who} tries ${this.kind} (p${this.other})`
  }
}

class Write extends Base {
  constructor(readonly who: number) {
    super()
  }
  act(r: PolicyRun) {
    return r.world.write(this.who)
  }
  toString() {
    return `p${this.who} writes data`
  }
}

class Deliver extends Base {
  constructor(
    readonly from: number,
    readonly to: number,
    readonly count: number,
  ) {
    super()
  }
  act(r: PolicyRun) {
    r.world.net.deliver(r.world.peer(this.from), r.world.peer(this.to), this.count)
    return []
  }
  toString() {
    return `deliver p${this.from}→p${this.to} ×${this.count}`
  }
}

class Link extends Base {
  constructor(
    readonly a: number,
    readonly b: number,
    readonly heal: boolean,
  ) {
    super()
  }
  act(r: PolicyRun) {
    const [a, b] = [r.world.peer(this.a), r.world.peer(this.b)]
    if (this.heal) r.world.net.heal(a, b)
    else r.world.net.partition(a, b)
    return []
  }
  toString() {
    return `${this.heal ? 'heal' : 'partition'} p${this.a}|p${this.b}`
  }
}

class Exchange extends Base {
  act(r: PolicyRun) {
    r.world.net.syncAll()
    return []
  }
  toString() {
    return 'everyone exchanges everything (over unpartitioned links)'
  }
}

const ROLES: Role[] = ['admin', 'writer', 'reader']
const JOINS: JoinKind[] = ['valid', 'valid', 'stale', 'forged-proof', 'forged-role']
const FORBIDDEN: ForbiddenKind[] = [
  'self-admin',
  'other-role',
  'other-name',
  'docs-delete',
  'docs-add-other',
  'docs-add-self',
  'remove-other',
  'invite-record',
]

/** The commands for `peers` peers; network commands only when `concurrent`. */
export function policyCommands(peers: number, concurrent: boolean): fc.Arbitrary<Cmd>[] {
  const p = fc.nat(peers - 1)
  const role = fc.constantFrom(...ROLES)
  const actions: fc.Arbitrary<Cmd>[] = [
    fc
      .tuple(p, role, fc.integer({ min: 1, max: 3 }), fc.boolean())
      .map(([b, r, n, s]) => new Invite(b, r, n, s)),
    fc.tuple(p, fc.nat(7), fc.constantFrom(...JOINS)).map(([w, i, k]) => new Join(w, i, k)),
    fc.tuple(p, fc.nat(7), fc.constantFrom(...JOINS)).map(([w, i, k]) => new Join(w, i, k)),
    fc.tuple(p, p, role).map(([b, t, r]) => new SetRole(b, t, r)),
    fc.tuple(p, p).map(([b, t]) => new Remove(b, t)),
    fc.tuple(p, fc.constantFrom(...FORBIDDEN), p).map(([w, k, o]) => new Forbidden(w, k, o)),
    fc.tuple(p, fc.constantFrom(...FORBIDDEN), p).map(([w, k, o]) => new Forbidden(w, k, o)),
    p.map((w) => new Write(w)),
    p.map((w) => new Write(w)),
  ]
  if (!concurrent) return actions
  const deliver = fc
    .tuple(p, p, fc.integer({ min: 1, max: 6 }))
    .map(([a, b, n]) => new Deliver(a, b, n))
  return [
    ...actions,
    fc
      .tuple(p, p, fc.constantFrom('demote' as const, 'remove' as const, 'conflict' as const), p)
      .map(([a, b, w, t]) => new Duel(a, b, w, t)),
    fc
      .tuple(p, p, fc.constantFrom('demote' as const, 'remove' as const, 'conflict' as const), p)
      .map(([a, b, w, t]) => new Duel(a, b, w, t)),
    deliver,
    deliver,
    deliver,
    fc.tuple(p, p, fc.boolean()).map(([a, b, h]) => new Link(a, b, h)),
    fc.constant(new Exchange()),
  ]
}
