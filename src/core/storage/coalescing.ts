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
 *
 * `batchNow` (the page is going away) takes the batch still gathering, adds its ops and hands
 * them to the adapter at once, ahead of its turn: the batches before it are with the adapter
 * already (IndexedDB runs write transactions in the order they were created), so order holds.
 */
import {
  checkKey,
  listKeys,
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
  /** range removals queued and not yet run: a write may not jump ahead of one */
  private removals = 0
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

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    await this.tail
    return await listKeys(this.inner, prefix)
  }

  removeRange(prefix: StorageKey): Promise<void> {
    this.gathering = undefined // later writes go in a batch after the removal
    this.removals++
    const job = this.tail.then(() => this.inner.removeRange(prefix)).finally(() => this.removals--)
    this.tail = job.catch(() => undefined)
    return job
  }

  batchNow(ops: readonly StorageOp[]): Promise<void> {
    const now = this.inner.batchNow?.bind(this.inner)
    if (now === undefined || this.removals > 0) return this.queue(ops)
    try {
      for (const op of ops) checkKey(op.key) // a bad key fails its caller, not the gathering batch
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)))
    }
    const g = this.gathering
    this.gathering = undefined
    const all = [...(g?.ops ?? []), ...ops]
    // its turn finds it empty: its writers wait on this batch instead
    const waiters = g?.waiters ?? []
    if (g !== undefined) {
      g.ops = []
      g.waiters = []
    }
    const done = now(all)
    if (waiters.length > 0)
      done.then(
        () => waiters.forEach((w) => w.resolve()),
        (e: unknown) => waiters.forEach((w) => w.reject(e)),
      )
    return done
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
    if (g.ops.length === 0) {
      // an empty batch (written once the ones before it are), or one batchNow took with its waiters
      for (const w of g.waiters) w.resolve()
      return
    }
    this.batches++
    try {
      await this.inner.batch(g.ops)
      for (const w of g.waiters) w.resolve()
    } catch (e) {
      for (const w of g.waiters) w.reject(e)
    }
  }
}
