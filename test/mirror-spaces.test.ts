/**
 * A space on the mirror (issue 16): its admins keep its member-key list there, the mirror takes
 * uploads to the space's documents from members only, a newcomer with an invite is let in on the
 * invite's pass while every member sleeps, and a removal shuts the remover's door on the mirror
 * too. Real tabs, a real LevelDB mirror, real streams.
 */
import { describe, expect, it, vi } from 'vitest'
import { bytesToHex } from '../src/core/bytes'
import { generateIdentity } from '../src/core/identity'
import type { DocId } from '../src/core/ids'
import { applyLinkKeys, linkKeysOf } from '../src/core/link-keys'
import { MirrorClient } from '../src/core/mirror/client'
import { mirrorDocTag, parseEnvelope, sealEnvelope } from '../src/core/mirror/envelope'
import { parseRoster } from '../src/core/mirror/roster'
import type { OrreryPeer } from '../src/core/peer'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { mirrorPeers, mirrored, read, type MirrorNode } from './mirror-peers'
import { waitFor } from './peers'

const { peer, startMirror, viaMirror } = mirrorPeers()

const client = (p: OrreryPeer, mirror: MirrorNode): MirrorClient =>
  MirrorClient.dial(p.node, mirror.getMultiaddrs(), { timeoutMs: 5000 })

/** The space's member list as the mirror holds it: key (hex) → role. */
async function listed(p: OrreryPeer, mirror: MirrorNode, space: string) {
  const id = p.spaces!.rosters.idOf(space)
  if (id === undefined) return new Map<string, string>()
  const got = await client(p, mirror).getRoster(id)
  if (!got.ok || got.value === undefined) return new Map<string, string>()
  const parsed = parseRoster(got.value)
  if (!parsed.ok) throw parsed.error
  return parsed.value.members
}

/** An upload of one change to `doc`'s log in its space, signed by `uploader`'s identity. */
async function upload(uploader: OrreryPeer, owner: OrreryPeer, mirror: MirrorNode, doc: DocId) {
  return client(uploader, mirror).put(
    sealEnvelope({
      docId: doc,
      readKey: owner.repo.keys.get(doc)!,
      roster: owner.spaces!.rosters.idOf(owner.spaces!.spaceOfDoc(doc)!)!,
      epoch: 0,
      uploader: uploader.identity,
      seq: Date.now(),
      changes: [{ change: new Uint8Array(120).fill(7) }],
    }),
  )
}

const hexOf = (p: OrreryPeer): string => bytesToHex(p.identity.publicKey)

describe('a space on the mirror', { timeout: 60_000 }, () => {
  it('an invite opened while every member sleeps completes on the pass; the admin finds them', async () => {
    const { node } = await startMirror()
    const [store, identity] = [new MemoryStorageAdapter(), generateIdentity()]
    let admin = await viaMirror(node, { storage: store, identity })
    const space = await admin.spaces!.create('club')
    const doc = await admin.spaces!.createDoc(space)
    await admin.state.set(`/${doc}/hello`, 'from the admin')
    await mirrored(admin, space)
    await mirrored(admin, doc)
    await waitFor(async () => (await listed(admin, node, space)).size === 1, 10_000, 'the list')
    const invite = await admin.spaces!.invite(space, { role: 'writer' })
    await admin.stop() // every member away

    const newcomer = await viaMirror(node)
    await newcomer.spaces!.join(invite, 'newcomer', { timeoutMs: 20_000 })
    await newcomer.repo.open(doc)
    await waitFor(async () => (await read(newcomer, doc, 'hello')) === 'from the admin', 10_000)
    await newcomer.state.set(`/${doc}/reply`, 'hi from the newcomer')
    await mirrored(newcomer, space) // the join itself, taken on the invite's pass
    await mirrored(newcomer, doc)
    // no admin has listed the newcomer: the mirror took the uploads on the invite's pass alone
    expect((await listed(newcomer, node, space)).has(hexOf(newcomer))).toBe(false)
    await newcomer.stop()

    admin = await viaMirror(node, { storage: store, identity })
    await admin.repo.open(doc)
    await waitFor(
      () => admin.spaces!.state(space).members.has(newcomer.identity.id),
      10_000,
      'the admin sees the join',
    )
    await waitFor(async () => (await read(admin, doc, 'reply')) === 'hi from the newcomer', 10_000)
    // and puts the newcomer on the list itself
    await waitFor(
      async () => (await listed(admin, node, space)).get(hexOf(newcomer)) === 'writer',
      10_000,
      'the newcomer listed',
    )
  })

  it("refuses uploads to a space's logs from whoever is not a member, link holders too", async () => {
    const { node } = await startMirror()
    const admin = await viaMirror(node)
    const space = await admin.spaces!.create('club')
    const doc = await admin.spaces!.createDoc(space)
    await admin.state.set(`/${doc}/title`, 'members only')
    await mirrored(admin, doc)
    await waitFor(async () => (await listed(admin, node, space)).size === 1, 10_000, 'the list')
    const reader = await viaMirror(node)
    await applyLinkKeys(
      reader.repo,
      reader.spaces!,
      doc,
      linkKeysOf(admin.repo, admin.spaces!, doc),
    )
    await reader.repo.open(doc)
    await waitFor(async () => (await read(reader, doc, 'title')) === 'members only', 10_000)
    const refused = await upload(reader, admin, node, doc)
    expect(refused.ok ? 'ok' : refused.error.code).toBe('NOT_A_MEMBER')
    const mine = await upload(admin, admin, node, doc)
    expect(mine.ok).toBe(true)
  })

  it("a writer's tab compacts a long log into a snapshot; a newcomer reads it all from that", async () => {
    const { node } = await startMirror()
    const compacting = (m: MirrorNode) =>
      peer({
        mirror: {
          address: m.getMultiaddrs(),
          pullEveryMs: 200,
          retryMs: 50,
          timeoutMs: 5000,
          uploadDelayMs: 0,
          snapshotAfter: { envelopes: 8, bytes: 1 << 30 },
        },
      })
    const admin = await compacting(node)
    const space = await admin.spaces!.create('club')
    const doc = await admin.spaces!.createDoc(space)
    await waitFor(async () => (await listed(admin, node, space)).size === 1, 10_000, 'the list')
    for (let i = 0; i < 20; i++) {
      await admin.state.set(`/${doc}/k${i}`, i)
      await mirrored(admin, doc) // one envelope each
    }
    const log = async () => {
      const c = client(admin, node)
      const id = admin.spaces!.rosters.idOf(space)!
      const tag = mirrorDocTag(doc, admin.repo.keys.get(doc)!)
      const all = await c.sinceAll(tag, 0, id)
      if (!all.ok) throw all.error
      return all.value
        .map((e) => parseEnvelope(e.envelope))
        .map((p) => (p.ok ? p.value : undefined))
    }
    await waitFor(
      async () => (await log()).some((e) => (e?.header.covers ?? 0) > 0),
      10_000,
      'a snapshot in the log',
    )
    const envelopes = await log()
    expect(envelopes.length).toBeLessThan(20) // what the snapshot covers is gone
    const link = linkKeysOf(admin.repo, admin.spaces!, doc)
    await admin.stop()
    const reader = await viaMirror(node)
    await applyLinkKeys(reader.repo, reader.spaces!, doc, link)
    await reader.repo.open(doc)
    for (let i = 0; i < 20; i++)
      await waitFor(async () => (await read(reader, doc, `k${i}`)) === i, 10_000, `k${i}`)
  })

  it("a document whose space's place on the mirror is not known yet is looked at again, calmly", async () => {
    const { node } = await startMirror()
    const a = await viaMirror(node)
    const place = vi.spyOn(a.spaces!, 'mirrorPlace').mockReturnValue('unknown')
    const id = (await a.repo.create()).id
    await new Promise((r) => setTimeout(r, 1500))
    // about once a second (a run at once after each would spin a core)
    expect(place.mock.calls.filter(([d]) => d === id).length).toBeLessThanOrEqual(4)
    place.mockRestore()
    await a.state.set(`/${id}/then`, 'placed')
    await mirrored(a, id) // and once it is known, the document goes up
  })

  it("a removed member's uploads are refused once an admin's tab has put the removal on the list", async () => {
    const { node } = await startMirror()
    const admin = await viaMirror(node)
    const bob = await viaMirror(node)
    const space = await admin.spaces!.create('club')
    const doc = await admin.spaces!.createDoc(space)
    await bob.node.dial(admin.node.getMultiaddrs())
    await bob.spaces!.join(await admin.spaces!.invite(space, { role: 'writer' }), 'bob')
    await waitFor(
      async () => (await listed(admin, node, space)).get(hexOf(bob)) === 'writer',
      10_000,
      'bob listed',
    )
    expect((await upload(bob, admin, node, doc)).ok).toBe(true)
    await admin.spaces!.remove(space, bob.identity.id)
    await waitFor(
      async () => !(await listed(admin, node, space)).has(hexOf(bob)),
      10_000,
      'bob off the list',
    )
    const after = await upload(bob, admin, node, doc)
    expect(after.ok ? 'ok' : after.error.code).toBe('NOT_A_MEMBER')
  })
})
