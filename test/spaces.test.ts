/**
 * Spaces over real streams: joining by invite, signed writes checked at every hop, outsiders and
 * readers refused, removal, and an invite redeemed while its inviter is away.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { OrreryPeer } from '../src/core/peer'
import type { Spaces } from '../src/core/spaces/manager'
import { applyLinkKeys, linkKeysOf } from '../src/core/link-keys'
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

describe('spaces', () => {
  it('a newcomer joins by invite, writes, and the change is verified on the way', async () => {
    const [a, b] = [await peer(), await peer()]
    const space = await spaces(a).create('club')
    const doc = await spaces(a).createDoc(space)
    await a.state.set(`/${doc}/by`, 'admin')
    const invite = await spaces(a).invite(space, { role: 'writer' })
    await connect(a, b)
    await spaces(b).join(invite, 'bob')
    await waitFor(
      () => spaces(a).state(space).members.has(b.identity.id),
      5000,
      'a sees b as member',
    )
    await openDoc(b, doc)
    await waitFor(async () => (await b.state.get(`/${doc}/by`)) === 'admin', 5000, 'b reads')
    await b.state.set(`/${doc}/from-b`, 'hello')
    await waitFor(
      async () => (await a.state.get(`/${doc}/from-b`)) === 'hello',
      5000,
      'a accepts b',
    )
  })

  it('signed changes cross several hops, each peer checking them (a - b - c)', async () => {
    const [a, b, c] = [await peer(), await peer(), await peer()]
    const space = await spaces(a).create('line')
    const doc = await spaces(a).createDoc(space)
    const inviteB = await spaces(a).invite(space, { role: 'writer' })
    const inviteC = await spaces(a).invite(space, { role: 'writer' })
    await connect(a, b)
    await spaces(b).join(inviteB)
    await connect(b, c) // c never talks to a
    await spaces(c).join(inviteC)
    await openDoc(c, doc)
    await openDoc(b, doc)
    await c.state.set(`/${doc}/from-c`, 'through b')
    await waitFor(
      async () => (await a.state.get(`/${doc}/from-c`)) === 'through b',
      8000,
      'a gets c via b',
    )
    expect(a.node.getConnections(c.node.peerId)).toHaveLength(0)
  })

  it('an outsider who knows the document id cannot change it (refused by every member)', async () => {
    const [a, b, outsider] = [await peer(), await peer(), await peer()]
    const space = await spaces(a).create('closed')
    const doc = await spaces(a).createDoc(space)
    await a.state.set(`/${doc}/x`, 1)
    const invite = await spaces(a).invite(space, { role: 'reader' })
    await connect(a, b)
    await spaces(b).join(invite)
    await openDoc(b, doc)
    await waitFor(async () => (await b.state.get(`/${doc}/x`)) === 1, 5000, 'b reads')
    // the outsider opens the document by id (no space): it can read it and write to its copy…
    await openDoc(outsider, doc)
    await connect(outsider, a)
    await connect(outsider, b)
    await waitFor(async () => (await outsider.state.get(`/${doc}/x`)) === 1, 5000, 'outsider reads')
    await outsider.state.set(`/${doc}/vandal`, 'was here')
    await waitFor(
      () => a.firewall.stats()[outsider.id]?.strikes === 1,
      5000,
      'a cuts the outsider off',
    )
    await sleep(500)
    // …but nobody in the space takes its change, and it is not forwarded
    expect(await a.state.get(`/${doc}/vandal`)).toBeUndefined()
    expect(await b.state.get(`/${doc}/vandal`)).toBeUndefined()
    // a reader may not write at all, nor revoke invites (refused before anything is stored)
    await expect(b.state.set(`/${doc}/y`, 2)).rejects.toMatchObject({ code: 'NOT_ALLOWED' })
    await expect(spaces(b).revoke(space, 'some-invite')).rejects.toMatchObject({
      code: 'NOT_ALLOWED',
    })
    expect(spaces(b).state(space).revoked.size).toBe(0)
  })

  it('a reader whose link names the space refuses an outsider’s forged change; one without does not', async () => {
    const [a, outsider, follower, plain] = [await peer(), await peer(), await peer(), await peer()]
    const space = await spaces(a).create('news')
    const doc = await spaces(a).createDoc(space)
    await a.state.set(`/${doc}/headline`, 'true story')
    // the outsider has the document (by id, no space) and changes its own copy
    await openDoc(outsider, doc)
    await connect(outsider, a)
    await waitFor(async () => (await outsider.state.get(`/${doc}/headline`)) === 'true story')
    await outsider.state.set(`/${doc}/headline`, 'forged')
    // two readers get the document from the outsider only; one knows the space from its link
    // (and from it, the read key of the space's document, as the share link carries it)
    const spaceDocKey = a.repo.keys.get(space)
    await spaces(follower).follow(space, doc, spaceDocKey)
    await expect(spaces(follower).follow(space, doc, spaceDocKey)).resolves.toBeUndefined() // idempotent
    for (const reader of [follower, plain]) {
      await openDoc(reader, doc)
      await connect(reader, outsider)
    }
    await waitFor(async () => (await plain.state.get(`/${doc}/headline`)) === 'forged')
    await waitFor(
      () => (follower.firewall.stats()[outsider.id]?.strikes ?? 0) >= 1,
      5000,
      'the follower refuses the forged change',
    )
    expect(await follower.state.get(`/${doc}/headline`)).toBeUndefined()
    // from a member it gets the real document, and it may not write (not a member)
    await connect(follower, a)
    await waitFor(async () => (await follower.state.get(`/${doc}/headline`)) === 'true story')
    await expect(follower.state.set(`/${doc}/headline`, 'mine')).rejects.toMatchObject({
      code: 'NOT_A_MEMBER',
    })
    expect(spaces(follower).spaceOfDoc(doc)).toBe(space)
    // a document already open without its space, or listed in another space, is not re-homed
    await expect(spaces(plain).follow(space, doc)).rejects.toMatchObject({ code: 'NOT_READY' })
    const other = await spaces(a).create('other')
    await expect(spaces(a).follow(other, doc)).rejects.toMatchObject({ code: 'SPACE_MISMATCH' })
    await expect(spaces(a).follow('nonsense', doc)).rejects.toMatchObject({
      code: 'INVALID_DOC_ID',
    })
  })

  it('a document opened while its link is being applied waits for the link’s space', async () => {
    const [a, reader, early] = [await peer(), await peer(), await peer()]
    const space = await spaces(a).create('held')
    const doc = await spaces(a).createDoc(space)
    const keys = linkKeysOf(a.repo, spaces(a), doc)
    expect(keys.space).toBe(space)
    // the page's code opens the document (and writes) at once, while the link still applies
    const applying = applyLinkKeys(reader.repo, spaces(reader), doc, keys)
    const written = reader.state.set(`/${doc}/vandal`, 'was here')
    const spaceDoc = reader.repo.open(space)
    await applying
    await expect(written).rejects.toMatchObject({ code: 'NOT_A_MEMBER' })
    expect(reader.repo.get(doc)?.governed).toBe(true)
    expect((await spaceDoc).governed).toBe(true)
    // a document whose loading began before the link came is not silently left ungoverned
    const opening = early.repo.open(doc)
    await expect(applyLinkKeys(early.repo, spaces(early), doc, keys)).rejects.toMatchObject({
      code: 'NOT_READY',
    })
    expect((await opening).governed).toBe(false)
  })

  it('an invite works while the inviter is away, through any member', async () => {
    const [a, b, c] = [await peer(), await peer(), await peer()]
    const space = await spaces(a).create('async')
    const invite = await spaces(a).invite(space, { role: 'writer' })
    const inviteB = await spaces(a).invite(space, { role: 'writer' })
    await connect(a, b)
    await spaces(b).join(inviteB)
    await waitFor(() => spaces(b).state(space).members.size === 2, 5000)
    await a.stop() // the inviter leaves
    running.splice(running.indexOf(a), 1)
    await connect(c, b)
    await spaces(c).join(invite, 'carol')
    await waitFor(() => spaces(b).state(space).members.has(c.identity.id), 5000, 'b accepts c')
  })

  it('a removed member keeps old writes but new ones are refused', async () => {
    const [a, b] = [await peer(), await peer()]
    const space = await spaces(a).create('rm')
    const doc = await spaces(a).createDoc(space)
    const invite = await spaces(a).invite(space, { role: 'writer' })
    await connect(a, b)
    await spaces(b).join(invite)
    await openDoc(b, doc)
    await waitFor(() => spaces(b).state(space).docs.has(doc), 5000)
    await b.state.set(`/${doc}/old`, 'kept')
    await waitFor(async () => (await a.state.get(`/${doc}/old`)) === 'kept', 5000)
    await spaces(a).remove(space, b.identity.id)
    await waitFor(() => spaces(b).state(space).removed.has(b.identity.id), 5000, 'b learns')
    // b's tab refuses locally now; a write made on b's replica anyway would be refused by a
    await expect(b.state.set(`/${doc}/new`, 'refused')).rejects.toMatchObject({
      code: 'NOT_A_MEMBER',
    })
    expect(await a.state.get(`/${doc}/old`)).toBe('kept')
  })

  it('a join with no member reachable waits, and completes by itself when one comes online', async () => {
    const [a, b] = [await peer(), await peer()]
    const space = await spaces(a).create('patient')
    const invite = await spaces(a).invite(space, { role: 'writer' })
    let waitingFor: string | undefined
    let joined = false
    const joining = spaces(b)
      .join(invite, 'bob', { onWaiting: (id) => (waitingFor = id) })
      .then((id) => {
        joined = true
        return id
      })
    await waitFor(() => waitingFor === space, 5000, 'b waits for a member')
    await sleep(500)
    expect(joined).toBe(false) // no failure after a while: still waiting
    await connect(a, b) // a member comes online
    expect(await joining).toBe(space)
    await waitFor(() => spaces(a).state(space).members.has(b.identity.id), 5000, 'a sees b')
  })

  it('an expired invite fails at once, with nobody reachable to check it', async () => {
    const [a, b] = [await peer(), await peer()]
    const space = await spaces(a).create('short')
    const invite = await spaces(a).invite(space, { role: 'writer', expiresInMs: 200 })
    await sleep(300)
    await expect(spaces(b).join(invite, 'late')).rejects.toMatchObject({ code: 'INVITE_EXPIRED' })
  })
})
