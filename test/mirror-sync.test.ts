/**
 * Tabs syncing through an always-on mirror over real streams (issue 16): people who are never
 * online at the same time converge through the mirror alone, a free document's link works with
 * its maker gone, edits made while the mirror was down go up once it is back, and what the mirror
 * gives is judged like a peer's changes (a reader's forged change goes nowhere).
 */
import { describe, expect, it, vi } from 'vitest'
import { generateIdentity } from '../src/core/identity'
import { writeKeyFromPublic, writeKeyFromSecret } from '../src/core/keys/write-key'
import { randomKey } from '../src/core/keys/aead'
import { freeDocEntry, freeDocRosterId } from '../src/core/mirror/free-doc'
import { mirrorDocTag, openEnvelope, sealEnvelope } from '../src/core/mirror/envelope'
import { changeHash } from '../src/core/chunks'
import { MirrorClient } from '../src/core/mirror/client'
import { MirrorSync, type MirrorTransport } from '../src/core/mirror/mirror-sync'
import { mirrorLogs } from '../src/core/peer'
import { err, OrreryError } from '../src/core/errors'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { applyLinkKeys, linkKeysOf } from '../src/core/link-keys'
import { mirrorPeers, mirrored, read } from './mirror-peers'
import { shareKeys, waitFor } from './peers'

const { peer, startMirror, viaMirror } = mirrorPeers()

describe('sync through a mirror', { timeout: 60_000 }, () => {
  it('two people never online together converge through the mirror alone', async () => {
    const { node } = await startMirror()
    const [aliceStore, bobStore] = [new MemoryStorageAdapter(), new MemoryStorageAdapter()]
    const [alice, bob] = [generateIdentity(), generateIdentity()]
    let a = await viaMirror(node, { storage: aliceStore, identity: alice })
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/from`, 'alice')
    await mirrored(a, id)
    const link = { key: a.repo.keys.get(id)!, write: a.repo.keys.writeKey(id)! }
    await a.stop() // alice leaves before bob comes

    let b = await viaMirror(node, { storage: bobStore, identity: bob })
    await b.repo.setKey(id, link.key)
    await b.repo.setWriteKey(id, link.write)
    await b.repo.open(id)
    await waitFor(async () => (await read(b, id, 'from')) === 'alice', 10_000, 'bob reads')
    await b.state.set(`/${id}/reply`, 'bob')
    await mirrored(b, id)
    await b.stop()

    a = await viaMirror(node, { storage: aliceStore, identity: alice })
    await a.repo.open(id)
    await waitFor(async () => (await read(a, id, 'reply')) === 'bob', 10_000, 'alice reads')
    // and once more the other way, both having been away
    await a.state.set(`/${id}/again`, 2)
    await mirrored(a, id)
    await a.stop()
    b = await viaMirror(node, { storage: bobStore, identity: bob })
    await b.repo.open(id)
    await waitFor(async () => (await read(b, id, 'again')) === 2, 10_000, 'bob reads again')
    expect(await read(b, id, 'from')).toBe('alice')
  })

  it('members of a space who are never online together converge, signatures checked', async () => {
    const { node } = await startMirror()
    const bobStore = new MemoryStorageAdapter()
    const bob = generateIdentity()
    const a = await viaMirror(node)
    const b0 = await viaMirror(node, { storage: bobStore, identity: bob })
    // they meet once, for the invite (a's tab seals bob's box, bob takes the key)
    const space = await a.spaces!.create('club')
    const doc = await a.spaces!.createDoc(space)
    await b0.node.dial(a.node.getMultiaddrs())
    await b0.spaces!.join(await a.spaces!.invite(space, { role: 'writer' }), 'bob')
    await waitFor(() => b0.repo.keys.get(doc) !== undefined, 15_000, 'bob keys the document')
    await b0.stop()
    await a.state.set(`/${doc}/note`, 'while bob was away')
    await mirrored(a, doc)
    await a.stop()

    const b = await viaMirror(node, { storage: bobStore, identity: bob })
    await b.repo.open(doc)
    await waitFor(async () => (await read(b, doc, 'note')) === 'while bob was away', 10_000)
    await b.state.set(`/${doc}/seen`, true)
    await mirrored(b, doc)
    const c = await viaMirror(node) // a stranger with a share link, every member away
    await b.stop()
    await applyLinkKeys(c.repo, c.spaces!, doc, linkKeysOf(b.repo, b.spaces!, doc))
    await c.repo.open(doc)
    // (an outcome, waited for generously: the full suite loads both cores)
    await waitFor(async () => (await read(c, doc, 'seen')) === true, 30_000, 'the link reads')
  })

  it("a reader's change is refused by the mirror itself: only a free document's writers upload", async () => {
    const { node } = await startMirror()
    const owner = await viaMirror(node)
    const id = (await owner.repo.create()).id
    await owner.state.set(`/${id}/title`, 'real')
    await mirrored(owner, id)
    const key = owner.repo.keys.get(id)!
    const writer = owner.repo.keys.writeKey(id)!.pub
    // a reader (read key, the writer's public key only) makes a change and uploads it itself
    const forger = await peer()
    await forger.repo.setKey(id, key)
    const h = await forger.repo.open(id)
    h.write(['title'], 'forged')
    h.flush()
    const forged = h.forMirror([], new Set(), false)
    if (forged === undefined || forged === 'signing') throw new Error('nothing to forge')
    const client = MirrorClient.dial(forger.node, node.getMultiaddrs(), { timeoutMs: 5000 })
    const roster = freeDocRosterId(id, key, writer)
    const seal = (seq: number) =>
      sealEnvelope({
        docId: id,
        readKey: key,
        roster,
        epoch: 0,
        uploader: forger.identity,
        seq,
        changes: forged.envelopes[0]!,
      })
    const before = node.services.mirror.stats().putsAccepted
    const put = await client.put(seal(1))
    expect(!put.ok && put.error.code).toBe('NOT_A_MEMBER')
    // an admission it makes up is not the writer's: refused too
    const fake = freeDocEntry(
      id,
      key,
      writeKeyFromSecret(id, randomKey()),
      forger.identity.publicKey,
    )!
    expect((await client.admit(fake.admission)).ok).toBe(false)
    expect(!(await client.put(seal(2))).ok).toBe(true)
    expect(node.services.mirror.stats().putsAccepted).toBe(before)
    // a reader's own tab does not even try (no write secret: no way in), and reads the real text
    const reader = await viaMirror(node)
    await reader.repo.setKey(id, key)
    await reader.repo.setWriteKey(id, writeKeyFromPublic(writer))
    await reader.repo.open(id)
    await waitFor(async () => (await read(reader, id, 'title')) === 'real', 10_000, 'real content')
    await expect(reader.state.set(`/${id}/note`, 'x')).rejects.toThrow(/ask for an edit link/)
    // while a second writer (an edit link) is let in on the secret and uploads
    const editor = await viaMirror(node)
    await editor.repo.setKey(id, key)
    await editor.repo.setWriteKey(id, owner.repo.keys.writeKey(id)!)
    await editor.repo.open(id)
    await waitFor(async () => (await read(editor, id, 'title')) === 'real', 10_000, 'editor reads')
    await editor.state.set(`/${id}/title`, 'edited')
    await mirrored(editor, id)
    await waitFor(async () => (await read(owner, id, 'title')) === 'edited', 10_000, 'owner reads')
  })

  it('a change goes up once: its author uploads it, the tabs that received it do not', async () => {
    const { node } = await startMirror()
    const [a, b] = [await viaMirror(node), await viaMirror(node)]
    const id = (await a.repo.create()).id
    await shareKeys(a, b, id)
    await b.repo.open(id)
    await b.node.dial(a.node.getMultiaddrs())
    for (let i = 0; i < 20; i++) await a.state.set(`/${id}/n`, i)
    await b.state.set(`/${id}/b`, 'one of mine')
    await waitFor(async () => (await read(a, id, 'b')) === 'one of mine', 10_000, 'b to a')
    await waitFor(async () => (await read(b, id, 'n')) === 19, 10_000, 'a to b')
    await mirrored(a, id)
    await mirrored(b, id) // (b's full runs pulled a's changes: nothing of a's left to upload)
    const client = MirrorClient.dial(a.node, node.getMultiaddrs(), { timeoutMs: 5000 })
    const key = a.repo.keys.get(id)!
    const roster = freeDocRosterId(id, key, a.repo.keys.writeKey(id)!.pub)
    const all = await client.sinceAll(mirrorDocTag(id, key), 0, roster)
    if (!all.ok) throw all.error
    const hashes = all.value.flatMap((e) => {
      const opened = openEnvelope(e.envelope, id, a.repo.keys.get(id)!)
      if (!opened.ok) throw opened.error
      return opened.value.changes.map((c) => changeHash(c.change))
    })
    expect(new Set(hashes).size).toBe(hashes.length) // each change once...
    const everything = a.repo.get(id)!.forMirror([], new Set(), false)
    if (everything === undefined || everything === 'signing') throw new Error('no changes')
    expect(hashes.sort()).toEqual(everything.hashes.sort()) // ...and every one of them
  })

  it("a tab receiving a peer's burst does not look for changes of its own meanwhile", async () => {
    const { node } = await startMirror()
    const a = await peer() // the burst's author (no mirror)
    const b = await peer({ mirror: { address: node.getMultiaddrs(), pullEveryMs: 60_000 } })
    const id = (await a.repo.create()).id
    await shareKeys(a, b, id)
    const h = await b.repo.open(id)
    await b.mirror?.syncNow(id) // its first (full) run
    await b.node.dial(a.node.getMultiaddrs())
    const looked = vi.spyOn(h, 'forMirror')
    for (let i = 0; i < 200; i++) await a.state.set(`/${id}/n`, i)
    await waitFor(async () => (await read(b, id, 'n')) === 199, 10_000, 'a to b')
    await new Promise((r) => setTimeout(r, 1000)) // (an upload waits 250 ms for quiet)
    expect(looked).not.toHaveBeenCalled()
    // its own change goes up as before
    await b.state.set(`/${id}/mine`, 1)
    await waitFor(() => looked.mock.calls.length > 0, 10_000, 'b looks for its own')
  })

  it('a change whose author has no mirror goes up from a tab that received it', async () => {
    const { node } = await startMirror()
    const author = await peer() // no mirror
    const relay = await viaMirror(node)
    const id = (await author.repo.create()).id
    await author.state.set(`/${id}/from`, 'the author')
    await shareKeys(author, relay, id)
    await relay.repo.open(id)
    await relay.node.dial(author.node.getMultiaddrs())
    await waitFor(async () => (await read(relay, id, 'from')) === 'the author', 10_000)
    await mirrored(relay, id)
    await Promise.all([author.stop(), relay.stop()])
    const later = await viaMirror(node)
    await shareKeys(author, later, id)
    await later.repo.open(id)
    await waitFor(async () => (await read(later, id, 'from')) === 'the author', 10_000)
  })

  it('a page being hidden uploads at once, without the batching delay', async () => {
    const { node } = await startMirror()
    const a = await peer({
      mirror: { address: node.getMultiaddrs(), uploadDelayMs: 60_000, pullEveryMs: 60_000 },
    })
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/first`, 1)
    a.repo.get(id)?.flush()
    await a.mirror?.syncNow(id)
    await mirrored(a, id)
    await a.state.set(`/${id}/last`, 'before the tab closes')
    a.repo.get(id)?.flush()
    await new Promise((r) => setTimeout(r, 200))
    expect(a.mirror?.confirmation(id)?.heads).not.toEqual(a.repo.get(id)?.status().heads)
    a.mirror?.uploadNow()
    await mirrored(a, id) // long before the minute the delay would have taken
  })

  it('a burst of changes goes up in one batch once the document is quiet, or at the cap', async () => {
    const { node } = await startMirror()
    /** A tab writing a change every 20 ms for `ms`; the envelopes the mirror took meanwhile and after. */
    async function burst(uploadDelayMs: number, uploadMaxDelayMs: number, ms: number) {
      const a = await peer({
        mirror: {
          address: node.getMultiaddrs(),
          uploadDelayMs,
          uploadMaxDelayMs,
          pullEveryMs: 60_000,
        },
      })
      const id = (await a.repo.create()).id
      await a.state.set(`/${id}/n`, -1)
      await a.mirror?.syncNow(id)
      await mirrored(a, id)
      const before = node.services.mirror.stats().putsAccepted
      const end = Date.now() + ms
      for (let i = 0; Date.now() < end; i++) {
        await a.state.set(`/${id}/n`, i)
        await new Promise((r) => setTimeout(r, 20))
      }
      await mirrored(a, id)
      return node.services.mirror.stats().putsAccepted - before
    }
    // never quiet for a second during 1.5 s: one upload, after the burst
    expect(await burst(1000, 60_000, 1500)).toBe(1)
    // a cap of 300 ms: the burst does not keep its changes from the mirror for long
    expect(await burst(1000, 300, 1500)).toBeGreaterThanOrEqual(3)
  })

  it("a writer's way into a free document's log failing on the network is tried again soon", async () => {
    const { node } = await startMirror()
    const a = await peer() // its seat is made here, over a mirror that fails once
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/n`, 1)
    const real = MirrorClient.dial(a.node, node.getMultiaddrs(), { timeoutMs: 5000 })
    let failures = 1
    const flaky: MirrorTransport = {
      put: (e) => real.put(e),
      sinceAll: (tag, after, roster) => real.sinceAll(tag, after, roster),
      admit: (x) => real.admit(x),
      putRoster: async (r) =>
        failures-- > 0 ? err(new OrreryError('PEER_UNREACHABLE', 'cut')) : real.putRoster(r),
    }
    const sync = new MirrorSync({
      repo: a.repo,
      storage: new MemoryStorageAdapter(),
      identity: () => a.identity,
      client: flaky,
      ...mirrorLogs(a.repo, a.spaces!),
      pullEveryMs: 60_000, // (not "not listed" until the next full pull, a minute away)
      retryMs: 50,
    })
    sync.start()
    try {
      await waitFor(() => sync.confirmation(id) !== undefined, 10_000, 'mirrored after a retry')
      expect(failures).toBeLessThan(0)
    } finally {
      sync.stop()
    }
  })

  it('edits made while the mirror is down go up when it is back', async () => {
    const first = await startMirror()
    const store = new MemoryStorageAdapter()
    const identity = generateIdentity()
    const a = await viaMirror(first.node, { storage: store, identity })
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/n`, 1)
    await mirrored(a, id)
    await first.node.stop()
    await a.state.set(`/${id}/n`, 2) // the mirror is down: nothing acknowledged
    await waitFor(() => a.mirror?.lastError(id) !== undefined, 10_000, 'the upload fails')
    expect(a.mirror?.lastError(id)?.code).toBe('PEER_UNREACHABLE')
    await a.stop() // and the tab closes before the mirror is back
    // the mirror comes back on its data (its store reopened), the tab reopens
    const back = first.node
    await back.start()
    const again = await viaMirror(back, { storage: store, identity })
    await again.repo.open(id)
    await mirrored(again, id)
    const reader = await viaMirror(back)
    await shareKeys(again, reader, id)
    await again.stop()
    await reader.repo.open(id)
    await waitFor(async () => (await read(reader, id, 'n')) === 2, 10_000, 'the offline edit')
  })
})
