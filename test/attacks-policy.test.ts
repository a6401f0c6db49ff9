/**
 * Issue 12, hole 3, mounted over real streams: what a member may not write cannot get in through
 * the map-conflict repair (a reader's tab signing a repair, an admin's tab laundering a hidden
 * map), nor through a change concurrent with its author's promotion.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { am } from '../src/core/automerge'
import type { OrreryPeer } from '../src/core/peer'
import type { DocHandle } from '../src/core/repo/doc-handle'
import { signChange } from '../src/core/repo/governance'
import { encodeSigRecords, type SigStore } from '../src/core/repo/sigs'
import type { Spaces } from '../src/core/spaces/manager'
import type { Role } from '../src/core/spaces/model'
import { bytesToHex } from '../src/core/bytes'
import { newDocId, newDocIdIn } from '../src/core/ids'
import { connect, makePeer, openDoc, sleep, waitFor } from './peers'

const running: OrreryPeer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})
async function peer(): Promise<OrreryPeer> {
  const p = await makePeer()
  running.push(p)
  await p.identityReady
  await sleep(0)
  return p
}
const spaces = (p: OrreryPeer): Spaces => p.spaces!
const encodeChange = (c: object): Uint8Array =>
  (am() as unknown as { encodeChange(c: object): Uint8Array }).encodeChange(c)

async function cut(a: OrreryPeer, b: OrreryPeer): Promise<void> {
  await a.node.hangUp(b.node.peerId).catch(() => undefined)
  await b.node.hangUp(a.node.peerId).catch(() => undefined)
}

/** Batches this replica refused and holds (to retry when the space changes): per replica. */
const held = (h: DocHandle): number => h.peers.held

/** `admin` makes a space with one document; each of `members` joins with `role` through `admin`. */
async function team(
  admin: OrreryPeer,
  members: [OrreryPeer, Role][],
): Promise<{ space: string; doc: string }> {
  const space = await spaces(admin).create('team')
  const doc = await spaces(admin).createDoc(space)
  for (const [p, role] of members) {
    const invite = await spaces(admin).invite(space, { role })
    await connect(p, admin)
    await spaces(p).join(invite)
  }
  const all = [admin, ...members.map(([p]) => p)]
  for (const p of all) {
    await waitFor(
      () =>
        spaces(p).state(space).members.size === all.length && spaces(p).state(space).docs.has(doc),
      8000,
      'every member knows every member',
    )
  }
  // and the admin has sealed the space's key for each of them (its own change, made once)
  await waitFor(
    () => all.every((p) => spaces(admin).currentEpoch(space)?.sealed.has(p.identity.id)),
    8000,
    'the key sealed for every member',
  )
  return { space, doc }
}

/** Changes in `handle` signed by `p`'s identity: actor → highest seq. */
const signedBy = (handle: DocHandle, p: OrreryPeer): Record<string, number> =>
  handle.actorsOf(p.identity.id)

describe('map-conflict repair', () => {
  for (const { keys, under } of [
    { keys: 1, under: ['a'] },
    { keys: 3, under: ['a', 'b'] },
  ]) {
    it(`a reader never signs a repair (${keys} key(s) each at /${under.join('/')}); writers do`, async () => {
      const [a, w1, w2, r] = [await peer(), await peer(), await peer(), await peer()]
      const { doc } = await team(a, [
        [w1, 'writer'],
        [w2, 'writer'],
        [r, 'reader'],
      ])
      await a.state.set(`/${doc}/by`, 'admin')
      for (const p of [w1, w2, r]) {
        await openDoc(p, doc as never)
        await waitFor(async () => (await p.state.get(`/${doc}/by`)) === 'admin', 8000, 'synced')
      }
      for (const p of [w1, w2, r]) await cut(p, a)
      // the two writers create the same map concurrently, each with its own keys
      const at = `/${doc}/${under.join('/')}`
      for (let i = 0; i < keys; i++) {
        await w1.state.set(`${at}/x${i}`, i)
        await w2.state.set(`${at}/y${i}`, i)
      }
      // the reader gets w1's map over the network, then w2's from another tab of its own profile
      // (which had it from w2): a conflict its tab sees alone, before any writer has repaired it
      await connect(r, w1)
      await waitFor(async () => (await r.state.get(`${at}/x0`)) === 0, 8000, 'r has x0')
      const fromW2 = w2.repo.get(doc as never)!
      const w2Sigs = (fromW2 as unknown as { ctx: { sigs: SigStore } }).ctx.sigs
      r.repo.get(doc as never)!.receiveTabChunk(fromW2.save(), w2Sigs.records(), true)
      await waitFor(async () => (await r.state.get(`${at}/y0`)) !== undefined, 8000, 'r has y0')
      // then the writers hear each other's map through the reader, and repair
      await connect(r, w2)
      const everything = async (p: OrreryPeer): Promise<boolean> => {
        for (let i = 0; i < keys; i++) {
          if ((await p.state.get(`${at}/x${i}`)) !== i) return false
          if ((await p.state.get(`${at}/y${i}`)) !== i) return false
        }
        return true
      }
      await waitFor(() => everything(r), 8000, 'the reader gets both maps merged')
      const handle = r.repo.get(doc as never)!
      expect(signedBy(handle, r)).toEqual({}) // the reader signed nothing
      // the admin takes everything from the reader (a reader's own change would be refused)
      await connect(a, r)
      await waitFor(() => everything(a), 8000, 'the admin gets it all through the reader')
      expect(held(a.repo.get(doc as never)!)).toBe(0)
    })
  }
})

describe('hidden maps in the space document', () => {
  // `orphan`: made on an empty history, so its map loses to the space's own; `low`: made on the
  // space's heads, but with a low op counter and no predecessor, so it loses all the same
  const variants = [
    { role: 'writer', key: 'docs', made: 'orphan' },
    { role: 'writer', key: 'docs', made: 'low' },
    { role: 'admin', key: 'members', made: 'low' },
  ] as const
  for (const { role, key, made } of variants) {
    const refused = role !== 'admin' // an admin may write anything; it is still never merged
    it(`a${role === 'admin' ? 'n' : ''} ${role}'s hidden /${key} map (${made}) is ${refused ? 'refused' : 'accepted'}, and the admin's tab does not merge it`, async () => {
      const [a, m] = [await peer(), await peer()]
      const { space } = await team(a, [[m, role]])
      const adminSpace = await openDoc(a, space as never)
      const ownBefore = signedBy(adminSpace, a)
      // m's (modified) tab: its own repair is off, so the hidden map reaches the admin as made
      const handle = await openDoc(m, space as never)
      ;(handle as unknown as { repairConflicts: () => void }).repairConflicts = () => undefined
      const forged = newDocId()
      const entry =
        key === 'docs'
          ? { addedBy: a.identity.id, addedAt: Date.now() }
          : { role: 'admin', addedBy: a.identity.id, addedAt: Date.now() }
      let bytes: Uint8Array
      if (made === 'orphan') {
        const fake = am().create()
        fake.putObject('_root', key, { [forged]: entry } as never)
        fake.commit()
        bytes = fake.getLastLocalChange()!
      } else {
        const actor = bytesToHex(crypto.getRandomValues(new Uint8Array(16)))
        bytes = encodeChange({
          actor,
          seq: 1,
          startOp: 1,
          time: 0,
          message: null,
          deps: handle.heads,
          ops: [
            { action: 'makeMap', obj: '_root', key, pred: [] },
            { action: 'makeMap', obj: `1@${actor}`, key: forged, pred: [] },
            ...Object.entries(entry).map(([k, value]: [string, string | number]) => ({
              action: 'set',
              obj: `2@${actor}`,
              key: k,
              value,
              ...(typeof value === 'number' ? { datatype: 'int' } : {}),
              pred: [],
            })),
          ],
        })
      }
      const hash = am().decodeChange(bytes).hash
      handle.receiveTabChunk(bytes, encodeSigRecords([signChange(m.identity, hash)]), true)
      const seen = (): boolean =>
        key === 'docs'
          ? spaces(a).state(space).docs.has(forged)
          : spaces(a).state(space).members.has(forged)
      if (refused) {
        await waitFor(() => held(adminSpace) > 0 || seen(), 8000, 'the admin refuses it')
        expect(adminSpace.heads).not.toContain(hash)
      } else {
        await waitFor(() => adminSpace.heads.includes(hash), 8000, 'the admin takes it')
      }
      adminSpace.flush() // a repair would be written in this flush
      expect(seen()).toBe(false)
      expect(signedBy(adminSpace, a)).toEqual(ownBefore) // the admin signed nothing new
    })
  }
})

describe('a change is judged by its author’s role at its dependencies', () => {
  const cases = [
    { to: 'admin', forbidden: 'demotes a writer' },
    { to: 'writer', forbidden: 'lists a document' },
  ] as const
  for (const { to, forbidden } of cases) {
    it(`promotion to ${to} || the reader ${forbidden}: refused by every replica, in either order`, async () => {
      const [a, r, v, u] = [await peer(), await peer(), await peer(), await peer()]
      const { space } = await team(a, [
        [r, 'reader'],
        [v, 'writer'],
        [u, 'writer'],
      ])
      await cut(r, a)
      await cut(u, a)
      // the admin promotes r; v (still connected) gets it, u and r do not
      await a.state.set(`/${space}/members/${r.identity.id}/role`, to)
      await waitFor(() => spaces(v).state(space).members.get(r.identity.id)?.role === to)
      // concurrently, r (still a reader in its own view) makes the change with a modified tab
      const listed = newDocIdIn(space) // a document of this space (ids are bound)
      const rSpace = await openDoc(r, space as never)
      const manager = spaces(r) as unknown as { ownWrites: number }
      manager.ownWrites++
      if (forbidden === 'demotes a writer')
        rSpace.write(['members', v.identity.id, 'role'], 'reader')
      else rSpace.write(['docs', listed], { addedBy: r.identity.id, addedAt: Date.now() })
      rSpace.flush()
      manager.ownWrites--
      const effect = (p: OrreryPeer): boolean =>
        forbidden === 'demotes a writer'
          ? spaces(p).state(space).members.get(v.identity.id)?.role === 'reader'
          : spaces(p).state(space).docs.has(listed)
      expect(effect(r)).toBe(true)
      const [uSpace, vSpace, aSpace] = await Promise.all(
        [u, v, a].map((p) => openDoc(p, space as never)),
      )
      /** r offers its change to `p`, which must refuse it (held while the space may change) */
      const offer = async (p: OrreryPeer, handle: DocHandle): Promise<void> => {
        await connect(r, p)
        await waitFor(() => held(handle) > 0 || effect(p), 8000, 'the change is judged')
        expect(effect(p)).toBe(false)
        // r keeps offering a held change until it is cut off (PARK_MS): end that here
        await cut(r, p)
      }
      // u: the forbidden change first, then the promotion, then the change again
      await offer(u, uSpace!)
      await connect(u, a)
      await waitFor(() => spaces(u).state(space).members.get(r.identity.id)?.role === to)
      await offer(u, uSpace!)
      // v: the promotion first, then the forbidden change; a, who made the promotion: the same
      await offer(v, vSpace!)
      await offer(a, aSpace!)
      for (const p of [a, u, v]) expect(effect(p)).toBe(false)
    })
  }
})
