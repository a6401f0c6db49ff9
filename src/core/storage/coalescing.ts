/**
 * A StorageAdapter that groups writes into batches of the adapter below (one IndexedDB
 * transaction each): the writes of one turn of the event loop go together, and while a batch is
 * being written the next one gathers every write that arrives meanwhile (group commit). A flush
 * that stores a change, the document's "waiting" record and an outbox entry costs one
 * transaction instead of three. Each IndexedDB transaction is main-thread and storage-process
 * work that a round trip to a peer waits behind, so fewer of them is lower latency as well as
 * less CPU.
 *
 * Order is kept without relying on the adapter's: one batch at a time, in order; a read waits
 * for the batches queued before it (it sees every write called before it); a range removal
 * runs between batches, after the writes called before it and before the ones called after.
 *
 * A batch fails as a whole (a full disk): every write in it rejects with the error, and each
 * caller keeps its bytes and retries as it would after a failed `save`.
 */
import {
  checkKey,
  type StorageAdapter,
  type StorageChunk,
  type StorageKey,
  type StorageOp,
} from './types'

interface Gathering {
  ops: StorageOp[]
  waiters: { resolve: () => void; reject: (e: unknown) => void }[]
}

export class CoalescingStorage implements StorageAdapter {
  /** settles once every batch and range removal queued so far has (it never rejects) */
  private tail: Promise<void> = Promise.resolve()
  /** the batch still taking writes: its turn has not come yet */
  private gathering: Gathering | undefined
  /** batches handed to the adapter below (for tests and the benchmark) */
  batches = 0

  constructor(private readonly inner: StorageAdapter) {}

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.queue([{ type: 'put', key, data }])
  }

  remove(key: StorageKey): Promise<void> {
    return this.queue([{ type: 'remove', key }])
  }

  batch(ops: readonly StorageOp[]): Promise<void> {
    return this.queue(ops)
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    await this.tail
    return await this.inner.load(key)
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    await this.tail
    return await this.inner.loadRange(prefix)
  }

  removeRange(prefix: StorageKey): Promise<void> {
    this.gathering = undefined // later writes go in a batch after the removal
    const job = this.tail.then(() => this.inner.removeRange(prefix))
    this.tail = job.catch(() => undefined)
    return job
  }

  private queue(ops: readonly StorageOp[]): Promise<void> {
    try {
      for (const op of ops) checkKey(op.key) // a bad key fails its caller, not the whole batch
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    let g = this.gathering
    if (g === undefined) {
      const fresh: Gathering = (g = this.gathering = { ops: [], waiters: [] })
      this.tail = this.tail.then(() => this.write(fresh))
    }
    g.ops.push(...ops)
    const waiters = g.waiters
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }))
  }

  /** The batch's turn: it takes no more writes; never rejects (its writers get the error). */
  private async write(g: Gathering): Promise<void> {
    if (this.gathering === g) this.gathering = undefined
    this.batches++
    try {
      await this.inner.batch(g.ops)
      for (const w of g.waiters) w.resolve()
    } catch (e) {
      for (const w of g.waiters) w.reject(e)
    }
  }
}
