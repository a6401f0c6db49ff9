import 'fake-indexeddb/auto'
import { describe, expect, it, vi } from 'vitest'
import { OrreryDb } from './db'
import { DexieStorageAdapter } from './dexie-storage'
import { CoalescingStorage } from '../core/storage/coalescing'
import type { StorageAdapter } from '../core/storage/types'
import { loadOrCreateProfile, replaceIdentity } from './identity-store'
import { generateIdentity } from '../core/identity'
import { Repo } from '../core/repo/repo'
import { StateApi } from '../core/state'
import { newDocId } from '../core/ids'
import { describeStorageAdapter } from '../../test/storage-acceptance'

let n = 0
const freshDb = (): OrreryDb => new OrreryDb(`test-${process.pid}-${++n}`)

describe('Dexie storage adapter (IndexedDB)', () => {
  it('saves, loads, ranges and removes', async () => {
    const s = new DexieStorageAdapter(freshDb())
    await s.save(['doc1', 'c', 'aa'], new Uint8Array([1, 2]))
    await s.save(['doc1', 'c', 'bb'], new Uint8Array([3]))
    await s.save(['doc10', 'c', 'cc'], new Uint8Array([4]))
    expect(await s.load(['doc1', 'c', 'aa'])).toEqual(new Uint8Array([1, 2]))
    expect(await s.load(['doc1', 'c', 'zz'])).toBeUndefined()
    const range = await s.loadRange(['doc1'])
    expect(range.map((r) => r.key.join('/')).sort()).toEqual(['doc1/c/aa', 'doc1/c/bb']) // not doc10
    await s.remove(['doc1', 'c', 'aa'])
    expect(await s.loadRange(['doc1'])).toHaveLength(1)
    await s.removeRange(['doc1'])
    expect(await s.loadRange(['doc1'])).toHaveLength(0)
    expect(await s.loadRange(['doc10'])).toHaveLength(1)
  })

  it('reads and writes issued while a fresh database is still being created wait for it', async () => {
    // the first call opens the database; while its upgrade runs, Dexie already calls it open,
    // and a transaction started then fails ("a version change transaction is running")
    const db = freshDb()
    const s = new DexieStorageAdapter(db)
    const first = s.loadRange(['outbox'])
    while (!db.isOpen()) await new Promise((r) => setTimeout(r, 0)) // the upgrade has begun
    const calls = [
      first,
      s.loadRange(['outbox']),
      s.load(['a', 'b']),
      s.listKeys(['x']),
      s.save(['d', 'c', 'k'], new Uint8Array([1])),
      s.removeRange(['gone']),
      s.loadRange(['d']),
    ]
    const results = await Promise.allSettled(calls)
    expect(results.filter((r) => r.status === 'rejected')).toEqual([])
    expect(await s.load(['d', 'c', 'k'])).toEqual(new Uint8Array([1]))
  })

  it('applies a batch in one transaction: all of it, or none of it', async () => {
    const db = freshDb()
    const s = new DexieStorageAdapter(db)
    await s.save(['d', 'c', 'old'], new Uint8Array([1]))
    await s.batch([
      { type: 'put', key: ['d', 's', 'snap'], data: new Uint8Array([2]) },
      { type: 'remove', key: ['d', 'c', 'old'] },
      { type: 'put', key: ['d', 'c', 'old'], data: new Uint8Array([3]) }, // the last op of a key wins
      { type: 'remove', key: ['d', 'c', 'old'] },
    ])
    expect((await s.loadRange(['d'])).map((c) => c.key.join('/'))).toEqual(['d/s/snap'])
    // a full disk: the put fails, and the batch's removal is not applied either
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(() => {
      throw new DOMException('quota', 'QuotaExceededError')
    })
    try {
      await expect(
        s.batch([
          { type: 'remove', key: ['d', 's', 'snap'] },
          { type: 'put', key: ['d', 's', 'next'], data: new Uint8Array([4]) },
        ]),
      ).rejects.toMatchObject({ name: 'StorageError', code: 'STORAGE_FULL' })
    } finally {
      put.mockRestore()
    }
    expect((await s.loadRange(['d'])).map((c) => c.key.join('/'))).toEqual(['d/s/snap'])
  })

  it('through the coalescing layer, a read sees a write nobody awaited', async () => {
    const s = new CoalescingStorage(new DexieStorageAdapter(freshDb()))
    await s.load(['warm']) // the database is open
    void s.save(['k'], new Uint8Array([9]))
    void s.save(['meta', 'k'], new Uint8Array([8]))
    expect(await s.load(['k'])).toEqual(new Uint8Array([9]))
    expect(await s.load(['meta', 'k'])).toEqual(new Uint8Array([8]))
    expect(s.batches).toBe(1)
  })

  it('rejects keys that could collide when joined', async () => {
    const s = new DexieStorageAdapter(freshDb())
    await expect(s.save(['a/b'], new Uint8Array())).rejects.toThrow(/bad storage key/)
  })

  it('maps a full disk to STORAGE_FULL and the repo keeps the change to retry', async () => {
    const db = freshDb()
    const s = new DexieStorageAdapter(db)
    let full = true
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with its own `this` below
    const realPut = IDBObjectStore.prototype.put
    const put = vi.spyOn(IDBObjectStore.prototype, 'put').mockImplementation(function (
      this: IDBObjectStore,
      ...args: Parameters<IDBObjectStore['put']>
    ) {
      if (full) throw new DOMException('quota', 'QuotaExceededError')
      return realPut.apply(this, args)
    })
    const repo = new Repo({ storage: s, tabId: 't1' })
    const state = new StateApi(repo)
    const id = newDocId()
    await state.set(`/${id}/kept`, 'yes')
    await expect(state.flush()).rejects.toMatchObject({ code: 'STORAGE_FULL' })
    expect(repo.get(id)?.status().unsaved).toBeGreaterThan(0)
    expect(await state.get(`/${id}/kept`)).toBe('yes') // still there in memory
    full = false
    await vi.waitFor(() => expect(repo.get(id)?.status().unsaved).toBe(0), { timeout: 5000 }) // the retry
    await state.flush()
    expect(repo.get(id)?.status().unsaved).toBe(0)
    const again = new StateApi(new Repo({ storage: new DexieStorageAdapter(db), tabId: 't2' }))
    expect(await again.get(`/${id}/kept`)).toBe('yes')
    put.mockRestore()
  })

  it('creates one identity per profile even when two tabs start at once', async () => {
    const db1 = freshDb()
    const db2 = new OrreryDb(db1.name)
    const [a, b] = await Promise.all([loadOrCreateProfile(db1), loadOrCreateProfile(db2)])
    expect(a.identity.id).toBe(b.identity.id)
    expect(a.profileId).toBe(b.profileId)
    const other = generateIdentity()
    await replaceIdentity(db1, other)
    expect((await loadOrCreateProfile(db2)).identity.id).toBe(other.id)
  })
})

/** A fresh database each test, closed and deleted after it. */
function dexieUnderTest(wrap: (s: DexieStorageAdapter) => StorageAdapter) {
  return () => {
    const db = freshDb()
    return {
      adapter: wrap(new DexieStorageAdapter(db)),
      close: async () => {
        db.close()
        await db.delete()
      },
    }
  }
}

describeStorageAdapter(
  'DexieStorageAdapter',
  dexieUnderTest((s) => s),
)
describeStorageAdapter(
  'CoalescingStorage over Dexie',
  dexieUnderTest((s) => new CoalescingStorage(s)),
)
