/**
 * The policy model's invariants fail when the policy lets the wrong change in: each case applies
 * a change without judging it (`takeUnjudged`), as a broken policy would, and the checker must
 * say so. (Without these, a checker that never fails would pass the policy suite.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { PolicyChecker, PolicyViolation, membersOf } from './policy-invariants'
import { PolicyNet } from './policy-net'
import { PolicyWorld } from './policy-world'

let net: PolicyNet | undefined
afterEach(() => {
  net?.free()
  net = undefined
})

function world(): { w: PolicyWorld; checker: PolicyChecker } {
  net = new PolicyNet(4) // p0, p1 admins, p2 writer, p3 reader
  const w = new PolicyWorld(net)
  w.setup()
  const checker = new PolicyChecker(net)
  checker.step()
  return { w, checker }
}

describe('policy model invariants', () => {
  it('hold on an honest schedule', () => {
    const { w, checker } = world()
    w.setRole(0, 3, 'writer')
    w.write(3)
    w.remove(1, 2)
    w.net.syncAll()
    checker.step()
    expect(checker.final().split).toBeUndefined()
  })

  it("catch a reader's self-promotion taken by one peer", () => {
    const { w, checker } = world()
    const [out] = w.forbidden(3, 'self-admin', 0)
    expect(w.net.peers.some((p) => p.has(out!.made.hash))).toBe(false) // the policy refused it
    w.net.peers[1]!.takeUnjudged(out!.made)
    expect(() => checker.step()).toThrow(PolicyViolation)
  })

  it("catch a writer's deletion of a /docs entry", () => {
    const { w, checker } = world()
    const [out] = w.forbidden(2, 'docs-delete', 0)
    w.net.peers[0]!.takeUnjudged(out!.made)
    expect(() => checker.step()).toThrow(/\/docs\//)
  })

  it("catch a removed member's write taken after the removal", () => {
    const { w, checker } = world()
    w.remove(0, 2)
    w.net.syncAll()
    checker.step()
    const [out] = w.write(2) // on p2's own replica (it keeps writing)
    w.net.syncAll()
    checker.step() // refused by every other peer: fine
    w.net.peers[0]!.takeUnjudged(out!.made)
    expect(() => checker.step()).toThrow(/after it knew of the removal/)
  })

  it('catch a peer that refuses an honest change without a concurrent cause', () => {
    const { w, checker } = world()
    const [p0, , , p3] = w.net.peers
    w.net.partition(p0!, p3!)
    w.setRole(0, 2, 'admin')
    w.net.deliver(p0!, w.net.peers[1]!)
    // p3 never gets it: as if it had refused the promotion
    expect(() => checker.final()).toThrow(/no concurrent change explains it/)
  })
})

describe('known splits (SECURITY.md), as the model classifies them', () => {
  it('two admins removing each other at once: arrival order decides, and it is said so', () => {
    const { w, checker } = world()
    w.remove(0, 1)
    w.remove(1, 0) // on p1's replica, which has not seen its removal yet
    w.net.syncAll()
    const { split } = checker.final()
    expect(split?.kind).toBe('arrival-order')
  })

  // Found by this model (seed 1174821326): each admin stepped down while the other stayed, as
  // each saw it; together they left no admin, each peer refused whichever came second, and the
  // peers kept different admins for good. Now only another admin demotes or removes an admin
  // (mayChangeSpace): both are refused everywhere and the peers agree.
  it('two admins stepping down at once: both refused everywhere, no split', () => {
    const { w, checker } = world()
    const [p0, p1] = w.net.peers
    const a = w.setRole(0, 0, 'writer')
    const b = w.setRole(1, 1, 'writer') // p1 has not seen p0's step
    expect(a).toHaveLength(1)
    expect(b).toHaveLength(1)
    w.net.syncAll()
    for (const p of w.net.peers) {
      expect(p.has(a[0]!.made.hash)).toBe(false)
      expect(p.has(b[0]!.made.hash)).toBe(false)
    }
    expect(checker.final().split).toBeUndefined()
    expect(membersOf(p0!.state())).toBe(membersOf(p1!.state()))
  })
})
