/**
 * The BlockStore over IndexedDB. Only verified bytes go in (`put` checks them against the CID);
 * the service worker reads from here and checks again before serving.
 */
import { verifyBlockAsync } from '../core/blocks/cid'
import type { BlockStore, CidString, StoreUsage } from '../core/blocks/types'
import { OrreryError, StorageError } from '../core/errors'
import type { OrreryDb } from './db'

function storageError(what: string, e: unknown): StorageError {
  const name = (e as { name?: string; inner?: { name?: string } } | null)?.name
  const inner = (e as { inner?: { name?: string } } | null)?.inner?.name
  if (name === 'QuotaExceededError' || inner === 'QuotaExceededError') {
    return new StorageError('STORAGE_FULL', `storage is full (${what})`, e)
  }
  return new StorageError(
    'STORAGE_FAILED',
    `${what} failed: ${e instanceof Error ? e.message : String(e)}`,
    e,
  )
}

export class DexieBlockStore implements BlockStore {
  constructor(private readonly db: OrreryDb) {}

  async has(cid: CidString): Promise<boolean> {
    return (await this.db.blocks.where('cid').equals(cid).count()) > 0
  }

  async get(cid: CidString): Promise<Uint8Array | undefined> {
    return (await this.db.blocks.get(cid))?.bytes
  }

  async put(cid: CidString, bytes: Uint8Array): Promise<void> {
    if (!(await verifyBlockAsync(cid, bytes)))
      throw new OrreryError('BAD_BLOCK', `bytes do not match ${cid}`)
    try {
      await this.db.blocks.put({
        cid,
        bytes: bytes.slice(),
        size: bytes.length,
        storedAt: Date.now(),
      })
    } catch (e) {
      throw storageError('storing a block', e)
    }
  }

  async delete(cid: CidString): Promise<void> {
    await this.db.blocks.delete(cid)
  }

  async pin(name: string, root: CidString, cids: CidString[]): Promise<void> {
    await this.db.pins.put({
      root,
      name,
      cids: [...new Set([root, ...cids])],
      pinnedAt: Date.now(),
    })
  }

  async unpin(root: CidString): Promise<void> {
    await this.db.pins.delete(root)
  }

  async pins(): Promise<{ name: string; root: CidString; cids: CidString[]; pinnedAt: number }[]> {
    return this.db.pins.toArray()
  }

  async usage(): Promise<StoreUsage> {
    const pinned = new Set((await this.db.pins.toArray()).flatMap((p) => p.cids))
    let blocks = 0
    let bytes = 0
    let pinnedBytes = 0
    await this.db.blocks.each((b) => {
      blocks++
      bytes += b.size
      if (pinned.has(b.cid)) pinnedBytes += b.size
    })
    return { blocks, bytes, pinnedBytes }
  }

  async gc(): Promise<{ removed: number; freedBytes: number }> {
    return this.db.transaction('rw', this.db.blocks, this.db.pins, async () => {
      const pinned = new Set((await this.db.pins.toArray()).flatMap((p) => p.cids))
      const doomed: string[] = []
      let freedBytes = 0
      await this.db.blocks.each((b) => {
        if (!pinned.has(b.cid)) {
          doomed.push(b.cid)
          freedBytes += b.size
        }
      })
      await this.db.blocks.bulkDelete(doomed)
      return { removed: doomed.length, freedBytes }
    })
  }
}
