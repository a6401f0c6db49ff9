import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { am, type AutomergeDoc } from '../automerge'
import { concatBytes, sha256Hex, utf8 } from '../bytes'
import { StorageError } from '../errors'
import { newDocId } from '../ids'
import { setLogLevel, type LogLevel } from '../log'
import { DocStore } from './doc-store'
import { runScheduledWrites, WRITE_DELAY_MS } from '../schedule'
import { MemoryStorageAdapter } from './memory'
import type { StorageKey, StorageOp } from './types'

/** Memory storage that records calls and can be made to fail or to hold writes. */
class TestStorage extends MemoryStorageAdapter {
  readonly saves: string[] = []
  readonly removes: string[] = []
  attempts: { key: string; at: number }[] = []
  failSaves = 0
  failWith: unknown = new StorageError('STORAGE_FULL', 'quota exceeded')
  failRemoves = false
  inFlight = 0
  maxInFlight = 0
  gate: Promise<void> | undefined

  override async save(key: StorageKey, data: Uint8Array): Promise<void> {
    this.attempts.push({ key: key.join('/'), at: Date.now() })
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    try {
      if (this.gate !== undefined) await this.gate
      if (this.failSaves > 0) {
        this.failSaves--
        throw this.failWith
      }
      await super.save(key, data)
      this.saves.push(key.join('/'))
    } finally {
      this.inFlight--
    }
  }

  override async remove(key: StorageKey): Promise<void> {
    if (this.failRemoves) throw new StorageError('STORAGE_FAILED', 'cannot remove')
    this.removes.push(key.join('/'))
    await super.remove(key)
  }

  /** All or nothing, as IndexedDB: any failing op fails the batch and applies none. */
  override async batch(ops: readonly StorageOp[]): Promise<void> {
    for (const op of ops) this.attempts.push({ key: op.key.join('/'), at: Date.now() })
    if (this.gate !== undefined) await this.gate
    if (ops.some((o) => o.type === 'put') && this.failSaves > 0) {
      this.failSaves--
      throw this.failWith
    }
    if (ops.some((o) => o.type === 'remove') && this.failRemoves)
      throw new StorageError('STORAGE_FAILED', 'cannot remove')
    await super.batch(ops)
    for (const op of ops) (op.type === 'put' ? this.saves : this.removes).push(op.key.join('/'))
  }
}

const chunkKey = (docId: string, kind: 'c' | 's', data: Uint8Array): string =>
  `${docId}/${kind}/${sha256Hex(data)}`

/** A document edited by one "tab": each edit returns its change chunk. */
function editor(doc: AutomergeDoc = am().create()): {
  doc: AutomergeDoc
  edit: (key: string, value: string) => Uint8Array
} {
  return {
    doc,
    edit(key, value) {
      doc.put('_root', key, value)
      doc.commit()
      const c = doc.getLastLocalChange()
      if (c === null) throw new Error('no change')
      return c
    },
  }
}

const materialize = (bytes: Uint8Array): unknown => am().load(bytes).materialize('_root')

beforeEach(() => setLogLevel('silent')) // retries are logged as warnings
afterEach(() => {
  // a write still waiting for its group commit would run on the next test's (maybe fake) clock
  runScheduledWrites()
  vi.useRealTimers()
  setLogLevel((process.env.ORRERY_LOG as LogLevel | undefined) ?? 'error')
})

describe('DocStore writes', () => {
  it('writes one chunk at a time, in order, merging the chunks that queued meanwhile', async () => {
    // (the write starts WRITE_DELAY_MS later: chunks queued meanwhile go as one write)
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    const saved: string[] = []
    let statusCalls = 0
    store.onSaved = (d) => saved.push(sha256Hex(d))
    store.onStatus = () => statusCalls++

    let release!: () => void
    storage.gate = new Promise<void>((r) => (release = r))
    const datas = Array.from({ length: 5 }, (_, i) => utf8(`chunk ${i}`))
    for (const d of datas) store.saveIncremental(d)
    expect(store.pending).toBe(5)
    const done = store.whenSaved()
    release()
    await done
    expect(store.pending).toBe(0)
    expect(storage.maxInFlight).toBe(1)
    // all five were queued in one task: one write of their concatenation
    const all = concatBytes(datas)
    expect(storage.saves).toEqual([chunkKey(id, 'c', all)])
    expect(saved).toEqual([sha256Hex(all)])
    expect(statusCalls).toBeGreaterThanOrEqual(6) // 5 queued + 1 written
    expect(await storage.load([id, 'c', sha256Hex(all)])).toEqual(all)
    // what queues while a write is under way goes in the next one
    storage.gate = new Promise<void>((r) => (release = r))
    store.saveIncremental(utf8('x'))
    await vi.waitFor(() => expect(storage.inFlight).toBe(1)) // x's write starts
    store.saveIncremental(utf8('y'))
    store.saveIncremental(utf8('z'))
    const more = store.whenSaved()
    release()
    await more
    expect(storage.saves.slice(1)).toEqual([
      chunkKey(id, 'c', utf8('x')),
      chunkKey(id, 'c', concatBytes([utf8('y'), utf8('z')])),
    ])
    store.close()
  })

  it('ignores empty incrementals and resolves whenSaved at once when nothing is pending', async () => {
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    store.saveIncremental(new Uint8Array(0))
    expect(store.pending).toBe(0)
    await store.whenSaved()
    expect(storage.attempts).toEqual([])
  })

  it('resolves whenSaved only after the chunks reached storage', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    const { edit } = editor()
    const chunks = [edit('a', '1'), edit('b', '2')]
    for (const c of chunks) store.saveIncremental(c)
    await store.whenSaved()
    const loaded = await new DocStore(storage, id).load()
    expect(loaded?.chunks).toHaveLength(1) // queued in one task: one merged chunk
    expect(materialize(loaded?.bytes ?? new Uint8Array(0))).toEqual({ a: '1', b: '2' })
  })

  it('loads and compacts only its own chunks: records that share the prefix stay (signatures)', async () => {
    // regression: signatures stored under [docId, 'g', …] were loaded as Automerge chunks (so every
    // signed document took the slow chunk-by-chunk path) and deleted by the first compaction
    const storage = new TestStorage()
    const id = newDocId()
    const sigKey: StorageKey = [id, 'g', 'abc']
    await storage.save(sigKey, utf8('not an automerge chunk'))
    const { doc, edit } = editor()
    const first = new DocStore(storage, id)
    first.saveIncremental(edit('a', '1'))
    await first.whenSaved()
    const store = new DocStore(storage, id)
    const loaded = await store.load()
    expect(loaded?.chunks).toHaveLength(1)
    expect(materialize(loaded!.bytes)).toEqual({ a: '1' })
    store.saveSnapshot(doc.save())
    await store.whenSaved()
    expect(await storage.load(sigKey)).toEqual(utf8('not an automerge chunk'))
    expect(storage.removes.some((k) => k.includes('/g/'))).toBe(false)
  })

  it('stores a burst of changes in a few writes that load back whole', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    const { edit } = editor()
    for (let i = 0; i < 100; i++) store.saveIncremental(edit(`k${i}`, `v${i}`))
    await store.whenSaved()
    expect(storage.saves.length).toBeLessThanOrEqual(2)
    const loaded = await new DocStore(storage, id).load()
    const value = materialize(loaded!.bytes) as Record<string, string>
    expect(Object.keys(value)).toHaveLength(100)
    expect(value.k99).toBe('v99')
  })

  it('keeps going when onSaved throws', async () => {
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    store.onSaved = () => {
      throw new Error('listener bug')
    }
    store.saveIncremental(utf8('x'))
    await store.whenSaved()
    store.saveIncremental(utf8('y'))
    await store.whenSaved()
    expect(storage.saves).toHaveLength(2)
  })
})

describe('DocStore when storage fails', () => {
  it('rejects whenSaved, keeps the chunks pending and retries until everything is written', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    storage.failSaves = 3
    const t0 = Date.now()

    const a = utf8('a')
    store.saveIncremental(a)
    await expect(store.whenSaved()).rejects.toMatchObject({ code: 'STORAGE_FULL' })
    expect(store.pending).toBe(1)
    expect(store.error).toBeInstanceOf(StorageError)
    // while waiting for the retry, whenSaved rejects at once
    await expect(store.whenSaved()).rejects.toMatchObject({ code: 'STORAGE_FULL' })

    // more data arrives while the disk is full: it queues behind
    const b = utf8('b')
    const c = utf8('c')
    store.saveIncremental(b)
    store.saveIncremental(c)
    expect(store.pending).toBe(3)
    expect(storage.attempts).toHaveLength(1)

    await vi.advanceTimersByTimeAsync(249)
    expect(storage.attempts).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1) // 250 ms: second attempt, fails
    expect(storage.attempts).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(999)
    expect(storage.attempts).toHaveLength(2)
    await vi.advanceTimersByTimeAsync(1) // 1 s later: third attempt, fails
    expect(storage.attempts).toHaveLength(3)
    expect(store.pending).toBe(3)

    // between attempts whenSaved does not wait: it reports the last failure at once
    await expect(store.whenSaved()).rejects.toMatchObject({ code: 'STORAGE_FULL' })
    await vi.advanceTimersByTimeAsync(3999)
    expect(storage.attempts).toHaveLength(3)
    await vi.advanceTimersByTimeAsync(1) // 4 s later: works, and the rest follows at once
    await store.whenSaved()
    expect(store.pending).toBe(0)
    expect(store.error).toBeUndefined()
    // the retries took what had queued meanwhile along: one write of a, b and c
    expect(storage.saves).toEqual([chunkKey(id, 'c', concatBytes([a, b, c]))])
    expect(storage.attempts.map((x) => x.at - t0)).toEqual([0, 250, 1250, 5250])
    store.close()
  })

  it('waits 250 ms, 1 s, 4 s, then 15 s between attempts', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    storage.failSaves = 6
    const t0 = Date.now()
    store.saveIncremental(utf8('x'))
    await vi.advanceTimersByTimeAsync(60_000)
    expect(storage.attempts.map((x) => x.at - t0 - WRITE_DELAY_MS)).toEqual([
      0, 250, 1250, 5250, 20250, 35250, 50250,
    ])
    expect(storage.saves).toHaveLength(1)
    expect(store.pending).toBe(0)
    // a success resets the schedule
    storage.failSaves = 1
    store.saveIncremental(utf8('y'))
    const t1 = Date.now()
    await vi.advanceTimersByTimeAsync(WRITE_DELAY_MS + 250)
    expect(storage.attempts.slice(7).map((x) => x.at - t1 - WRITE_DELAY_MS)).toEqual([0, 250])
    expect(store.pending).toBe(0)
    store.close()
  })

  it('wraps errors that are not StorageErrors as STORAGE_FAILED', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    const cause = new TypeError('IndexedDB exploded')
    storage.failWith = cause
    storage.failSaves = 1
    store.saveIncremental(utf8('x'))
    const e: unknown = await store.whenSaved().catch((x: unknown) => x)
    expect(e).toBeInstanceOf(StorageError)
    expect(e).toMatchObject({ code: 'STORAGE_FAILED', cause })
    expect((e as Error).message).toContain('IndexedDB exploded')
    await vi.advanceTimersByTimeAsync(250)
    await store.whenSaved()
    store.close()
  })

  it('stops retrying when closed', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    storage.failSaves = 1
    store.saveIncremental(utf8('x'))
    await expect(store.whenSaved()).rejects.toBeInstanceOf(StorageError)
    store.close()
    await vi.advanceTimersByTimeAsync(60_000)
    expect(storage.attempts).toHaveLength(1)
    expect(store.pending).toBe(1)
  })

  it('retries with real timers too', async () => {
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    storage.failSaves = 1
    store.saveIncremental(utf8('x'))
    await expect(store.whenSaved()).rejects.toBeInstanceOf(StorageError)
    await vi.waitFor(() => expect(store.pending).toBe(0), { timeout: 5000 }) // the retry
    await store.whenSaved()
    expect(storage.saves).toHaveLength(1)
    store.close()
  })
})

describe('DocStore snapshots', () => {
  it('removes exactly the chunks known before the snapshot, not another tab’s newer chunk', async () => {
    const storage = new TestStorage()
    const id = newDocId()

    // tab A writes two changes
    const tabA = editor()
    const storeA = new DocStore(storage, id)
    expect(await storeA.load()).toBeUndefined()
    const a1 = tabA.edit('a1', 'x')
    const a2 = tabA.edit('a2', 'y')
    storeA.saveIncremental(a1)
    await storeA.whenSaved()
    storeA.saveIncremental(a2)
    await storeA.whenSaved()

    // tab B loads what is there, edits, and writes its own chunk
    const storeB = new DocStore(storage, id)
    const loadedB = await storeB.load()
    const tabB = editor(am().load(loadedB?.bytes ?? new Uint8Array(0)))
    const b1 = tabB.edit('b1', 'z')
    storeB.saveIncremental(b1)
    await storeB.whenSaved()

    // tab A has not seen B's change; its snapshot replaces only a1 and a2
    const snapA = tabA.doc.save()
    storeA.saveSnapshot(snapA)
    await storeA.whenSaved()
    expect(storage.keys.sort()).toEqual([chunkKey(id, 's', snapA), chunkKey(id, 'c', b1)].sort())
    expect(storage.removes.sort()).toEqual([chunkKey(id, 'c', a1), chunkKey(id, 'c', a2)].sort())

    // and the document is complete
    const fresh = await new DocStore(storage, id).load()
    expect(fresh?.chunks[0]).toEqual(snapA) // snapshots first
    expect(materialize(fresh?.bytes ?? new Uint8Array(0))).toEqual({ a1: 'x', a2: 'y', b1: 'z' })
  })

  it('removes chunks it loaded, including an older snapshot, and keeps later incrementals', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const tab = editor()
    const first = new DocStore(storage, id)
    first.saveIncremental(tab.edit('k1', '1'))
    first.saveSnapshot(tab.doc.save())
    first.saveIncremental(tab.edit('k2', '2'))
    await first.whenSaved()
    expect(storage.keys.filter((k) => k.includes('/s/'))).toHaveLength(1)
    expect(storage.keys.filter((k) => k.includes('/c/'))).toHaveLength(1)

    // a new tab loads the snapshot and the incremental, then compacts
    const second = new DocStore(storage, id)
    const loaded = await second.load()
    const tab2 = editor(am().load(loaded?.bytes ?? new Uint8Array(0)))
    const k3 = tab2.edit('k3', '3')
    const snap2 = tab2.doc.save()
    second.saveSnapshot(snap2)
    second.saveIncremental(k3) // queued after the snapshot: stays (even though the snapshot has it)
    await second.whenSaved()
    expect(storage.keys.sort()).toEqual([chunkKey(id, 's', snap2), chunkKey(id, 'c', k3)].sort())

    const fresh = await new DocStore(storage, id).load()
    expect(materialize(fresh?.bytes ?? new Uint8Array(0))).toEqual({ k1: '1', k2: '2', k3: '3' })
  })

  it('does not remove a snapshot identical to the one being written', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const tab = editor()
    tab.edit('k', 'v')
    const snap = tab.doc.save()
    const a = new DocStore(storage, id)
    a.saveSnapshot(snap)
    await a.whenSaved()
    const b = new DocStore(storage, id)
    await b.load()
    b.saveSnapshot(snap)
    await b.whenSaved()
    expect(storage.keys).toEqual([chunkKey(id, 's', snap)])
    expect(storage.removes).toEqual([])
  })

  it('a snapshot whose removals fail is not stored either, and is retried: nothing is lost', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const id = newDocId()
    const tab = editor()
    const store = new DocStore(storage, id)
    const c1 = tab.edit('a', '1')
    store.saveIncremental(c1)
    await store.whenSaved()
    storage.failRemoves = true
    const s1 = tab.doc.save()
    store.saveSnapshot(s1)
    await expect(store.whenSaved()).rejects.toBeInstanceOf(StorageError)
    expect(storage.keys).toEqual([chunkKey(id, 'c', c1)]) // atomic: no snapshot without removal
    expect(store.pending).toBe(1)
    storage.failRemoves = false
    await vi.advanceTimersByTimeAsync(250)
    await store.whenSaved()
    expect(storage.keys).toEqual([chunkKey(id, 's', s1)])
    expect(materialize((await store.load())?.bytes ?? new Uint8Array(0))).toEqual({ a: '1' })
    store.close()
  })

  it('a snapshot that fails to save removes nothing, and is retried', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const id = newDocId()
    const tab = editor()
    const store = new DocStore(storage, id)
    const c1 = tab.edit('a', '1')
    store.saveIncremental(c1)
    await store.whenSaved()
    storage.failSaves = 1
    const s1 = tab.doc.save()
    store.saveSnapshot(s1)
    await expect(store.whenSaved()).rejects.toBeInstanceOf(StorageError)
    expect(storage.keys).toEqual([chunkKey(id, 'c', c1)])
    expect(storage.removes).toEqual([])
    await vi.advanceTimersByTimeAsync(250)
    await store.whenSaved()
    expect(storage.keys).toEqual([chunkKey(id, 's', s1)])
    store.close()
  })
})

describe('DocStore load and compaction hints', () => {
  it('loads nothing for an unknown document, and only its own chunks', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const other = newDocId()
    expect(await new DocStore(storage, id).load()).toBeUndefined()
    const s = new DocStore(storage, other)
    s.saveIncremental(utf8('other doc'))
    await s.whenSaved()
    expect(await new DocStore(storage, id).load()).toBeUndefined()
  })

  it('puts snapshots before incrementals', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const tab = editor()
    const store = new DocStore(storage, id)
    const c1 = tab.edit('a', '1')
    const c2 = tab.edit('b', '2')
    store.saveIncremental(c1)
    await store.whenSaved()
    // a snapshot written by another store (so it does not remove c1), then another incremental
    const other = new DocStore(storage, id)
    const snap = tab.doc.save()
    other.saveSnapshot(snap)
    other.saveIncremental(c2)
    await other.whenSaved()
    const loaded = await new DocStore(storage, id).load()
    expect(loaded?.chunks).toHaveLength(3)
    expect(loaded?.chunks[0]).toEqual(snap)
    expect(loaded?.bytes.length).toBe(snap.length + c1.length + c2.length)
    expect(materialize(loaded?.bytes ?? new Uint8Array(0))).toEqual({ a: '1', b: '2' })
  })

  it('wants compaction after 64 incremental chunks', async () => {
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    for (let i = 0; i < 63; i++) {
      store.saveIncremental(utf8(`c${i}`))
      await store.whenSaved() // one write each (nothing queued to merge with)
    }
    expect(store.wantsCompaction()).toBe(false)
    store.saveIncremental(utf8('c63'))
    expect(store.wantsCompaction()).toBe(true) // queued chunks count
    await store.whenSaved()
    expect(store.wantsCompaction()).toBe(true) // and so do written ones
    store.saveSnapshot(utf8('snapshot'))
    await store.whenSaved()
    expect(store.wantsCompaction()).toBe(false)
  })

  it('wants compaction when incrementals outweigh the snapshot by 256 KiB', async () => {
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    store.saveSnapshot(new Uint8Array(1000).fill(1))
    await store.whenSaved()
    store.saveIncremental(new Uint8Array(200 * 1024).fill(2))
    expect(store.wantsCompaction()).toBe(false) // one chunk is never worth compacting
    await store.whenSaved()
    store.saveIncremental(new Uint8Array(56 * 1024 + 1000).fill(3))
    expect(store.wantsCompaction()).toBe(false) // exactly snapshot + 256 KiB
    await store.whenSaved()
    store.saveIncremental(new Uint8Array(1).fill(4))
    expect(store.wantsCompaction()).toBe(true) // queued chunks count
    await store.whenSaved()
    expect(store.wantsCompaction()).toBe(true) // and so do written ones
  })

  it('does not ask for another snapshot while one is waiting to be written', async () => {
    vi.useFakeTimers()
    const storage = new TestStorage()
    const store = new DocStore(storage, newDocId())
    for (let i = 0; i < 64; i++) {
      store.saveIncremental(utf8(`c${i}`))
      await store.whenSaved()
    }
    expect(store.wantsCompaction()).toBe(true)
    storage.failSaves = 2 // the disk is full when the snapshot comes
    store.saveSnapshot(utf8('snapshot'))
    await expect(store.whenSaved()).rejects.toBeInstanceOf(StorageError)
    expect(store.wantsCompaction()).toBe(false)
    store.saveIncremental(utf8('more'))
    expect(store.wantsCompaction()).toBe(false)
    await vi.advanceTimersByTimeAsync(250 + 1000)
    await store.whenSaved()
    expect(storage.keys).toHaveLength(2) // the snapshot and the chunk queued after it
    expect(store.wantsCompaction()).toBe(false)
    store.close()
  })
})

describe('DocStore signatures and the last moments of a page', () => {
  const record = (n: number): Uint8Array => new Uint8Array(128).fill(n)

  it('writes a change and the signature queued before it in one batch', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    const { edit } = editor()
    const batches: string[][] = []
    const realBatch = storage.batch.bind(storage)
    storage.batch = async (ops) => {
      batches.push(ops.map((o) => `${o.type} ${o.key[1]}`))
      return realBatch(ops)
    }
    store.saveSigs(record(1))
    store.saveIncremental(edit('a', '1'))
    await store.whenSaved()
    expect(batches).toEqual([['put c', 'put g']])
    expect(await store.loadSigs()).toEqual(record(1))
  })

  it('replaces the signature chunks with one chunk of every record when it writes a snapshot', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    const { doc, edit } = editor()
    for (let i = 0; i < 3; i++) {
      store.saveSigs(record(i))
      store.saveIncremental(edit(`k${i}`, 'v'))
      await store.whenSaved()
    }
    expect(storage.keys.filter((k) => k.includes('/g/'))).toHaveLength(3)
    store.sigRecords = () => concatBytes([record(0), record(1), record(2)])
    store.saveSnapshot(doc.save())
    await store.whenSaved()
    const left = storage.keys.filter((k) => k.startsWith(id)).map((k) => k.split('/')[1])
    expect(left.sort()).toEqual(['g', 's'])
    expect(await new DocStore(storage, id).loadSigs()).toEqual(
      concatBytes([record(0), record(1), record(2)]),
    )
  })

  it('lists everything still queued as puts for a write that cannot wait, and knows them after', async () => {
    const storage = new TestStorage()
    const id = newDocId()
    const store = new DocStore(storage, id)
    let release!: () => void
    storage.gate = new Promise<void>((r) => (release = r))
    const { doc, edit } = editor()
    const c1 = edit('a', '1')
    store.saveIncremental(c1)
    store.saveSigs(record(9))
    const c2 = edit('b', '2')
    store.saveIncremental(c2)
    const { ops, chunks, sigs } = store.pendingPuts()
    expect(ops.map((o) => o.key.join('/'))).toEqual([
      chunkKey(id, 'c', c1),
      `${id}/g/${sha256Hex(record(9))}`,
      chunkKey(id, 'c', c2),
    ])
    expect(chunks).toEqual([c1, c2])
    expect(sigs).toEqual([record(9)])
    // the page went away: only that last write reached the disk
    const disk = new MemoryStorageAdapter()
    await disk.batch(ops)
    const reloaded = await new DocStore(disk, id).load()
    const back = am().load(reloaded!.bytes)
    expect(back.materialize('_root')).toEqual({ a: '1', b: '2' })
    // the page lived on: they are known, so a snapshot removes them too
    store.stored(ops)
    release()
    await store.whenSaved()
    store.saveSnapshot(doc.save())
    await store.whenSaved()
    expect(storage.keys.filter((k) => k.startsWith(`${id}/c/`))).toEqual([])
  })

  it('loads only the chunks it has neither loaded, written nor been sent', async () => {
    const storage = new MemoryStorageAdapter()
    const id = newDocId()
    const mine = new DocStore(storage, id)
    const other = new DocStore(storage, id)
    const { edit } = editor()
    const c1 = edit('a', '1')
    mine.saveIncremental(c1)
    await mine.whenSaved()
    const c2 = edit('b', '2')
    const c3 = edit('c', '3')
    other.saveIncremental(c2)
    await other.whenSaved()
    other.saveIncremental(c3)
    other.saveSigs(record(4))
    await other.whenSaved()
    mine.noteStoredElsewhere('c', c2) // it came over the tab bus
    const unknown = await mine.loadUnknown()
    expect(unknown.chunks).toEqual([c3])
    expect(unknown.sigs).toEqual([record(4)])
    expect(await mine.loadUnknown()).toEqual({ chunks: [], sigs: [] })
  })
})
