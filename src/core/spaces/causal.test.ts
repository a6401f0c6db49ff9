/**
 * Changes to the space document judged by their causal past (issue 12, hole 3): the author's
 * role as of the change's dependencies, and every operation, hidden or not, by the path it
 * writes. Each verifier here runs `replaySpaceChanges`, as the signed-writes plumbing does.
 */
import { describe, expect, it } from 'vitest'
import { am, type AutomergeDoc } from '../automerge'
import { bytesToHex, sha256 } from '../bytes'
import type { Result } from '../errors'
import type { Identity } from '../identity'
import type { IncomingChange } from '../repo/governance'
import { changeOps } from './change-ops'
import { replaySpaceChanges } from './governance'
import { createInvite, joinValues } from './invite'
import { readSpace } from './model'
import {
  DOC,
  DOC2,
  HOUR,
  SPACE,
  T0,
  ada,
  mal,
  nia,
  ned,
  rae,
  teamValue,
  wes,
} from './test-fixtures'

const NOW = T0 + HOUR
const encodeChange = (c: object): Uint8Array =>
  (am() as unknown as { encodeChange(c: object): Uint8Array }).encodeChange(c)
const OK = { ok: true, value: undefined }

function spaceDoc(): AutomergeDoc {
  const doc = am().create({ actor: '01'.repeat(16) })
  for (const [k, x] of Object.entries(teamValue())) doc.putObject('_root', k, x as never)
  doc.commit()
  return doc
}

let actors = 0x40
const nextActor = (): string => (actors++).toString(16).padStart(32, '0')

interface Made {
  bytes: Uint8Array
  incoming: IncomingChange
}

function made(bytes: Uint8Array, author: Identity): Made {
  const { actor, seq } = am().decodeChange(bytes)
  return {
    bytes,
    incoming: { hash: bytesToHex(sha256(bytes.subarray(8))), actor, seq, author: author.id },
  }
}

/** `author` edits a fork of `base` (at `heads`, default its current heads) and commits. */
function change(
  base: AutomergeDoc,
  author: Identity,
  edit: (d: AutomergeDoc) => void,
  heads?: string[],
): Made & { fork: AutomergeDoc } {
  const fork = base.fork(nextActor(), heads)
  edit(fork)
  fork.commit()
  const bytes = fork.getLastLocalChange()
  if (bytes === null) throw new Error('no change')
  return { ...made(bytes, author), fork }
}

const objAt = (d: AutomergeDoc, ...path: string[]): string => {
  let obj = '_root'
  for (const k of path) obj = (d.getWithType(obj, k) as [string, string])[1]
  return obj
}

/** A verifier that holds `doc` judges `changes` as one batch. */
const judge = (doc: AutomergeDoc, ...changes: Made[]): Result<void> =>
  replaySpaceChanges(
    doc,
    changes.map((c) => c.incoming),
    changes.map((c) => c.bytes),
    SPACE,
    NOW,
  )

function expectRefused(r: Result<void>, message?: RegExp): void {
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error.code).toBe('NOT_ALLOWED')
  if (message !== undefined) expect(r.error.message).toMatch(message)
}

describe('a change is judged by the role its author had at its dependencies', () => {
  // the admin promotes rae (a reader); concurrently, rae makes a change only the new role allows
  const cases = [
    {
      to: 'admin',
      what: 'demotes a writer',
      forbidden: (d: AutomergeDoc) => d.put(objAt(d, 'members', wes.id), 'role', 'reader'),
    },
    {
      to: 'admin',
      what: 'renames the space',
      forbidden: (d: AutomergeDoc) => d.put(objAt(d, 'space'), 'name', 'Taken'),
    },
    {
      to: 'writer',
      what: 'lists a document',
      forbidden: (d: AutomergeDoc) =>
        d.putObject(objAt(d, 'docs'), DOC2, { addedBy: rae.id, addedAt: NOW }),
    },
  ] as const
  for (const { to, what, forbidden } of cases) {
    it(`promotion to ${to} || the reader ${what}: refused in either order`, () => {
      const doc = spaceDoc()
      const promotion = change(doc, ada, (d) => d.put(objAt(d, 'members', rae.id), 'role', to))
      const attempt = change(doc, rae, forbidden)
      // promotion first, then the reader's change (the order that used to let it in)
      const v1 = doc.clone()
      expect(judge(v1, promotion)).toEqual(OK)
      v1.applyChanges([promotion.bytes])
      expectRefused(judge(v1, attempt), /reader/)
      // the reader's change first (refused, held), then the promotion, then the retry
      const v2 = doc.clone()
      expectRefused(judge(v2, attempt))
      v2.applyChanges([promotion.bytes])
      expectRefused(judge(v2, attempt), /reader/)
      // both in one batch, in both orders
      expectRefused(judge(doc.clone(), promotion, attempt))
      expectRefused(judge(doc.clone(), attempt, promotion))
      // after the promotion, the same change made on top of it is accepted
      const later = change(promotion.fork, rae, forbidden)
      expect(judge(v1, later)).toEqual(OK)
    })
  }

  it('a demotion is not undone by backdating: the lower of the two roles counts', () => {
    const doc = spaceDoc()
    const second = change(doc, ada, (d) => d.put(objAt(d, 'members', wes.id), 'role', 'admin'))
    doc.applyChanges([second.bytes])
    const demotion = change(doc, ada, (d) => d.put(objAt(d, 'members', wes.id), 'role', 'writer'))
    const rename = change(doc, wes, (d) => d.put(objAt(d, 'space'), 'name', 'By wes'))
    // where the demotion is known, wes's admin-only change made before it is refused…
    const v = doc.clone()
    v.applyChanges([demotion.bytes])
    expectRefused(judge(v, rename), /writer/)
    // …where it is not (yet), accepted: a split, like a removal's (docs/SECURITY.md)
    expect(judge(doc.clone(), rename)).toEqual(OK)
  })
})

describe('the last admin, concurrently (found by the policy model, issue 13)', () => {
  // ada and wes are the admins; each steps down, seeing the other stay. Together they would
  // leave none: each verifier took whichever came first and refused the other, so the two
  // admins' replicas kept different admins for good. An admin's own demotion or removal is now
  // refused on the change's own history: the same verdict everywhere, in either order.
  const steps = [
    {
      what: 'demotes themselves',
      step: (who: Identity) => (d: AutomergeDoc) =>
        d.put(objAt(d, 'members', who.id), 'role', 'writer'),
    },
    {
      what: 'removes themselves',
      step: (who: Identity) => (d: AutomergeDoc) =>
        d.putObject(objAt(d, 'removed'), who.id, { by: who.id, at: NOW, cutoff: {} }),
    },
  ]
  for (const { what, step } of steps) {
    it(`two admins each ${what} at once: every verifier refuses both, in either order`, () => {
      const doc = spaceDoc()
      const promote = change(doc, ada, (d) => d.put(objAt(d, 'members', wes.id), 'role', 'admin'))
      doc.applyChanges([promote.bytes])
      const a = change(doc, ada, step(ada))
      const w = change(doc, wes, step(wes))
      for (const [first, second] of [
        [a, w],
        [w, a],
      ] as const) {
        const v = doc.clone()
        expectRefused(judge(v, first), /may not demote or remove themselves/)
        expectRefused(judge(v, second), /may not demote or remove themselves/)
      }
      expect(readSpace(doc.materialize('/'), SPACE).members.get(wes.id)?.role).toBe('admin')
    })
  }

  it('another admin may still demote or remove an admin', () => {
    const doc = spaceDoc()
    const promote = change(doc, ada, (d) => d.put(objAt(d, 'members', wes.id), 'role', 'admin'))
    doc.applyChanges([promote.bytes])
    expect(judge(doc.clone(), change(doc, ada, steps[0]!.step(wes)))).toEqual(OK)
    expect(judge(doc.clone(), change(doc, wes, steps[1]!.step(ada)))).toEqual(OK)
  })
})

describe('hidden writes are judged by their operations', () => {
  /** a change on an empty history (no dependencies): its maps lose to the space's own */
  const orphan = (author: Identity, key: string, value: object): Made =>
    change(am().create(), author, (d) => d.putObject('_root', key, value as never))

  const laundering = [
    { key: 'docs', value: { [DOC2]: { addedBy: ada.id, addedAt: T0 } } },
    { key: 'members', value: { [mal.id]: { role: 'admin', addedBy: ada.id, addedAt: T0 } } },
    {
      key: 'invites',
      value: { forged: { role: 'admin', maxUses: 9, expiresAt: NOW, by: ada.id } },
    },
  ]
  for (const { key, value } of laundering) {
    for (const author of [wes, rae]) {
      it(`a map at /${key} by a ${author === wes ? 'writer' : 'reader'} outside the space's history is refused`, () => {
        const doc = spaceDoc()
        const attack = orphan(author, key, value)
        // it would be hidden: nothing visible changes, and the patches say (almost) nothing
        const v = doc.clone()
        v.applyChanges([attack.bytes])
        expect(readSpace(v.materialize('/'), SPACE)).toEqual(readSpace(doc.materialize('/'), SPACE))
        v.free()
        expectRefused(judge(doc, attack), /descend/)
      })
    }
  }

  it("a writer's second map at a taken key (inside the space's history) is refused", () => {
    // a new /docs holding one entry of wes's own, in place of the empty one: the patches and the
    // states look like an allowed addition, but it replaces the map (entries an admin adds
    // concurrently would be hidden with the old one)
    const doc = spaceDoc()
    const replace = change(doc, wes, (d) =>
      d.putObject('_root', 'docs', { [DOC2]: { addedBy: wes.id, addedAt: NOW } }),
    )
    expectRefused(judge(doc, replace), /already holds a value/)
    // an entry map for a document that is listed already
    const listed = { addedBy: ada.id, addedAt: T0 }
    doc.applyChanges([change(doc, ada, (d) => d.putObject(objAt(d, 'docs'), DOC, listed)).bytes])
    const shadow = change(doc, wes, (d) =>
      d.putObject(objAt(d, 'docs'), DOC, { addedBy: wes.id, addedAt: NOW }),
    )
    expectRefused(judge(doc, shadow))
  })

  it('a write into a hidden map (no visible patch at all) is refused', () => {
    // the document already holds a hidden /docs map (an earlier conflict, say an admin's)
    const doc = spaceDoc()
    doc.applyChanges([orphan(ada, 'docs', {}).bytes])
    const hidden = (doc.getAll('_root', 'docs') as [string, string][]).find(
      ([, id]) => id !== objAt(doc, 'docs'),
    )![1]
    for (const author of [wes, rae]) {
      const fill = change(doc, author, (d) =>
        d.putObject(hidden, DOC2, { addedBy: ada.id, addedAt: T0 }),
      )
      const v = doc.clone()
      const heads = v.getHeads()
      v.applyChanges([fill.bytes])
      expect(v.diff(heads, v.getHeads())).toEqual([]) // nothing visible for the patches to judge
      v.free()
      expectRefused(judge(doc, fill), /not visible/)
    }
  })

  it('a write into an object outside the change’s causal past is refused', () => {
    const doc = spaceDoc()
    const genesis = doc.getHeads()
    const admin = change(doc, ada, (d) => d.putObject(objAt(d, 'docs'), DOC2, {}))
    doc.applyChanges([admin.bytes])
    // wes writes into the admin's new entry, claiming to depend only on what came before it
    const bytes = encodeChange({
      actor: nextActor(),
      seq: 1,
      startOp: 100,
      time: 0,
      message: null,
      deps: genesis,
      ops: [
        { action: 'set', obj: objAt(doc, 'docs', DOC2), key: 'addedBy', value: wes.id, pred: [] },
      ],
    })
    const ops = changeOps(doc, am().decodeChange(bytes))
    expect(ops[0]?.path).toBeUndefined() // the object is not there at the dependencies
    expectRefused(judge(doc, made(bytes, wes)))
  })

  it('a map at a taken key, made inside the space’s history, is refused even when it loses', () => {
    const doc = spaceDoc()
    // a low op counter and no predecessor: concurrent with the visible /docs, and hidden by it
    const actor = nextActor()
    const bytes = encodeChange({
      actor,
      seq: 1,
      startOp: 1,
      time: 0,
      message: null,
      deps: doc.getHeads(),
      ops: [
        { action: 'makeMap', obj: '_root', key: 'docs', pred: [] },
        { action: 'makeMap', obj: `1@${actor}`, key: DOC2, pred: [] },
        { action: 'set', obj: `2@${actor}`, key: 'addedBy', value: ada.id, pred: [] },
      ],
    })
    const v = doc.clone()
    v.applyChanges([bytes])
    expect(readSpace(v.materialize('/'), SPACE).docs.has(DOC2)).toBe(false) // hidden
    v.free()
    expectRefused(judge(doc, made(bytes, wes)), /already holds a value/)
  })
})

describe('honest changes are accepted', () => {
  it('a writer lists a document, a member renames themselves', () => {
    const doc = spaceDoc()
    const add = change(doc, wes, (d) =>
      d.putObject(objAt(d, 'docs'), DOC2, { addedBy: wes.id, addedAt: NOW }),
    )
    expect(judge(doc, add)).toEqual(OK)
    const rename = change(doc, rae, (d) => d.put(objAt(d, 'members', rae.id), 'name', 'Rae'))
    expect(judge(doc, rename)).toEqual(OK)
    const ops = changeOps(add.fork, am().decodeChange(add.bytes))
    expect(ops.map((o) => [o.action, o.path?.join('/'), o.occupied])).toEqual([
      ['makeMap', `docs/${DOC2}`, false],
      ['set', `docs/${DOC2}/addedBy`, false],
      ['set', `docs/${DOC2}/addedAt`, false],
    ])
  })

  it('two newcomers join concurrently (each with an invite of its own)', () => {
    const doc = spaceDoc()
    const joins = [nia, ned].map((who) => {
      const invite = createInvite({
        spaceId: SPACE,
        role: 'writer',
        expiresAt: T0 + 24 * HOUR,
        maxUses: 5,
        inviter: ada,
      })
      return change(doc, who, (d) => {
        const { member, redeemed } = joinValues(invite, who.id, NOW, 'New')
        d.putObject(objAt(d, 'members'), who.id, member as never)
        const r = d.putObject(objAt(d, 'redeemed'), invite.token.id, {})
        d.putObject(r, who.id, redeemed as never)
      })
    })
    expect(judge(doc.clone(), ...joins)).toEqual(OK)
    const v = doc.clone()
    v.applyChanges([joins[1]!.bytes])
    expect(judge(v, joins[0]!)).toEqual(OK)
  })
})
