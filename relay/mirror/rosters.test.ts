import { describe, expect, it, vi } from 'vitest'
import { createInvite, mirrorAdmission } from '../../src/core/spaces/invite'
import type { Identity } from '../../src/core/identity'
import { generateIdentity, sign } from '../../src/core/identity'
import {
  admissionJoinBytes,
  encodeAdmission,
  keyHex,
  rosterId,
  signPass,
} from '../../src/core/mirror/roster'
import type { Role } from '../../src/core/spaces/model'
import type { MirrorStoreOptions } from './store'
import { newMirrorDoc } from '../../test/mirror-doc'
import {
  ann,
  bob,
  cat,
  code,
  eve,
  k,
  must,
  newSpace,
  root,
  roster,
  seal,
  STAFF,
  tempStores,
  type TestSpace as Space,
} from './test-spaces'

const { tmp, openStore } = tempStores('orrery-rosters-')

/** a store holding `s`'s first roster (STAFF) */
async function withRoster(s: Space, dir = tmp(), options: MirrorStoreOptions = {}) {
  const store = await openStore(dir, options)
  must(await store.rosters.put(roster(s, 1)))
  return store
}

function admission(
  s: Space,
  inviter: Identity,
  newcomer: Identity,
  role: Role = 'writer',
  opts: { expiresAt?: number; maxUses?: number } = {},
): Uint8Array {
  const invite = createInvite({
    spaceId: s.spaceId,
    role,
    expiresAt: opts.expiresAt ?? Date.now() + 3_600_000,
    maxUses: opts.maxUses ?? 5,
    inviter,
    mirrorRoster: s.id,
  })
  return mirrorAdmission(invite, newcomer) as Uint8Array
}
/** several newcomers on one invite */
function admissions(s: Space, inviter: Identity, newcomers: Identity[], maxUses: number) {
  const invite = createInvite({
    spaceId: s.spaceId,
    role: 'writer',
    expiresAt: Date.now() + 3_600_000,
    maxUses,
    inviter,
    mirrorRoster: s.id,
  })
  return newcomers.map((n) => mirrorAdmission(invite, n) as Uint8Array)
}

describe('mirror rosters', () => {
  it('refuses envelopes naming a roster it does not hold, and stores nothing', async () => {
    const s = newSpace()
    const store = await openStore()
    const r = await store.put(seal(root, 1, s.doc, s.id))
    expect(code(r)).toBe('NOT_A_MEMBER')
    expect(store.stats()).toEqual({ envelopes: 0, bytes: 0, pending: 0 })
    expect(await store.since(s.doc.tag, 0, 1000, s.id)).toEqual([])
    expect(code(await store.rosters.admit(admission(s, root, eve)))).toBe('NOT_A_MEMBER')
  })

  it('takes a first roster from its root only', async () => {
    const s = newSpace()
    const store = await openStore()
    // a member who signs the first roster under the creator's root, listing itself as admin
    const squat = roster(s, 1, [...STAFF, [eve, 'admin']], [], eve)
    expect(code(await store.rosters.put(squat))).toBe('NOT_ALLOWED')
    const withoutAdmin = roster(s, 1, [[ann, 'admin']])
    expect(code(await store.rosters.put(withoutAdmin))).toBe('NOT_ALLOWED')
    expect(await store.rosters.get(s.id)).toBeUndefined()
    const first = roster(s, 1)
    must(await store.rosters.put(first))
    expect(await store.rosters.get(s.id)).toEqual(first)
    expect(must(await store.rosters.roleOf(keyHex(s.id), k(bob)))).toBe('writer')
    expect(must(await store.rosters.roleOf(keyHex(s.id), k(eve)))).toBeUndefined()
  })

  it("keeps a space's log for its members, apart from the log of no space", async () => {
    const s = newSpace()
    const store = await withRoster(s)
    const envs = [seal(bob, 1, s.doc, s.id), seal(cat, 1, s.doc, s.id)]
    for (const e of envs) must(await store.put(e))
    const rows = await store.since(s.doc.tag, 0, 1000, s.id)
    expect(rows.map((r) => r.envelope)).toEqual(envs)
    expect(await store.since(s.doc.tag, 0)).toEqual([])
    const before = store.stats()
    expect(code(await store.put(seal(eve, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
    expect(store.stats()).toEqual(before)
    // a log of no space takes nothing unless the store keeps such (older) logs open
    expect(code(await store.put(seal(eve, 1, s.doc)))).toBe('NOT_ALLOWED')
    expect(store.stats()).toEqual(before)
    const open = await withRoster(s, tmp(), { openLogs: true })
    for (const e of envs) must(await open.put(e))
    // there, a document of no space takes anyone's envelopes, in its own log numbered from 1
    expect(must(await open.put(seal(eve, 1, s.doc)))).toEqual({ index: 1, duplicate: false })
    expect((await open.since(s.doc.tag, 0)).length).toBe(1)
    expect((await open.since(s.doc.tag, 0, 1000, s.id)).length).toBe(2)
  })

  it('takes a newer roster from an admin only', async () => {
    const s = newSpace()
    const store = await withRoster(s)
    must(await store.put(seal(bob, 1, s.doc, s.id)))
    const byWriter = roster(s, 2, STAFF, [], bob)
    expect(code(await store.rosters.put(byWriter))).toBe('NOT_ALLOWED')
    expect(code(await store.rosters.put(roster(s, 1)))).toBe('PROTOCOL_VIOLATION')
    const tampered = roster(s, 2, STAFF, [], ann)
    tampered[tampered.length - 1] = (tampered.at(-1) as number) ^ 1
    const bad = await store.rosters.put(tampered)
    expect(bad.ok ? undefined : [bad.error.name, bad.error.code]).toEqual([
      'IdentityError',
      'BAD_SIGNATURE',
    ])
    expect(await store.rosters.get(s.id)).toEqual(roster(s, 1))
    // ann (an admin, not the root) removes bob
    const second = roster(s, 2, [STAFF[0], STAFF[1], STAFF[3]] as [Identity, Role][], [bob], ann)
    must(await store.rosters.put(second))
    expect(await store.rosters.get(s.id)).toEqual(second)
    expect(code(await store.rosters.put(roster(s, 2)))).toBe('PROTOCOL_VIOLATION')
    expect(code(await store.rosters.put(roster(s, 1)))).toBe('PROTOCOL_VIOLATION')
    expect(code(await store.put(seal(bob, 2, s.doc, s.id)))).toBe('NOT_A_MEMBER')
    must(await store.put(seal(cat, 1, s.doc, s.id)))
    // bob's envelope from before his removal stays
    expect((await store.since(s.doc.tag, 0, 1000, s.id)).length).toBe(2)
  })

  it("cannot be squatted: a member's own genesis is another roster", async () => {
    const s = newSpace()
    const store = await withRoster(s)
    must(await store.put(seal(bob, 1, s.doc, s.id)))
    const fake = roster(s, 1, [[bob, 'admin']], [], bob, bob.publicKey)
    must(await store.rosters.put(fake)) // accepted, under its own id
    const fakeId = rosterId(s.spaceTag, bob.publicKey)
    expect(keyHex(fakeId)).not.toBe(keyHex(s.id))
    expect(await store.rosters.get(fakeId)).toEqual(fake)
    expect(await store.rosters.get(s.id)).toEqual(roster(s, 1))
    must(await store.put(seal(bob, 1, s.doc, fakeId)))
    expect((await store.since(s.doc.tag, 0, 1000, s.id)).length).toBe(1)
    expect(must(await store.rosters.roleOf(keyHex(s.id), k(bob)))).toBe('writer')
    expect(code(await store.put(seal(eve, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
  })

  describe('admissions', () => {
    it('admits a newcomer on a pass, idempotently, without using up a use', async () => {
      const s = newSpace()
      const store = await withRoster(s)
      const [n1, n2, n3] = [generateIdentity(), generateIdentity(), generateIdentity()]
      expect(code(await store.put(seal(n1, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
      const [a1, a2, a3] = admissions(s, ann, [n1, n2, n3], 2)
      must(await store.rosters.admit(a1 as Uint8Array))
      must(await store.put(seal(n1, 1, s.doc, s.id)))
      expect(must(await store.rosters.roleOf(keyHex(s.id), k(n1)))).toBe('writer')
      must(await store.rosters.admit(a1 as Uint8Array))
      must(await store.rosters.admit(a2 as Uint8Array)) // the second use, not the third
      expect(code(await store.rosters.admit(a3 as Uint8Array))).toBe('INVITE_EXHAUSTED')
      // an admitted writer may invite a reader or a writer
      const n4 = generateIdentity()
      must(await store.rosters.admit(admission(s, n1, n4, 'reader')))
      must(await store.put(seal(n4, 1, s.doc, s.id)))
    })

    it('refuses an expired pass', async () => {
      const s = newSpace()
      let now = Date.UTC(2025, 5, 1)
      const store = await withRoster(s, tmp(), { now: () => now })
      const [n1, n2] = [generateIdentity(), generateIdentity()]
      const pass = admission(s, ann, n1, 'writer', { expiresAt: now + 1000 })
      now += 1000 // the pass works while now < expiresAt
      expect(code(await store.rosters.admit(pass))).toBe('INVITE_EXPIRED')
      const past = admission(s, ann, n2, 'writer', { expiresAt: Date.UTC(2025, 0, 1) })
      expect(code(await store.rosters.admit(past))).toBe('INVITE_EXPIRED')
      expect(code(await store.put(seal(n1, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
    })

    it('counts the uses of an invite', async () => {
      const s = newSpace()
      const store = await withRoster(s)
      const [n1, n2] = [generateIdentity(), generateIdentity()]
      const [a1, a2] = admissions(s, root, [n1, n2], 1)
      must(await store.rosters.admit(a1 as Uint8Array))
      expect(code(await store.rosters.admit(a2 as Uint8Array))).toBe('INVITE_EXHAUSTED')
      expect(code(await store.put(seal(n2, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
    })

    it('checks who invites, for which role, and what was signed', async () => {
      const s = newSpace()
      const store = await withRoster(s, tmp())
      const n = generateIdentity()
      expect(code(await store.rosters.admit(admission(s, eve, n)))).toBe('NOT_A_MEMBER')
      expect(code(await store.rosters.admit(admission(s, bob, n, 'admin')))).toBe('NOT_ALLOWED')
      expect(code(await store.rosters.admit(admission(s, cat, n, 'reader')))).toBe('NOT_ALLOWED')
      // a reader's pass turned into a writer's (the role byte follows three 32-byte fields)
      const tampered = admission(s, ann, n, 'reader')
      tampered[96] = 2
      const r = await store.rosters.admit(tampered)
      expect(r.ok ? undefined : [r.error.name, r.error.code]).toEqual([
        'IdentityError',
        'BAD_SIGNATURE',
      ])
      // built by hand: a pass for a reader presented for an admin
      const invite = generateIdentity()
      const expiresAt = Date.now() + 60_000
      const byHand = (role: Role) =>
        encodeAdmission({
          roster: s.id,
          inviter: ann.publicKey,
          invitePub: invite.publicKey,
          role,
          expiresAt,
          maxUses: 1,
          pass: signPass(ann, s.id, invite.publicKey, 'reader', expiresAt, 1),
          newcomer: n.publicKey,
          proof: sign(invite, admissionJoinBytes(s.id, n.publicKey)),
        })
      expect(code(await store.rosters.admit(byHand('admin')))).toBe('BAD_SIGNATURE')
      expect(code(await store.put(seal(n, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
      must(await store.rosters.admit(byHand('reader')))
      expect(must(await store.rosters.roleOf(keyHex(s.id), k(n)))).toBe('reader')
    })

    it('refuses keys the roster removed, and drops newcomers it removes later', async () => {
      const s = newSpace()
      const store = await openStore()
      const [gone, n] = [generateIdentity(), generateIdentity()]
      must(await store.rosters.put(roster(s, 1, STAFF, [gone])))
      expect(code(await store.rosters.admit(admission(s, ann, gone)))).toBe('NOT_ALLOWED')
      must(await store.rosters.admit(admission(s, ann, n)))
      must(await store.put(seal(n, 1, s.doc, s.id)))
      must(await store.rosters.put(roster(s, 2, STAFF, [gone, n])))
      expect(code(await store.put(seal(n, 2, s.doc, s.id)))).toBe('NOT_A_MEMBER')
      expect(code(await store.rosters.admit(admission(s, root, n)))).toBe('NOT_ALLOWED')
    })

    it('keeps admissions and uses across close and reopen', async () => {
      const s = newSpace()
      const dir = tmp()
      let store = await withRoster(s, dir)
      const [n1, n2] = [generateIdentity(), generateIdentity()]
      const [a1, a2] = admissions(s, ann, [n1, n2], 1)
      must(await store.rosters.admit(a1 as Uint8Array))
      await store.close()
      store = await openStore(dir)
      expect(await store.rosters.get(s.id)).toEqual(roster(s, 1))
      must(await store.put(seal(n1, 1, s.doc, s.id)))
      expect(code(await store.rosters.admit(a2 as Uint8Array))).toBe('INVITE_EXHAUSTED')
      must(await store.rosters.admit(a1 as Uint8Array))
    })
  })

  it("shares one quota among a space's documents", async () => {
    const s = newSpace()
    const size = seal(bob, 1, s.doc, s.id).length
    const store = await withRoster(s, tmp(), { maxBytesPerSpace: size + size / 2, openLogs: true })
    const other = newMirrorDoc()
    must(await store.put(seal(bob, 1, s.doc, s.id)))
    const before = store.stats()
    expect(code(await store.put(seal(bob, 1, other, s.id)))).toBe('STORAGE_FULL')
    expect(code(await store.put(seal(ann, 1, other, s.id)))).toBe('STORAGE_FULL')
    expect(store.stats()).toEqual(before)
    expect(await store.since(other.tag, 0, 1000, s.id)).toEqual([])
    // another space, and a document of no space, have quotas of their own
    const t = newSpace()
    must(await store.rosters.put(roster(t, 1)))
    must(await store.put(seal(bob, 1, t.doc, t.id)))
    must(await store.put(seal(bob, 1, other)))
  })

  it('a failing disk answers STORAGE_FAILED and changes nothing; the next write goes through', async () => {
    const s = newSpace()
    const store = await withRoster(s)
    const db = (store as unknown as { db: { put: (...a: unknown[]) => Promise<void> } }).db
    const put = vi.spyOn(db, 'put').mockRejectedValue(new Error('ENOSPC: no space left'))
    expect(code(await store.rosters.put(roster(s, 2, [[root, 'admin']])))).toBe('STORAGE_FAILED')
    expect(code(await store.rosters.admit(admission(s, ann, eve)))).toBe('STORAGE_FAILED')
    put.mockRestore()
    // bob is still listed, eve not admitted: the failed writes left memory as the disk is
    must(await store.put(seal(bob, 1, s.doc, s.id)))
    expect(code(await store.put(seal(eve, 1, s.doc, s.id)))).toBe('NOT_A_MEMBER')
    must(await store.rosters.admit(admission(s, ann, eve)))
    must(await store.put(seal(eve, 1, s.doc, s.id)))
  })
})
