/**
 * The space document's changes replayed in causal order: a member's change that depends on an
 * admin's change must be judged as its own author's, whatever order the two arrive in.
 */
import { describe, expect, it } from 'vitest'
import { am, type AutomergeDoc } from '../automerge'
import { bytesToHex, sha256 } from '../bytes'
import type { IncomingChange } from '../repo/governance'
import type { Identity } from '../identity'
import { normalizeMaterialized } from '../values'
import { replaySpaceChanges } from './governance'
import { createInvite, joinValues, type Invite } from './invite'
import { readSpace, roleOf } from './model'
import { SPACE, T0, HOUR, ada, ned, nia, rae, teamValue, wes } from './test-fixtures'

const NOW = T0 + HOUR

function spaceDoc(): AutomergeDoc {
  const doc = am().create({ actor: '01'.repeat(16) })
  for (const [k, x] of Object.entries(teamValue())) doc.putObject('_root', k, x as never)
  doc.commit()
  return doc
}

let actors = 0x20
/** `author` edits a fork of `base` and commits: the change and what the verifier is told of it. */
function change(
  base: AutomergeDoc,
  author: Identity,
  edit: (d: AutomergeDoc) => void,
): { bytes: Uint8Array; incoming: IncomingChange; fork: AutomergeDoc } {
  const fork = base.fork((actors++).toString(16).padStart(32, '0'))
  edit(fork)
  fork.commit()
  const bytes = fork.getLastLocalChange()
  if (bytes === null) throw new Error('no change')
  const { actor, seq } = am().decodeChange(bytes)
  const hash = bytesToHex(sha256(bytes.subarray(8)))
  return { bytes, fork, incoming: { hash, actor, seq, author: author.id } }
}

const memberMap = (d: AutomergeDoc, did: string): string => {
  const members = d.getWithType('_root', 'members') as [string, string]
  return (d.getWithType(members[1], did) as [string, string])[1]
}

/** ada (admin) renames the space; wes (writer), having seen it, names himself: both honest. */
function honest(doc: AutomergeDoc) {
  const admin = change(doc, ada, (d) => d.put('_root', 'name', 'Renamed'))
  const writer = change(admin.fork, wes, (d) => d.put(memberMap(d, wes.id), 'name', 'Wes'))
  return { admin, writer }
}

/** Replays changes into `doc` at NOW. */
const replay = (doc: AutomergeDoc, ...cs: ReturnType<typeof change>[]) =>
  replaySpaceChanges(
    doc,
    cs.map((c) => c.incoming),
    cs.map((c) => c.bytes),
    SPACE,
    NOW,
  )

/** ada (admin) renames the space; rae (reader), having seen it, makes herself admin. */
function escalation(doc: AutomergeDoc) {
  const admin = change(doc, ada, (d) => d.put('_root', 'name', 'Renamed'))
  const reader = change(admin.fork, rae, (d) => d.put(memberMap(d, rae.id), 'role', 'admin'))
  return { admin, reader }
}

describe('replaySpaceChanges', () => {
  it("judges a reader's change as the reader's even when it arrives before its dependency", () => {
    // regression: applied in arrival order, the reader's change was queued by Automerge (empty
    // patches, allowed) and then applied together with the admin's, judged as the admin's
    const doc = spaceDoc()
    const { admin, reader } = escalation(doc)
    const r = replaySpaceChanges(
      doc,
      [reader.incoming, admin.incoming],
      [reader.bytes, admin.bytes],
      SPACE,
      NOW,
    )
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('NOT_ALLOWED')
  })

  it('refuses (to retry later) a change whose dependency has not arrived', () => {
    const doc = spaceDoc()
    const { reader } = escalation(doc)
    const r = replaySpaceChanges(doc, [reader.incoming], [reader.bytes], SPACE, NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('MISSING_DEPS')
  })

  it('accepts honest changes in any arrival order', () => {
    const doc = spaceDoc()
    const { admin, writer } = honest(doc)
    expect(replay(doc, writer, admin)).toEqual({ ok: true, value: undefined })
  })

  it('judges a change that comes twice, or that the document has already, once', () => {
    // regression: a mirror's log held the same changes in two members' envelopes; the second
    // copy "did not apply" and the whole batch was refused, so a reader never got the space
    const doc = spaceDoc()
    const { admin, writer } = honest(doc)
    expect(replay(doc, admin, writer, admin, writer)).toEqual({ ok: true, value: undefined })
    doc.applyChanges([admin.bytes])
    expect(replay(doc, admin, writer)).toEqual({ ok: true, value: undefined })
    // a duplicate is no way around the rules: the reader's escalation is still refused
    const fresh = spaceDoc()
    const { admin: renamed, reader } = escalation(fresh)
    const sneaky = replay(fresh, renamed, reader, reader)
    expect(sneaky.ok).toBe(false)
    if (!sneaky.ok) expect(sneaky.error.code).toBe('NOT_ALLOWED')
  })
})

describe('maxUses under concurrency', () => {
  const writeJoin = (inv: Invite, who: Identity, at: number) => (d: AutomergeDoc) => {
    const { member, redeemed } = joinValues(inv, who.id, at)
    const members = d.getWithType('_root', 'members') as [string, string]
    d.putObject(members[1], who.id, member as never)
    const all = d.getWithType('_root', 'redeemed') as [string, string]
    const mine = d.getWithType(all[1], inv.token.id) as [string, string] | null
    const obj = mine === null ? d.putObject(all[1], inv.token.id, {}) : mine[1]
    d.putObject(obj, who.id, redeemed)
  }

  /** Two peers take the same two concurrent joins in opposite orders; what each ends with. */
  function bothOrders(maxUses: number, times: [number, number]) {
    const inv = createInvite({
      spaceId: SPACE,
      role: 'writer',
      expiresAt: T0 + 24 * HOUR,
      maxUses,
      inviter: ada,
    })
    const doc = spaceDoc()
    // both newcomers saw the same space (neither join): concurrent joins with one invite, each
    // creating /redeemed/<invite> (a map conflict that hides one redemption)
    const first = change(doc, nia, writeJoin(inv, nia, times[0]))
    const second = change(doc, ned, writeJoin(inv, ned, times[1]))
    const outcomes = [
      [first, second],
      [second, first],
    ].map((order) => {
      const peer = doc.clone()
      const verdicts = order.map((c) => {
        const r = replaySpaceChanges(peer, [c.incoming], [c.bytes], SPACE, NOW)
        if (r.ok) peer.applyChanges([c.bytes])
        return r.ok ? 'taken' : r.error.code
      })
      const s = readSpace(normalizeMaterialized(peer.materialize('/')), SPACE)
      return {
        verdicts,
        counted: [nia, ned].filter((p) => roleOf(s, p.id) === 'writer').map((p) => p.id),
        over: [...s.overQuota.keys()].sort(),
      }
    })
    return outcomes as [(typeof outcomes)[0], (typeof outcomes)[0]]
  }

  it('every peer takes both joins and agrees which one counts, whatever the order', () => {
    // regression: each peer refused whichever join reached it second (INVITE_EXHAUSTED), so the
    // two disagreed on who was a member and cut each other's forwarders off
    for (const times of [
      [NOW - 5, NOW - 1],
      [NOW - 1, NOW - 5],
      [NOW, NOW], // a tie: the did decides
    ] as [number, number][]) {
      const [one, two] = bothOrders(1, times)
      expect(one.verdicts).toEqual(['taken', 'taken'])
      expect(two.verdicts).toEqual(['taken', 'taken'])
      expect(one.counted).toHaveLength(1)
      expect(two.counted).toEqual(one.counted)
      expect(two.over).toEqual(one.over)
      const earlier =
        times[0] !== times[1] ? (times[0] < times[1] ? nia.id : ned.id) : [nia.id, ned.id].sort()[0]
      expect(one.counted).toEqual([earlier])
    }
    // with room for both, both count
    const [a, b] = bothOrders(2, [NOW - 5, NOW - 1])
    expect(a.counted.sort()).toEqual([nia.id, ned.id].sort())
    expect(b.counted.sort()).toEqual(a.counted)
    expect(a.over).toEqual([])
  })

  it('refuses a join made after the invite was used up in its own history', () => {
    const inv = createInvite({
      spaceId: SPACE,
      role: 'writer',
      expiresAt: T0 + 24 * HOUR,
      maxUses: 1,
      inviter: ada,
    })
    const doc = spaceDoc()
    const first = change(doc, nia, writeJoin(inv, nia, NOW - 5))
    doc.applyChanges([first.bytes])
    const late = change(doc, ned, writeJoin(inv, ned, NOW - 10)) // backdated, but it saw nia's
    const r = replaySpaceChanges(doc, [late.incoming], [late.bytes], SPACE, NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('INVITE_EXHAUSTED')
  })
})
