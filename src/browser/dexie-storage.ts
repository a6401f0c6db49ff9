/** The StorageAdapter over IndexedDB (Dexie). Quota errors become StorageError STORAGE_FULL. */
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

async function guard<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (e) {
    if (isQuotaError(e)) throw new StorageError('STORAGE_FULL', `storage is full (${what})`, e)
    throw new StorageError(
      'STORAGE_FAILED',
      `${what} failed: ${e instanceof Error ? e.message : String(e)}`,
      e,
    )
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
    const puts: KvRow[] = []
    const removes: string[] = []
    for (const op of last) {
      if (op.type === 'put') puts.push({ key: joinKey(op.key), data: op.data })
      else removes.push(joinKey(op.key))
    }
    if (last.length === 0) return
    return await guard('saving', () =>
      this.db.transaction('rw', this.db.kv, async () => {
        // one key at most once (lastOpPerKey): the two requests' order does not matter
        await Promise.all([this.db.kv.bulkPut(puts), this.db.kv.bulkDelete(removes)])
      }),
    )
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

  async removeRange(prefix: StorageKey): Promise<void> {
    return await guard('removing', async () => {
      await this.db.kv
        .where('key')
        .startsWith(joinKey(prefix) + '/')
        .delete()
    })
  }
}
