/**
 * The space policy on real Automerge patches: a verifier holds the space document; an author forks
 * it, writes and commits; the verifier applies that change to a copy, diffs, and asks the policy,
 * exactly as the signed-writes plumbing does.
 */
import { describe, expect, it } from 'vitest'
import { am, type AutomergeDoc, type Patch } from '../automerge'
import type { Result } from '../errors'
import type { Identity } from '../identity'
import { SpaceError } from './errors'
import { createInvite, joinValues, type Invite } from './invite'
import { newSpaceValue, readSpace, roleOf, type Role, type SpaceState } from './model'
import { mayChangeSpace, mayWriteDoc, removeMember } from './policy'
import {
  DOC,
  DOC2,
  HOUR,
  SPACE,
  T0,
  ada,
  mal,
  member,
  ned,
  nia,
  rae,
  rex,
  team,
  teamValue,
  wes,
} from './test-fixtures'

const NOW = T0 + HOUR
const OK = { ok: true, value: undefined }
type Path = (string | number)[]

function expectErr(r: Result<unknown>, code: SpaceError['code'], message?: RegExp): void {
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(SpaceError)
  expect(r.error.code).toBe(code)
  if (message !== undefined) expect(r.error.message).toMatch(message)
}

function spaceDoc(value: object = teamValue()): AutomergeDoc {
  const doc = am().create({ actor: '01'.repeat(16) })
  for (const [k, x] of Object.entries(value)) doc.putObject('_root', k, x as never)
  doc.commit()
  return doc
}

/** The object id of the map at `path`, creating missing maps. */
function mapAt(doc: AutomergeDoc, path: Path): string {
  let obj = '_root'
  for (const key of path) {
    const v = doc.getWithType(obj, key) as [string, string] | null
    obj = v !== null && v[0] === 'map' ? v[1] : doc.putObject(obj, key, {})
  }
  return obj
}

/** Writes a JSON value at `path` (maps as new objects). */
function write(doc: AutomergeDoc, path: Path, value: unknown): void {
  const parent = mapAt(doc, path.slice(0, -1))
  const key = path[path.length - 1] as string
  if (typeof value === 'object' && value !== null) doc.putObject(parent, key, value as never)
  else doc.put(parent, key, value as never)
}

function remove(doc: AutomergeDoc, path: Path): void {
  doc.delete(mapAt(doc, path.slice(0, -1)), path[path.length - 1] as string)
}

let actorCounter = 0x10

interface Judged {
  result: Result<void>
  patches: Patch[]
  before: SpaceState
  after: SpaceState
  /** applies the change to the verifier's document (as an accepted change would be) */
  accept(): void
}

/** The verifier applies `change` by `author` to a copy of `doc`, diffs, and asks the policy. */
function judgeChange(doc: AutomergeDoc, author: Identity, change: Uint8Array, now = NOW): Judged {
  const { actor, seq } = am().decodeChange(change)
  const copy = doc.clone()
  copy.updateDiffCursor()
  copy.applyChanges([change])
  const patches = copy.diffIncremental()
  const before = readSpace(doc.materialize('_root'), SPACE)
  const after = readSpace(copy.materialize('_root'), SPACE)
  const result = mayChangeSpace(before, after, patches, author.id, now, { actor, seq })
  return { result, patches, before, after, accept: () => doc.applyChanges([change]) }
}

/** `author` makes a change on a fork of `doc`; the verifier judges it. */
function judge(
  doc: AutomergeDoc,
  author: Identity,
  edit: (d: AutomergeDoc) => void,
  now = NOW,
): Judged {
  const fork = doc.fork((actorCounter++).toString(16).padStart(32, '0'))
  edit(fork)
  fork.commit()
  const change = fork.getLastLocalChange()
  if (change === null) throw new Error('the edit made no change')
  return judgeChange(doc, author, change, now)
}

function invite(role: Role, by: Identity = ada, over: { maxUses?: number } = {}): Invite {
  return createInvite({
    spaceId: SPACE,
    role,
    expiresAt: T0 + 24 * HOUR,
    maxUses: over.maxUses ?? 5,
    inviter: by,
  })
}

/** The writes of a self-join, as a newcomer's app makes them. */
function joinEdit(inv: Invite, newcomer: string, tweak?: (m: Record<string, unknown>) => void) {
  return (d: AutomergeDoc): void => {
    const { member: m, redeemed } = joinValues(inv, newcomer, NOW, 'Newcomer')
    tweak?.(m as unknown as Record<string, unknown>)
    write(d, ['members', newcomer], m)
    write(d, ['redeemed', inv.token.id, newcomer], redeemed)
  }
}

describe('mayChangeSpace: admins', () => {
  it('an admin adds a member (Automerge reports a put of {} then the fields)', () => {
    const doc = spaceDoc()
    const j = judge(doc, ada, (d) => write(d, ['members', nia.id], member('writer')))
    expect(j.result).toEqual(OK)
    expect(j.patches[0]).toEqual({ action: 'put', path: ['members', nia.id], value: {} })
    expect(j.patches.map((p) => p.path.join('/')).sort()).toEqual(
      ['', '/addedAt', '/addedBy', '/role'].map((s) => `members/${nia.id}${s}`).sort(),
    )
    expect(roleOf(j.after, nia.id)).toBe('writer')
  })

  it('an admin removes a member with a cutoff from its current heads', () => {
    const doc = spaceDoc()
    const removal = removeMember(
      team(),
      wes.id,
      ada.id,
      [
        { docId: DOC, actors: { aa01: 3, bb02: 9 } },
        { docId: SPACE, actors: { cc03: 2 } },
        { docId: DOC, actors: { aa01: 7 } },
      ],
      NOW,
    )
    expect(removal).toEqual({
      ok: true,
      value: { by: ada.id, at: NOW, cutoff: { [DOC]: { aa01: 7, bb02: 9 }, [SPACE]: { cc03: 2 } } },
    })
    if (!removal.ok) return
    const j = judge(doc, ada, (d) => write(d, ['removed', wes.id], removal.value))
    expect(j.result).toEqual(OK)
    expect(roleOf(j.after, wes.id)).toBeUndefined()
    expect(j.after.removed.get(wes.id)?.cutoff.get(DOC)?.get('aa01')).toBe(7)
  })

  it('removeMember refuses non-admins, non-members, the last admin and bad heads', () => {
    const s = team()
    expectErr(removeMember(s, rae.id, wes.id, [], NOW), 'NOT_ALLOWED', /not an admin/)
    expectErr(removeMember(s, mal.id, ada.id, [], NOW), 'NOT_A_MEMBER')
    expectErr(removeMember(s, rex.id, ada.id, [], NOW), 'NOT_A_MEMBER', /already removed/)
    expectErr(removeMember(s, ada.id, ada.id, [], NOW), 'NOT_ALLOWED', /last admin/)
    // with a second admin, still not by themselves: another admin removes an admin (issue 13)
    const two = readSpace(
      { ...teamValue(), members: { ...teamValue().members, [wes.id]: member('admin') } },
      SPACE,
    )
    expectErr(removeMember(two, ada.id, ada.id, [], NOW), 'NOT_ALLOWED', /themselves/)
    expect(removeMember(two, ada.id, wes.id, [], NOW).ok).toBe(true)
    expectErr(removeMember(s, wes.id, ada.id, [{ docId: 'x', actors: {} }]), 'INVALID_VALUE')
    const badSeq = [{ docId: DOC, actors: { aa: -1 } }]
    expectErr(removeMember(s, wes.id, ada.id, badSeq), 'INVALID_VALUE')
  })

  it('the space keeps at least one admin', () => {
    const doc = spaceDoc()
    const demote = judge(doc, ada, (d) => write(d, ['members', ada.id, 'role'], 'writer'))
    expectErr(demote.result, 'NOT_ALLOWED', /at least one admin/)
    const wipe = judge(doc, ada, (d) => remove(d, ['members']))
    expectErr(wipe.result, 'NOT_ALLOWED', /at least one admin/)
    const handOver = judge(doc, ada, (d) => {
      write(d, ['members', wes.id, 'role'], 'admin')
      write(d, ['members', ada.id, 'role'], 'reader')
    })
    expect(handOver.result).toEqual(OK)
  })

  it('an admin may change anything else', () => {
    const doc = spaceDoc()
    const j = judge(doc, ada, (d) => {
      write(d, ['space', 'name'], 'Renamed')
      write(d, ['revoked', 'some-invite'], { by: ada.id, at: NOW })
      remove(d, ['members', rae.id])
      write(d, ['anything'], { at: 'all' })
    })
    expect(j.result).toEqual(OK)
  })
})

describe('mayChangeSpace: joining with an invite', () => {
  it("accepts a newcomer's valid self-join, which then makes it a member", () => {
    const doc = spaceDoc()
    const inv = invite('writer', wes)
    const j = judge(doc, nia, joinEdit(inv, nia.id))
    expect(j.result).toEqual(OK)
    expect(roleOf(j.after, nia.id)).toBe('writer')
    j.accept()
    const next = judge(doc, nia, (d) => write(d, ['docs', DOC2], { addedBy: nia.id, addedAt: NOW }))
    expect(next.result).toEqual(OK)
  })

  it('accepts a join into a lower role than the invite grants', () => {
    const doc = spaceDoc()
    const j = judge(
      doc,
      nia,
      joinEdit(invite('writer'), nia.id, (m) => (m.role = 'reader')),
    )
    expect(j.result).toEqual(OK)
  })

  it('refuses a newcomer claiming admin with a writer invite', () => {
    const doc = spaceDoc()
    const j = judge(
      doc,
      nia,
      joinEdit(invite('writer'), nia.id, (m) => (m.role = 'admin')),
    )
    expectErr(j.result, 'NOT_ALLOWED', /grants writer; .* claims admin/)
  })

  it("refuses a proof replayed from another newcomer's record", () => {
    const doc = spaceDoc()
    const inv = invite('writer')
    const niaJoin = judge(doc, nia, joinEdit(inv, nia.id))
    expect(niaJoin.result).toEqual(OK)
    niaJoin.accept()
    // ned has seen the link-less record of nia, not the secret: he copies token and proof
    const copied = readSpace(doc.materialize('_root'), SPACE).members.get(nia.id)?.invite
    const j = judge(doc, ned, (d) => {
      write(d, ['members', ned.id], { ...member('writer'), invite: copied })
      write(d, ['redeemed', inv.token.id, ned.id], { at: NOW })
    })
    expectErr(j.result, 'BAD_SIGNATURE', /join proof does not verify/)
  })

  it('refuses a proof made with the wrong secret', () => {
    const doc = spaceDoc()
    const inv = invite('writer')
    const forged: Invite = { token: inv.token, secret: invite('writer').secret }
    expectErr(judge(doc, nia, joinEdit(forged, nia.id)).result, 'BAD_SIGNATURE')
  })

  it('refuses expired, exhausted, revoked and foreign invites', () => {
    const doc = spaceDoc()
    const inv = invite('reader', ada, { maxUses: 1 })
    // a join that records a time after the invite's expiry
    expectErr(
      judge(
        doc,
        nia,
        joinEdit(inv, nia.id, (m) => (m.addedAt = T0 + 25 * HOUR)),
        T0 + 25 * HOUR,
      ).result,
      'INVITE_EXPIRED',
    )
    const first = judge(doc, nia, joinEdit(inv, nia.id))
    expect(first.result).toEqual(OK)
    first.accept()
    expectErr(judge(doc, ned, joinEdit(inv, ned.id)).result, 'INVITE_EXHAUSTED')
    const byStranger = createInvite({
      spaceId: SPACE,
      role: 'writer',
      expiresAt: T0 + HOUR * 2,
      maxUses: 1,
      inviter: mal,
    })
    expectErr(judge(doc, ned, joinEdit(byStranger, ned.id)).result, 'NOT_A_MEMBER')
    const revoked = invite('writer')
    const doc2 = spaceDoc({
      ...teamValue(),
      revoked: { [revoked.token.id]: { by: ada.id, at: T0 } },
    })
    expectErr(judge(doc2, ned, joinEdit(revoked, ned.id)).result, 'INVITE_REVOKED')
  })

  it('judges expiry at the join, so the space still loads after its invites expired', () => {
    // regression: expiry was checked on the verifier's clock, so once an invite expired every
    // peer loading the space's history refused the join in it, and with it the whole space
    const doc = spaceDoc()
    const inv = invite('writer') // expires at T0 + 24 h; the join records NOW
    expect(judge(doc, nia, joinEdit(inv, nia.id), T0 + 30 * 24 * HOUR).result).toEqual(OK)
    // but a join claiming a time far ahead of this clock is not believed yet
    expectErr(
      judge(
        doc,
        nia,
        joinEdit(inv, nia.id, (m) => (m.addedAt = NOW + HOUR)),
        NOW,
      ).result,
      'NOT_ALLOWED',
      /future/,
    )
  })

  it('refuses joins that are not exactly a self-join', () => {
    const doc = spaceDoc()
    const inv = invite('writer')
    // no invite in the record
    const bare = judge(doc, nia, (d) => write(d, ['members', nia.id], member('writer')))
    expectErr(bare.result, 'BAD_INVITE', /without an invite/)
    // no redemption written: taken (a concurrent join's map can hide it), and still a use
    const once = invite('writer', ada, { maxUses: 1 })
    const other = spaceDoc()
    const noRedeem = judge(other, nia, (d) => {
      write(d, ['members', nia.id], joinValues(once, nia.id, NOW).member)
    })
    expect(noRedeem.result).toEqual(OK)
    noRedeem.accept()
    expectErr(judge(other, ned, joinEdit(once, ned.id)).result, 'INVITE_EXHAUSTED')
    // a record for someone else
    const forOther = judge(doc, nia, joinEdit(inv, ned.id))
    expectErr(forOther.result, 'NOT_A_MEMBER')
    // extra writes in the join change
    const plus = (path: Path, v: unknown): Judged =>
      judge(doc, nia, (d) => {
        joinEdit(inv, nia.id)(d)
        write(d, path, v)
      })
    expectErr(plus(['space', 'name'], 'Mine').result, 'NOT_ALLOWED', /\/space\/name/)
    expectErr(plus(['members', ada.id, 'role'], 'reader').result, 'NOT_ALLOWED', /role/)
    expectErr(plus(['revoked', 'x'], { by: nia.id, at: 1 }).result, 'NOT_ALLOWED', /\/revoked\/x/)
    expectErr(plus(['docs', DOC], { addedBy: nia.id, addedAt: 1 }).result, 'NOT_ALLOWED', /docs/)
    expectErr(plus(['redeemed', 'other', nia.id], { at: 1 }).result, 'NOT_ALLOWED', /other/)
  })

  it('refuses a join that resets the use count by replacing the redemptions map', () => {
    const doc = spaceDoc()
    const inv = invite('writer', ada, { maxUses: 1 })
    const first = judge(doc, nia, joinEdit(inv, nia.id))
    first.accept()
    const j = judge(doc, ned, (d) => {
      const { member: m } = joinValues(inv, ned.id, NOW)
      write(d, ['members', ned.id], m)
      write(d, ['redeemed', inv.token.id], { [ned.id]: { at: NOW } })
    })
    // the invite is already exhausted in `before`
    expectErr(j.result, 'INVITE_EXHAUSTED')
    const inv2 = invite('writer', ada, { maxUses: 2 })
    judge(doc, nia, joinEdit(inv2, nia.id)).accept()
    const wipe = judge(doc, ned, (d) => {
      write(d, ['members', ned.id], joinValues(inv2, ned.id, NOW).member)
      write(d, ['redeemed'], { [inv2.token.id]: { [ned.id]: { at: NOW } } })
    })
    expectErr(wipe.result, 'NOT_ALLOWED', new RegExp(`/redeemed/.*/${nia.id}`))
  })

  it('refuses a removed member rejoining, and a stranger writing anything', () => {
    const doc = spaceDoc()
    const inv = invite('writer')
    expectErr(judge(doc, rex, joinEdit(inv, rex.id)).result, 'NOT_ALLOWED', /was removed/)
    expectErr(judge(doc, mal, (d) => write(d, ['x'], 1)).result, 'NOT_A_MEMBER')
    const claim = judge(doc, mal, (d) => write(d, ['members', mal.id], member('admin', mal)))
    expectErr(claim.result, 'BAD_INVITE', /without an invite/)
  })
})

describe('mayChangeSpace: members', () => {
  it('refuses a member changing someone else’s record, naming the path', () => {
    const doc = spaceDoc()
    const j = judge(doc, wes, (d) => write(d, ['members', rae.id, 'role'], 'writer'))
    expectErr(j.result, 'NOT_ALLOWED', new RegExp(`/members/${rae.id}/role`))
    const name = judge(doc, rae, (d) => write(d, ['members', wes.id, 'name'], 'Boss'))
    expectErr(name.result, 'NOT_ALLOWED', new RegExp(`/members/${wes.id}/name`))
    const del = judge(doc, wes, (d) => remove(d, ['members', rae.id]))
    expectErr(del.result, 'NOT_ALLOWED', new RegExp(`/members/${rae.id}`))
  })

  it('allows changing one’s own name, not one’s role or record', () => {
    const doc = spaceDoc()
    for (const who of [wes, rae]) {
      const j = judge(doc, who, (d) => write(d, ['members', who.id, 'name'], 'Me'))
      expect(j.result).toEqual(OK)
      expect(j.after.members.get(who.id)?.name).toBe('Me')
      j.accept()
      expect(judge(doc, who, (d) => remove(d, ['members', who.id, 'name'])).result).toEqual(OK)
    }
    const promote = judge(doc, rae, (d) => write(d, ['members', rae.id, 'role'], 'admin'))
    expectErr(promote.result, 'NOT_ALLOWED', new RegExp(`/members/${rae.id}/role`))
    const replace = judge(doc, wes, (d) => write(d, ['members', wes.id], member('admin')))
    expectErr(replace.result, 'NOT_ALLOWED', new RegExp(`/members/${wes.id}`))
    const objName = judge(doc, wes, (d) => write(d, ['members', wes.id, 'name'], { x: 1 }))
    expectErr(objName.result, 'NOT_ALLOWED', /own name/)
    const longName = judge(doc, wes, (d) => write(d, ['members', wes.id, 'name'], 'x'.repeat(101)))
    expectErr(longName.result, 'NOT_ALLOWED', /own name/)
  })

  it('lets writers add documents; readers may not', () => {
    const doc = spaceDoc()
    const entry = (by: Identity): object => ({ addedBy: by.id, addedAt: NOW, app: 'bafyapp' })
    const w = judge(doc, wes, (d) => write(d, ['docs', DOC], entry(wes)))
    expect(w.result).toEqual(OK)
    expect(w.after.docs.get(DOC)?.app).toBe('bafyapp')
    const r = judge(doc, rae, (d) => write(d, ['docs', DOC], entry(rae)))
    expectErr(r.result, 'NOT_ALLOWED', new RegExp(`reader.*/docs/${DOC}`))
    const asOther = judge(doc, wes, (d) => write(d, ['docs', DOC], entry(ada)))
    expectErr(asOther.result, 'NOT_ALLOWED', /addedBy/)
    const notADoc = judge(doc, wes, (d) => write(d, ['docs', 'not-a-doc'], entry(wes)))
    expectErr(notADoc.result, 'NOT_ALLOWED')
    w.accept()
    // existing entries are the admins' (no edits, no deletes, no wiping the map)
    const edit = judge(doc, wes, (d) => write(d, ['docs', DOC, 'app'], 'bafyother'))
    expectErr(edit.result, 'NOT_ALLOWED')
    const del = judge(doc, wes, (d) => remove(d, ['docs', DOC]))
    expectErr(del.result, 'NOT_ALLOWED')
    const wipe = judge(doc, wes, (d) => write(d, ['docs'], { [DOC2]: entry(wes) }))
    expectErr(wipe.result, 'NOT_ALLOWED', new RegExp(`/docs/${DOC}`))
    const drop = judge(spaceDoc(), wes, (d) => remove(d, ['docs']))
    expectErr(drop.result, 'NOT_ALLOWED', / \/docs$/)
    const scalar = judge(doc, wes, (d) => write(d, ['docs', DOC2], 'bafy'))
    expectErr(scalar.result, 'NOT_ALLOWED', new RegExp(`/docs/${DOC2}`))
  })

  it('refuses /removed, /revoked, /space and /invites to non-admins', () => {
    const doc = spaceDoc()
    const tries: [Path, unknown][] = [
      [['removed', rae.id], { by: wes.id, at: NOW, cutoff: {} }],
      [['removed', rex.id], null],
      [['revoked', 'inv'], { by: wes.id, at: NOW }],
      [['space', 'name'], 'Mine'],
      [['invites', 'inv'], { role: 'writer', maxUses: 1, expiresAt: NOW, by: wes.id }],
    ]
    for (const [path, v] of tries) {
      const j = judge(doc, wes, (d) => (v === null ? remove(d, path) : write(d, path, v)))
      expectErr(
        j.result,
        'NOT_ALLOWED',
        new RegExp(path.join('/').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')),
      )
    }
  })

  it('refuses a losing concurrent write to a forbidden path (a conflict patch)', () => {
    const doc = spaceDoc()
    const writer = doc.fork('00'.repeat(16))
    write(writer, ['members', rae.id, 'role'], 'admin')
    writer.commit()
    // the admin's concurrent write reaches the verifier first and wins (higher actor id)
    const admin = doc.fork('ff'.repeat(16))
    write(admin, ['members', rae.id, 'role'], 'writer')
    admin.commit()
    doc.applyChanges([admin.getLastLocalChange() as Uint8Array])
    const j = judgeChange(doc, wes, writer.getLastLocalChange() as Uint8Array)
    expect(j.patches).toEqual([{ action: 'conflict', path: ['members', rae.id, 'role'] }])
    expectErr(j.result, 'NOT_ALLOWED', new RegExp(`/members/${rae.id}/role`))
  })

  it('a removed member may do nothing, except changes inside its cutoff', () => {
    const doc = spaceDoc()
    const name = judge(doc, rex, (d) => write(d, ['members', rex.id, 'name'], 'Still here'))
    expectErr(name.result, 'NOT_ALLOWED', /was removed/)
    // rex's cutoff on the space document is actor bbbb up to seq 2
    const before = team()
    expect(mayChangeSpace(before, before, [], rex.id, NOW, { actor: 'bbbb', seq: 2 })).toEqual(OK)
    expectErr(
      mayChangeSpace(before, before, [], rex.id, NOW, { actor: 'bbbb', seq: 3 }),
      'NOT_ALLOWED',
    )
  })
})

describe('mayChangeSpace: a new space', () => {
  it('accepts the creator’s first change making it the only admin', () => {
    const doc = am().create({ actor: '02'.repeat(16) })
    const value = newSpaceValue('Fresh', ada, T0)
    const j = judge(doc, ada, (d) => {
      for (const [k, x] of Object.entries(value)) d.putObject('_root', k, x as never)
    })
    expect(j.result).toEqual(OK)
  })

  it('refuses a first change that makes someone else admin too', () => {
    const doc = am().create({ actor: '02'.repeat(16) })
    const value = newSpaceValue('Fresh', ada, T0)
    value.members[mal.id] = member('admin', ada)
    const j = judge(doc, ada, (d) => {
      for (const [k, x] of Object.entries(value)) d.putObject('_root', k, x as never)
    })
    expectErr(j.result, 'NOT_ALLOWED', /only admin/)
    const other = judge(doc, mal, (d) => {
      for (const [k, x] of Object.entries(newSpaceValue('Fresh', ada, T0))) {
        d.putObject('_root', k, x as never)
      }
    })
    expectErr(other.result, 'NOT_ALLOWED', /creator/)
  })
})

describe('mayWriteDoc', () => {
  const s = team()
  const change = { actor: 'aaaa', seq: 5 }

  it('lets admins and writers write, not readers or strangers', () => {
    expect(mayWriteDoc(s, ada.id, DOC, change)).toEqual(OK)
    expect(mayWriteDoc(s, wes.id, DOC, change)).toEqual(OK)
    expectErr(mayWriteDoc(s, rae.id, DOC, change), 'NOT_ALLOWED', /reader/)
    expectErr(mayWriteDoc(s, mal.id, DOC, change), 'NOT_A_MEMBER')
    expectErr(mayWriteDoc(s, nia.id, DOC, change), 'NOT_A_MEMBER')
  })

  it('accepts a removed member’s changes only up to the cutoff', () => {
    expect(mayWriteDoc(s, rex.id, DOC, { actor: 'aaaa', seq: 1 })).toEqual(OK)
    expect(mayWriteDoc(s, rex.id, DOC, { actor: 'aaaa', seq: 5 })).toEqual(OK)
    expectErr(mayWriteDoc(s, rex.id, DOC, { actor: 'aaaa', seq: 6 }), 'NOT_ALLOWED', /seq 5/)
    expectErr(mayWriteDoc(s, rex.id, DOC, { actor: 'abcd', seq: 1 }), 'NOT_ALLOWED', /none/)
    expectErr(mayWriteDoc(s, rex.id, DOC2, { actor: 'aaaa', seq: 1 }), 'NOT_ALLOWED')
    expectErr(mayWriteDoc(s, rex.id, DOC, { actor: 'aaaa', seq: Number.NaN }), 'NOT_ALLOWED')
  })

  it('leaves the space document to mayChangeSpace', () => {
    expectErr(mayWriteDoc(s, ada.id, SPACE, change), 'NOT_ALLOWED', /mayChangeSpace/)
  })
})
