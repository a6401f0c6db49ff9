/**
 * Issue 13 over real streams: a writer of the space forges or edits another member's post under
 * that member's `~<did>` key. Its own tab refuses the write at once; a modified tab that signs
 * and sends it anyway is refused by every honest replica, while the owner's own edits pass.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { am, type AutomergeDoc } from '../src/core/automerge'
import type { OrreryPeer } from '../src/core/peer'
import { signChange } from '../src/core/repo/governance'
import { encodeSigRecords } from '../src/core/repo/sigs'
import type { Spaces } from '../src/core/spaces/manager'
import type { Role } from '../src/core/spaces/model'
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

/** `admin` makes a space with one document; each of `members` joins with `role` through `admin`. */
async function team(admin: OrreryPeer, members: [OrreryPeer, Role][]): Promise<string> {
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
  return doc
}

/** what the forger does in the owner's posts map (object id) */
type Forgery = (d: AutomergeDoc, posts: string) => void
const child = (d: AutomergeDoc, obj: string, key: string): string =>
  (d.getWithType(obj, key) as [string, string])[1]

const forgeries: { name: string; forge: Forgery }[] = [
  {
    name: "edits another member's post",
    forge: (d, posts) => d.put(child(d, posts, 'p1'), 'text', 'forged'),
  },
  { name: "deletes another member's post", forge: (d, posts) => d.delete(posts, 'p1') },
  {
    name: "adds a post under another member's key",
    forge: (d, posts) => d.putObject(posts, 'p2', { text: 'forged' }),
  },
]

describe('owned paths over real streams', () => {
  for (const { name, forge } of forgeries) {
    it(`a writer who ${name} is refused by every honest replica; the owner's edit passes`, async () => {
      const [a, ob, m, h] = [await peer(), await peer(), await peer(), await peer()]
      const doc = await team(a, [
        [ob, 'writer'],
        [m, 'writer'],
        [h, 'reader'],
      ])
      const mine = `/${doc}/~0${ob.identity.id}`
      await ob.state.set(`${mine}/posts/p1`, { text: 'mine', createdAt: 1 })
      const honest = [a, ob, h]
      for (const p of [...honest, m]) {
        await openDoc(p, doc as never)
        await waitFor(async () => (await p.state.get(`${mine}/posts/p1/text`)) === 'mine', 8000)
      }
      for (const p of [ob, h]) await connect(m, p)
      // m's own tab refuses at once, before anything is signed or sent
      await expect(m.state.set(`${mine}/posts/p1/text`, 'forged')).rejects.toMatchObject({
        name: 'SpaceError',
        code: 'OWNED_PATH',
      })
      await expect(m.state.delete(`${mine}/posts/p1`)).rejects.toMatchObject({
        code: 'OWNED_PATH',
      })
      // a modified tab of m's makes the change anyway, signs it and hands it to m's replica
      const handle = m.repo.get(doc as never)!
      const copy = am().load(handle.save())
      const fork = copy.fork()
      forge(fork, child(fork, child(fork, '_root', `~${ob.identity.id}`), 'posts'))
      fork.commit()
      const bytes = fork.getLastLocalChange()!
      const hash = am().decodeChange(bytes).hash
      handle.receiveTabChunk(bytes, encodeSigRecords([signChange(m.identity, hash)]), true)
      await waitFor(
        () => handle.heads.includes(hash),
        8000,
        "m's replica takes its own tab's change",
      )
      for (const p of honest) {
        await waitFor(
          () => (p.firewall.stats()[m.id]?.strikes ?? 0) >= 1,
          8000,
          `${p === a ? 'the admin' : p === ob ? 'the owner' : 'the reader'} refuses the forged change`,
        )
      }
      for (const p of honest) {
        expect(await p.state.get(`${mine}/posts`)).toEqual({ p1: { text: 'mine', createdAt: 1 } })
        expect(p.repo.get(doc as never)!.heads).not.toContain(hash)
      }
      // the owner's own edit reaches everyone honest
      await ob.state.set(`${mine}/posts/p1/text`, 'edited')
      for (const p of honest) {
        await waitFor(async () => (await p.state.get(`${mine}/posts/p1/text`)) === 'edited', 8000)
      }
    })
  }

  it("a member's tab never repairs a conflict under another member's key (it would sign their entries)", async () => {
    const [a, ob, m] = [await peer(), await peer(), await peer()]
    const doc = await team(a, [
      [ob, 'writer'],
      [m, 'writer'],
    ])
    const mine = `/${doc}/~0${ob.identity.id}`
    await ob.state.set(`${mine}/hello`, 1)
    for (const p of [a, m]) {
      await openDoc(p, doc as never)
      await waitFor(async () => (await p.state.get(`${mine}/hello`)) === 1, 8000)
    }
    await connect(m, ob)
    // two devices of ob's create /~ob/notes concurrently; ob's own tab does not repair here, so
    // m sees the conflict first
    const obDoc = ob.repo.get(doc as never)!
    ;(obDoc as unknown as { repairConflicts: () => void }).repairConflicts = () => undefined
    const copy = am().load(obDoc.save())
    const corner = child(copy, '_root', `~${ob.identity.id}`)
    const actors: string[] = []
    for (const entry of [{ x: 1 }, { y: 2 }] as Record<string, number>[]) {
      const fork = copy.fork()
      fork.putObject(corner, 'notes', entry)
      fork.commit()
      const bytes = fork.getLastLocalChange()!
      const { hash, actor } = am().decodeChange(bytes)
      actors.push(actor)
      obDoc.receiveTabChunk(bytes, encodeSigRecords([signChange(ob.identity, hash)]), true)
    }
    const mDoc = m.repo.get(doc as never)!
    const signedByOb = (): Record<string, number> => mDoc.actorsOf(ob.identity.id)
    await waitFor(() => actors.every((x) => signedByOb()[x] === 1), 8000, 'm has both maps')
    mDoc.flush() // a repair would be written here
    expect(mDoc.actorsOf(m.identity.id)).toEqual({}) // m signed nothing
    expect(a.firewall.stats()[m.id]?.strikes ?? 0).toBe(0)
  })
})
