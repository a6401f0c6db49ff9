/**
 * The policy model's invariants fail when the policy lets the wrong change in: each case applies
 * a change without judging it (`takeUnjudged`), as a broken policy would, and the checker must
 * say so. (Without these, a checker that never fails would pass the policy suite.)
 */
import { afterEach, describe, expect, it } from 'vitest'
import { PolicyChecker, PolicyViolation } from './policy-invariants'
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
