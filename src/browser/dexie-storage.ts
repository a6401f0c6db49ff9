/**
 * The StorageAdapter over IndexedDB (Dexie). Quota errors become StorageError STORAGE_FULL.
 *
 * Batches bypass Dexie: they go to IndexedDB directly in one transaction that is committed
 * explicitly (`commit()`) as soon as its requests are issued. A transaction left to commit itself
 * waits for the page to handle its requests' results, and a page that goes away first (a reload,
 * a closed tab) leaves it uncommitted: the write is lost. Committed at once it completes without
 * the page, which is what lets `batchNow` save the last edits from a `pagehide` handler.
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
  constructor(private readonly db: OrreryDb) {}

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    return await guard('reading', async () => (await this.db.kv.get(joinKey(key)))?.data)
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key)
    return await guard('saving', async () => {
      await this.db.kv.put({ key: joinKey(key), data })
    })
  }

  async remove(key: StorageKey): Promise<void> {
    checkKey(key)
    return await guard('removing', () => this.db.kv.delete(joinKey(key)))
  }

  async batch(ops: readonly StorageOp[]): Promise<void> {
    const last = lastOpPerKey(ops)
    if (last.length === 0) return
    if (!this.db.isOpen()) await guard('opening the database', () => this.db.open())
    try {
      return await this.issue(last)
    } catch (e) {
      // Dexie reopens a connection closed under it (another tab upgraded the schema); so do we
      if ((e as { name?: string } | null)?.name !== 'InvalidStateError') throw e
      await guard('reopening the database', () => this.db.open())
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
    return this.db.isOpen() ? this.issue(last) : this.batch(last)
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
    return await guard('reading', async () => {
      const rows = await this.db.kv
        .where('key')
        .startsWith(joinKey(prefix) + '/')
        .toArray()
      return rows.map((r) => ({ key: splitKey(r.key), data: r.data }))
    })
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    return await guard('reading', async () => {
      const keys = await this.db.kv
        .where('key')
        .startsWith(joinKey(prefix) + '/')
        .primaryKeys()
      return keys.map(splitKey)
    })
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    return await guard('removing', async () => {
      await this.db.kv
        .where('key')
        .startsWith(joinKey(prefix) + '/')
        .delete()
    })
  }
}
