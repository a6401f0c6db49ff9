import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { am } from '../automerge'
import {
  adminsOf,
  mayGrant,
  newSpaceValue,
  readSpace,
  roleAtLeast,
  roleOf,
  type Role,
} from './model'
import { DOC, DOC2, SPACE, T0, ada, mal, rae, rex, team, teamValue, wes } from './test-fixtures'

const ROLES: Role[] = ['reader', 'writer', 'admin']

describe('roles', () => {
  it('orders admin > writer > reader', () => {
    const table = ROLES.map((a) => ROLES.map((b) => roleAtLeast(a, b)))
    expect(table).toEqual([
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ])
  })

  it('admins grant any role, writers writer or reader, readers nothing', () => {
    const table = ROLES.map((a) => ROLES.map((b) => mayGrant(a, b)))
    expect(table).toEqual([
      [false, false, false],
      [true, true, false],
      [true, true, true],
    ])
  })
})

describe('readSpace', () => {
  it('reads a new space: the creator is its only admin', () => {
    const v = newSpaceValue('Team', ada, T0)
    const s = readSpace(v, SPACE)
    expect(s).toMatchObject({ id: SPACE, name: 'Team', creator: ada.id, createdAt: T0 })
    expect(roleOf(s, ada.id)).toBe('admin')
    expect([...s.members.keys()]).toEqual([ada.id])
    expect(adminsOf(s)).toEqual([ada.id])
  })

  it('reads the value Automerge materialises', () => {
    const doc = am().create()
    for (const [k, x] of Object.entries(teamValue())) doc.putObject('_root', k, x as never)
    doc.commit()
    expect(readSpace(doc.materialize('_root'), SPACE)).toEqual(team())
  })

  it('gives removed members and strangers no role', () => {
    const s = team()
    expect(roleOf(s, wes.id)).toBe('writer')
    expect(roleOf(s, rae.id)).toBe('reader')
    expect(s.members.has(rex.id)).toBe(true)
    expect(roleOf(s, rex.id)).toBeUndefined()
    expect(roleOf(s, mal.id)).toBeUndefined()
    expect(s.removed.get(rex.id)?.cutoff.get(DOC)?.get('aaaa')).toBe(5)
  })

  it('tolerates values that are not spaces at all', () => {
    for (const v of [
      undefined,
      null,
      42,
      'space',
      [],
      [1, 2],
      true,
      { members: 5 },
      { space: [] },
    ]) {
      const s = readSpace(v, SPACE)
      expect(s.members.size + s.removed.size + s.docs.size + s.redeemed.size).toBe(0)
      expect(s.name).toBe('')
      expect(s.creator).toBeUndefined()
    }
  })

  it('skips malformed entries and keeps the good ones', () => {
    const v = teamValue() as unknown as Record<string, Record<string, unknown>>
    v.space = { name: 42, createdAt: -1, creator: 'did:key:zNope' }
    v.members = {
      ...v.members,
      'did:key:z6MkNotAKey': { role: 'admin', addedBy: ada.id, addedAt: T0 },
      [mal.id]: { role: 'owner', addedBy: ada.id, addedAt: T0 },
      [rae.id]: { role: 'reader', addedBy: 'someone', addedAt: T0 },
      [wes.id]: {
        role: 'writer',
        addedBy: ada.id,
        addedAt: T0,
        name: '\u0000bad',
        invite: { token: 1 },
      },
    }
    v.docs = {
      [DOC]: { addedBy: wes.id, addedAt: T0, app: 'bafy' },
      [DOC2]: { addedBy: 'x', addedAt: T0 },
      'not-a-doc-id': { addedBy: wes.id, addedAt: T0 },
      [SPACE]: { addedBy: wes.id, addedAt: T0 },
    }
    const s = readSpace(v, SPACE)
    expect(s.name).toBe('')
    expect(s.creator).toBeUndefined()
    expect([...s.members.keys()].sort()).toEqual([ada.id, wes.id, rex.id].sort())
    expect(s.members.get(wes.id)).toEqual({ role: 'writer', addedBy: ada.id, addedAt: T0 })
    expect([...s.docs.keys()]).toEqual([DOC])
    expect(s.docs.get(DOC)?.app).toBe('bafy')
  })

  it('fails safe: any removal, revocation or redemption counts, however mangled', () => {
    const v = teamValue() as unknown as Record<string, Record<string, unknown>>
    v.removed = { [wes.id]: 'garbage', [rae.id]: { cutoff: { [DOC]: { zz: 1, abcd: -1 } } } }
    v.revoked = { inv1: null, inv2: 7 }
    v.redeemed = { inv1: { a: 1, b: null }, inv2: 'x' }
    const s = readSpace(v, SPACE)
    expect(roleOf(s, wes.id)).toBeUndefined()
    expect(roleOf(s, rae.id)).toBeUndefined()
    expect(s.removed.get(rae.id)?.cutoff.get(DOC)?.size).toBe(0)
    expect([...s.revoked].sort()).toEqual(['inv1', 'inv2'])
    expect([...(s.redeemed.get('inv1') ?? [])]).toEqual(['a', 'b'])
    expect(s.redeemed.has('inv2')).toBe(false)
    expect(roleOf(s, ada.id)).toBe('admin')
  })

  it('ignores inherited and prototype-like keys', () => {
    const v = JSON.parse(
      `{"members":{"__proto__":{"role":"admin"}},"removed":{"__proto__":{}},"redeemed":{"constructor":{"toString":{}}}}`,
    ) as unknown
    const s = readSpace(v, SPACE)
    expect(s.members.size).toBe(0)
    expect(roleOf(s, 'toString')).toBeUndefined()
    expect(roleOf(s, '__proto__')).toBeUndefined()
  })

  it('never throws (fuzz), even on a value whose getters throw', () => {
    fc.assert(
      fc.property(fc.anything({ withMap: true, withSet: true, withNullPrototype: true }), (v) => {
        readSpace(v, SPACE)
        readSpace({ members: v, removed: v, docs: v, redeemed: v, revoked: v, space: v }, SPACE)
      }),
      { numRuns: 500, seed: 3 },
    )
    const hostile = {
      get members(): never {
        throw new Error('boom')
      },
    }
    expect(readSpace(hostile, SPACE).members.size).toBe(0)
  })
})
