/**
 * Issue 12, hole 6 and the space's identity, mounted over real streams: a space that lists
 * another space's document in its /docs, a competing first change (genesis) of a space, and a
 * share link naming a space the document does not belong to. Ids are bound (src/core/ids.ts):
 * a space id to its creator, a space's document id to its space.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { seedSigner } from '../src/core/signer'
import { ok } from '../src/core/errors'
import { newDocId, newSpaceId } from '../src/core/ids'
import { addLogSink } from '../src/core/log'
import type { OrreryPeer } from '../src/core/peer'
import type { Governance } from '../src/core/repo/governance'
import type { Spaces } from '../src/core/spaces/manager'
import { newSpaceValue, roleOf } from '../src/core/spaces/model'
import { connect, openDoc, sleep, testPeers, waitFor } from './peers'

const peer = testPeers()
const spaces = (p: OrreryPeer): Spaces => p.spaces!
const did = (p: OrreryPeer): string => p.identity.id

/** The log lines of every peer in this process (info included: held changes are logged so). */
const lines: string[] = []
let offLog: (() => void) | undefined
beforeEach(() => {
  lines.length = 0
  offLog = addLogSink((_level, component, msg) => lines.push(`${component}: ${msg}`))
})
afterEach(() => offLog?.())
/** Whether some peer held (did not apply) changes to `docId` that `from` sent. */
const held = (docId: string, from: OrreryPeer): boolean =>
  lines.some((l) => l.includes(`holding changes to ${docId} from ${from.id.slice(-8)}`))

/**
 * The attacker's client: it signs whatever it writes to these documents with its identity and
 * checks nothing it receives for them (an attacker runs any code it likes).
 */
function rogue(p: OrreryPeer, ids: readonly string[]): void {
  const s = spaces(p)
  const honest = s.governanceFor.bind(s)
  const anything: Governance = {
    signer: () => seedSigner(p.identity),
    mayWriteLocally: () => ok(undefined),
    admit: () => ok(undefined),
  }
  s.governanceFor = async (id) => (ids.includes(id) ? anything : honest(id))
}

/** Writes several top-level keys of a document as one signed change (a genesis must be one). */
async function writeAtOnce(p: OrreryPeer, docId: string, value: object): Promise<void> {
  const h = await openDoc(p, docId)
  for (const [k, v] of Object.entries(value)) h.write([k], v)
  h.flush()
  await h.whenSaved()
}

describe('capture through a space’s /docs (hole 6)', () => {
  for (const c of [
    { listed: 'before the victim joins the attacker’s space', after: false, copy: false },
    { listed: 'after the victim joined, copying the owner’s entry', after: true, copy: true },
  ]) {
    it(`a document listed by another space stays its own space’s (${c.listed})`, async () => {
      const [alice, carol, mallory] = [await peer(), await peer(), await peer()]
      const home = await spaces(alice).create('home')
      const doc = await spaces(alice).createDoc(home)
      await alice.state.set(`/${doc}/title`, 'by alice')
      const trap = await spaces(mallory).create('trap')
      rogue(mallory, [doc])
      const list = (): Promise<void> =>
        mallory.state.set(`/${trap}/docs/${doc}`, {
          addedBy: c.copy ? did(alice) : did(mallory),
          addedAt: Date.now(),
        })
      if (!c.after) await list()
      // carol, alice's collaborator, joined mallory's space first
      await connect(carol, mallory)
      await spaces(carol).join(await spaces(mallory).invite(trap, { role: 'writer' }))
      if (c.after) await list()
      await waitFor(
        async () => (await carol.state.get(`/${trap}/docs/${doc}`)) !== undefined,
        5000,
        'the listing reaches carol',
      )
      expect(spaces(carol).state(trap).docs.has(doc)).toBe(false)
      await connect(carol, alice)
      await spaces(carol).join(await spaces(alice).invite(home, { role: 'writer' }))
      await waitFor(() => spaces(carol).spaceOfDoc(doc) !== undefined, 5000, 'doc registered')
      expect(spaces(carol).spaceOfDoc(doc)).toBe(home)
      // over the streams: the owner's writes are taken, the attacker's signed edit is not
      await openDoc(carol, doc)
      await openDoc(mallory, doc)
      await mallory.state.set(`/${doc}/title`, 'by mallory')
      await alice.state.set(`/${doc}/more`, 'also by alice')
      await waitFor(async () => (await carol.state.get(`/${doc}/more`)) === 'also by alice')
      await waitFor(() => held(doc, mallory), 5000, 'carol holds mallory’s change')
      expect(await carol.state.get(`/${doc}/title`)).toBe('by alice')
      // and carol, a writer of home, still writes to it
      await carol.state.set(`/${doc}/from-carol`, 1)
      await waitFor(async () => (await alice.state.get(`/${doc}/from-carol`)) === 1)
    })
  }

  it('a legacy space (made before keys) cannot be shared: no invite, so nothing to re-home', async () => {
    const [bob, carol, mallory] = [await peer(), await peer(), await peer()]
    const free = (await bob.repo.create()).id // a free document, legacy id
    await bob.state.set(`/${free}/x`, 1)
    await openDoc(carol, free)
    await connect(carol, bob)
    await waitFor(async () => (await carol.state.get(`/${free}/x`)) === 1, 5000, 'carol has it')
    // mallory runs a space with a legacy id (as made before ids were bound) and lists it
    const legacy = newDocId()
    rogue(mallory, [legacy])
    await writeAtOnce(mallory, legacy, newSpaceValue('old', mallory.identity))
    await mallory.state.set(`/${legacy}/docs/${free}`, { addedBy: did(mallory), addedAt: 1 })
    await connect(carol, mallory)
    await expect(spaces(mallory).invite(legacy, { role: 'writer' })).rejects.toMatchObject({
      code: 'NO_KEY',
    })
    expect(spaces(carol).spaceOfDoc(free)).toBeUndefined()
  })
})

describe('a competing genesis', () => {
  for (const nonce of ['a nonce of its own', 'the creator’s real nonce']) {
    it(`someone who knows a space id cannot write its first change (${nonce})`, async () => {
      const [alice, carol, mallory] = [await peer(), await peer(), await peer()]
      const space = await spaces(alice).create('real')
      const invite = await spaces(alice).invite(space, { role: 'writer' })
      // mallory knows the space id (it is in every invite) and offers carol a genesis first
      const realNonce = (await alice.state.get(`/${space}/space/nonce`)) as string
      expect(typeof realNonce).toBe('string')
      const n = nonce === 'a nonce of its own' ? newSpaceId(did(mallory)).nonce : realNonce
      rogue(mallory, [space])
      await writeAtOnce(mallory, space, newSpaceValue('fake', mallory.identity, Date.now(), n))
      await connect(carol, mallory)
      const joining = spaces(carol).join(invite, 'carol')
      void joining.catch(() => undefined)
      await waitFor(
        () => spaces(carol).state(space).members.size > 0 || held(space, mallory),
        5000,
        'carol has judged mallory’s genesis',
      )
      expect(spaces(carol).state(space).creator).toBeUndefined()
      expect(spaces(carol).state(space).members.size).toBe(0)
      // the real space arrives from alice and the join completes
      await connect(carol, alice)
      await expect(joining).resolves.toBe(space)
      const s = spaces(carol).state(space)
      expect(s.creator).toBe(did(alice))
      expect(roleOf(s, did(carol))).toBe('writer')
      expect(s.members.has(did(mallory))).toBe(false)
      await waitFor(() => spaces(alice).state(space).members.has(did(carol)), 5000, 'alice')
    })
  }
})

describe('a link with a forged space id', () => {
  for (const forged of ['the attacker’s space', 'a legacy id', 'another real space']) {
    it(`is refused with SPACE_MISMATCH (${forged}); the genuine link still works`, async () => {
      const [alice, victim, mallory] = [await peer(), await peer(), await peer()]
      const home = await spaces(alice).create('home')
      const doc = await spaces(alice).createDoc(home)
      await alice.state.set(`/${doc}/title`, 'by alice')
      const trap = await spaces(mallory).create('trap')
      await mallory.state.set(`/${trap}/docs/${doc}`, { addedBy: did(mallory), addedAt: 1 })
      const space =
        forged === 'the attacker’s space'
          ? trap
          : forged === 'a legacy id'
            ? newDocId()
            : await spaces(alice).create('other')
      await expect(spaces(victim).follow(space, doc)).rejects.toMatchObject({
        code: 'SPACE_MISMATCH',
      })
      expect(spaces(victim).spaceOfDoc(doc)).toBeUndefined()
      // the genuine link: the victim checks the document against alice's space, over streams
      await spaces(victim).follow(home, doc, alice.repo.keys.get(home))
      rogue(mallory, [doc])
      await openDoc(mallory, doc)
      await mallory.state.set(`/${doc}/title`, 'forged')
      await openDoc(victim, doc)
      await connect(victim, mallory)
      await waitFor(() => held(doc, mallory), 5000, 'the victim holds mallory’s change')
      await connect(victim, alice)
      await waitFor(async () => (await victim.state.get(`/${doc}/title`)) === 'by alice')
      await sleep(200)
      expect(await victim.state.get(`/${doc}/title`)).toBe('by alice')
    })
  }

  it('a link stripped of its space still opens a member’s document under its space', async () => {
    const [alice, carol, mallory] = [await peer(), await peer(), await peer()]
    const home = await spaces(alice).create('home')
    await connect(carol, alice)
    await spaces(carol).join(await spaces(alice).invite(home, { role: 'reader' }))
    await carol.node.hangUp(alice.node.peerId)
    const doc = await spaces(alice).createDoc(home) // its listing has not reached carol
    await alice.state.set(`/${doc}/title`, 'by alice')
    rogue(mallory, [doc])
    await openDoc(mallory, doc)
    await mallory.state.set(`/${doc}/title`, 'forged')
    expect(spaces(carol).state(home).docs.has(doc)).toBe(false)
    const h = await openDoc(carol, doc) // `#/doc/<id>` with no `?space=`
    expect(h.governed).toBe(true)
    expect(spaces(carol).spaceOfDoc(doc)).toBe(home)
    await connect(carol, mallory)
    await waitFor(() => held(doc, mallory), 5000, 'carol holds mallory’s change')
    await connect(carol, alice)
    await waitFor(async () => (await carol.state.get(`/${doc}/title`)) === 'by alice')
    await expect(carol.state.set(`/${doc}/title`, 'mine')).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
    })
    // held, mallory's messages are not answered: no sync ping-pong (thousands of messages)
    expect(carol.firewall.stats()[mallory.id]?.writes ?? 0).toBeLessThan(50)
  })
})
