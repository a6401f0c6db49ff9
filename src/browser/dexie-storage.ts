/**
 * The StorageAdapter over IndexedDB (Dexie). Quota errors become StorageError STORAGE_FULL.
 *
 * Batches bypass Dexie: they go to IndexedDB directly in one transaction that is committed
 * explicitly (`commit()`) as soon as its requests are issued. A transaction left to commit itself
 * waits for the page to handle its requests' results, and a page that goes away first (a reload,
 * a closed tab) leaves it uncommitted: the write is lost. Committed at once it completes without
 * the page, which is what lets `batchNow` save the last edits from a `pagehide` handler. Reads
 * are committed at once too, so none holds up a write queued behind it.
 */
import { StorageError } from '../core/errors'
import {
  checkKey,
  joinKey,
  lastOpPerKey,
  splitKey,
  type StorageAdapter,
  type StorageChunk,
  type StorageKey,
  type StorageOp,
} from '../core/storage/types'
import type { KvRow, OrreryDb } from './db'

/** Every key under `prefix` (parts are joined with "/"): from "p/" up to, not including, "p0". */
function prefixRange(prefix: StorageKey): IDBKeyRange {
  const p = joinKey(prefix)
  return IDBKeyRange.bound(p + '/', p + '0', false, true)
}

function isQuotaError(e: unknown): boolean {
  const names = [e, (e as { inner?: unknown } | null)?.inner].map(
    (x) => (x as { name?: string } | null)?.name,
  )
  return names.includes('QuotaExceededError')
}

function storageError(what: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e
  if (isQuotaError(e)) return new StorageError('STORAGE_FULL', `storage is full (${what})`, e)
  const message = e instanceof Error || e instanceof DOMException ? e.message : String(e)
  return new StorageError('STORAGE_FAILED', `${what} failed: ${message}`, e)
}

async function guard<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (e) {
    throw storageError(what, e)
  }
}

export class DexieStorageAdapter implements StorageAdapter {
  /** our own `db.open()` resolved (see `ready`) */
  private opened = false

  constructor(private readonly db: OrreryDb) {}

  /**
   * Open and done upgrading. Dexie's `isOpen()` turns true as soon as the upgrade of a fresh
   * database begins, and a transaction started then fails ("a version change transaction is
   * running"); `db.open()` resolves only once the database is ready (at once when it is).
   */
  private ready(): boolean {
    return this.opened && this.db.isOpen()
  }

  private async open(what = 'opening the database', again = false): Promise<void> {
    if (this.ready() && !again) return
    await guard(what, () => this.db.open())
    this.opened = true
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    const row = await this.read((kv) => kv.get(joinKey(key)))
    return (row as KvRow | undefined)?.data
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.batch([{ type: 'put', key, data }])
  }

  remove(key: StorageKey): Promise<void> {
    return this.batch([{ type: 'remove', key }])
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    const last = lastOpPerKey(ops)
    if (last.length === 0) return
    await this.open()
    try {
      return await this.issue(last)
    } catch (e) {
      // Dexie reopens a connection closed under it (another tab upgraded the schema); so do we
      if ((e as { name?: string } | null)?.name !== 'InvalidStateError') throw e
      await this.open('reopening the database', true)
      return await this.issue(last)
    }
  }

  batchNow(ops: readonly StorageOp[]): Promise<void> {
    let last: StorageOp[]
    try {
      last = lastOpPerKey(ops)
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    if (last.length === 0) return Promise.resolve()
    // not open yet (the page goes away while booting): nothing better than the usual way
    return this.ready() ? this.issue(last) : this.batch(last)
  }

  /** One readwrite transaction holding every op, its requests issued and committed now. */
  private issue(ops: readonly StorageOp[]): Promise<void> {
    let tx: IDBTransaction
    try {
      tx = this.db.backendDB().transaction(['kv'], 'readwrite', { durability: 'relaxed' })
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    let failure: unknown
    const done = new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve()
      tx.onabort = () => reject(storageError('saving', failure ?? tx.error))
    })
    try {
      const kv = tx.objectStore('kv')
      for (const op of ops) {
        // one key at most once (lastOpPerKey): the requests' order does not matter
        if (op.type === 'put') kv.put({ key: joinKey(op.key), data: op.data } satisfies KvRow)
        else kv.delete(joinKey(op.key))
      }
      tx.commit()
    } catch (e) {
      failure = e // a request refused at once (a full disk): nothing of the batch is applied
      try {
        tx.abort()
      } catch {
        done.catch(() => undefined)
        return Promise.reject(storageError('saving', e))
      }
    }
    return done
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const rows = (await this.read((kv) => kv.getAll(prefixRange(prefix)))) as KvRow[]
    return rows.map((r) => ({ key: splitKey(r.key), data: r.data }))
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    const keys = (await this.read((kv) => kv.getAllKeys(prefixRange(prefix)))) as string[]
    return keys.map(splitKey)
  }

  /**
   * One read in its own transaction, committed as soon as it is issued: a transaction left open
   * until the page handles its result holds up the write transactions queued behind it, and a
   * page that goes away meanwhile takes them down with it (the last write of `batchNow` too).
   */
  private async read(request: (kv: IDBObjectStore) => IDBRequest): Promise<unknown> {
    await this.open()
    return await new Promise((resolve, reject) => {
      let req: IDBRequest
      try {
        const tx = this.db.backendDB().transaction(['kv'], 'readonly')
        req = request(tx.objectStore('kv'))
        tx.commit()
      } catch (e) {
        reject(storageError('reading', e))
        return
      }
      req.onsuccess = () => resolve(req.result)
      req.onerror = () => reject(storageError('reading', req.error))
    })
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    await this.open()
    let tx: IDBTransaction
    try {
      tx = this.db.backendDB().transaction(['kv'], 'readwrite', { durability: 'relaxed' })
      tx.objectStore('kv').delete(prefixRange(prefix))
      tx.commit()
    } catch (e) {
      throw storageError('removing', e)
    }
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve()
      tx.onabort = () => reject(storageError('removing', tx.error))
    })
  }
}
