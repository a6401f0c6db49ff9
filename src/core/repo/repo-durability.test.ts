/**
 * What the repo promises about the disk: `flushNow` (the page is going away) hands every pending
 * change, its signatures and the documents' records to the disk at once, without the writes
 * queued before it; `flushAll` and `shutdown` wait for the records too; a tab catches up from
 * disk on what another tab stored as it went away.
 */
import { proveKey } from './test-peers'
import { describe, expect, it, vi } from 'vitest'
import { seedSigner } from '../signer'
import { am } from '../automerge'
import { fromUtf8 } from '../bytes'
import { ok } from '../errors'
import { generateIdentity } from '../identity'
import { newDocId } from '../ids'
import { StateApi } from '../state'
import { CoalescingStorage } from '../storage/coalescing'
import { DocStore } from '../storage/doc-store'
import { MemoryStorageAdapter } from '../storage/memory'
import type { StorageKey, StorageOp } from '../storage/types'
import type { SyncPeer } from '../sync/peer'
import { Repo } from './repo'
import type { Governance } from './governance'
import { decodeSigRecords } from './sigs'

/**
 * A disk that stops taking the usual writes once the page is dying (they would have had their
 * turn after the page was gone): only batchNow still reaches it.
 */
class DyingDisk extends MemoryStorageAdapter {
  dying = false
  override save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.dying ? new Promise(() => {}) : super.save(key, data)
  }
  override batch(ops: readonly StorageOp[]): Promise<void> {
    return this.dying ? new Promise(() => {}) : super.batch(ops)
  }
  override batchNow(ops: readonly StorageOp[]): Promise<void> {
    return super.batch(ops)
  }
}

const me = generateIdentity()
const admitAll: Governance = {
  mayWriteLocally: () => ok(undefined),
  admit: () => ok(undefined),
  signer: () => seedSigner(me),
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

async function readMeta(
  storage: MemoryStorageAdapter,
  id: string,
): Promise<Record<string, unknown>> {
  const bytes = await storage.load(['meta', id])
  return bytes === undefined ? {} : (JSON.parse(fromUtf8(bytes)) as Record<string, unknown>)
}

describe('Repo and the disk', () => {
  it('flushNow puts a resolved set on disk with its signature, though no usual write finishes', async () => {
    const storage = new DyingDisk()
    const id = newDocId()
    // as in a tab: writes gathered into batches
    const repo = new Repo({
      storage: new CoalescingStorage(storage),
      tabId: 'dying',
      governance: () => admitAll,
    })
    const state = new StateApi(repo)
    await state.set(`/${id}/old`, 1)
    await state.flush() // a first change, its signature and the document's record on disk
    await state.set(`/${id}/last`, 'words')
    await state.set(`/${id}/old`, 2)
    storage.dying = true
    repo.flushNow() // pagehide: nothing later runs
    await tick() // whatever would still run gets its turn (the usual writes hang on the dying disk)

    // the next page load finds what reached the disk
    const disk = new MemoryStorageAdapter()
    for (const k of storage.keys) await disk.save(k.split('/'), (await storage.load(k.split('/')))!)
    const after = new Repo({ storage: disk, tabId: 'after', governance: () => admitAll })
    expect(await new StateApi(after).get(`/${id}`)).toEqual({ old: 2, last: 'words' })
    // every change on disk has its signature on disk
    const loaded = await new DocStore(disk, id).load()
    const doc = am().load(loaded!.bytes)
    const signed = new Set(
      [...decodeSigRecords(await new DocStore(disk, id).loadSigs())].map((s) =>
        Buffer.from(s.hash).toString('hex'),
      ),
    )
    const changes = doc.getChangesMeta([])
    expect(changes.length).toBe(2)
    for (const c of changes) expect(signed.has(c.hash)).toBe(true)
    // and the "waiting" record went with it
    expect((await readMeta(disk, id)).unsynced).toBe(2)
  })

  it('flushAll resolves only once the document record is written too', async () => {
    const storage = new MemoryStorageAdapter()
    const repo = new Repo({ storage, tabId: 't' })
    const state = new StateApi(repo)
    const id = newDocId()
    await state.set(`/${id}/x`, 1)
    await state.flush()
    expect((await readMeta(storage, id)).unsynced).toBe(1)
  })

  it('shutdown writes the records it was still coalescing (no timer to wait for)', async () => {
    const storage = new MemoryStorageAdapter()
    const repo = new Repo({ storage, tabId: 't' })
    const id = newDocId()
    const h = await repo.open(id)
    const peer: SyncPeer = {
      key: 'p',
      remotePeer: 'remote',
      localPeer: 'me',
      identity: 'did:key:zPeer',
      initiator: true,
      sendInterest: () => undefined,
      wake: () => {},
      fault: () => {},
    }
    repo.addPeer(peer)
    await proveKey(repo, peer, id)
    const other = am().create()
    other.put('_root', 'from', 'peer')
    other.commit()
    await repo.receiveSync(peer, id, {
      heads: other.getHeads(),
      need: [],
      have: [],
      changes: [other.getLastLocalChange()!],
    })
    await vi.waitFor(() => expect(h.read(['from'])).toBe('peer'))
    await repo.shutdown()
    expect((await readMeta(storage, id)).lastSyncWith).toBe('did:key:zPeer')
  })

  it('catches up from disk on what another tab stored and never sent', async () => {
    const storage = new MemoryStorageAdapter()
    const id = newDocId()
    const a = new Repo({ storage, tabId: 'a' })
    const b = new Repo({ storage, tabId: 'b' })
    await new StateApi(a).set(`/${id}/a`, 1)
    await a.flushAll()
    await new StateApi(b).set(`/${id}/b`, 2) // no tab bus between them: a hears nothing
    await b.flushAll()
    expect(await new StateApi(a).get(`/${id}`)).toEqual({ a: 1 })
    await a.catchUp()
    await vi.waitFor(async () =>
      expect(await new StateApi(a).get(`/${id}`)).toEqual({ a: 1, b: 2 }),
    )
  })
})
