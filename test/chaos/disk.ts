/**
 * The chaos model's time and disks.
 *
 * `ModelClock` is the firewall's clock: it moves only when the schedule says so, so a throttled
 * peer waits exactly as long as the schedule lets time pass, whatever the machine's speed.
 *
 * `ModelDisk` is one browser profile's IndexedDB. Each page load talks to it through its own
 * `DiskPort`. A port can be slow (`hold`: writes handed to it wait, as transactions IndexedDB
 * has not committed yet) and it dies with its page: a SIGKILL loses the writes it still held; a
 * page that goes away normally (`reload`) has its held writes committed first, because IndexedDB
 * commits every transaction it was handed (see "What `set` and `flush` promise" in
 * docs/ARCHITECTURE.md). A dead port never answers again, so a crashed page's leftover timers
 * cannot write into the next page's disk.
 */
import type { Clock } from '../../src/core/firewall/firewall'
import { MemoryStorageAdapter } from '../../src/core/storage/memory'
import type {
  StorageAdapter,
  StorageChunk,
  StorageKey,
  StorageOp,
} from '../../src/core/storage/types'

export class ModelClock implements Clock {
  private t = 0
  private sleepers: { at: number; wake: () => void }[] = []

  now(): number {
    return this.t
  }

  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve()
    return new Promise((wake) => this.sleepers.push({ at: this.t + ms, wake }))
  }

  /** Moves time on and wakes every sleeper that is due. */
  advance(ms: number): void {
    this.t += ms
    const due = this.sleepers.filter((s) => s.at <= this.t)
    this.sleepers = this.sleepers.filter((s) => s.at > this.t)
    for (const s of due) s.wake()
  }

  /** How long until the next sleeper wakes (undefined: nobody sleeps). */
  nextWake(): number | undefined {
    if (this.sleepers.length === 0) return undefined
    return Math.max(0, Math.min(...this.sleepers.map((s) => s.at)) - this.t)
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => {})

export class ModelDisk {
  /** what is on disk */
  readonly data = new MemoryStorageAdapter()
  /** writes wait in the port until released (a slow disk) */
  hold = false
}

interface HeldWrite {
  apply: () => Promise<void>
  resolve: () => void
  reject: (e: unknown) => void
}

/** One page's way to its profile's disk (see the file comment). */
export class DiskPort implements StorageAdapter {
  private dead = false
  /** the page is gone: writes it hands over from now on never happen */
  private frozen = false
  private held: HeldWrite[] = []
  private releasing = false

  constructor(private readonly disk: ModelDisk) {}

  /** writes handed over and not yet on disk */
  get pending(): number {
    return this.held.length
  }

  get isDead(): boolean {
    return this.dead
  }

  private write(apply: () => Promise<void>): Promise<void> {
    if (this.dead || this.frozen) return never()
    if (!this.disk.hold && this.held.length === 0 && !this.releasing) return apply()
    return new Promise((resolve, reject) => this.held.push({ apply, resolve, reject }))
  }

  /** Commits every held write, in order (the disk caught up). */
  async release(): Promise<void> {
    this.disk.hold = false
    if (this.releasing) return
    this.releasing = true
    try {
      while (this.held.length > 0 && !this.dead) {
        const w = this.held.shift() as HeldWrite
        try {
          await w.apply()
          w.resolve()
        } catch (e) {
          w.reject(e)
        }
      }
    } finally {
      this.releasing = false
    }
  }

  /** The page is gone; what it handed over before still commits (`release`). */
  freeze(): void {
    this.frozen = true
  }

  /** The page is gone: held writes are lost, and nothing answers any more. */
  kill(): void {
    this.dead = true
    this.held = []
  }

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    return this.dead ? never() : this.disk.data.load(key)
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    const copy = data.slice()
    return this.write(() => this.disk.data.save(key, copy))
  }

  remove(key: StorageKey): Promise<void> {
    return this.write(() => this.disk.data.remove(key))
  }

  batch(ops: readonly StorageOp[]): Promise<void> {
    const copy = ops.map((o) => (o.type === 'put' ? { ...o, data: o.data.slice() } : o))
    return this.write(() => this.disk.data.batch(copy))
  }

  /** Handed to the disk at once, in order behind the writes it already holds. */
  batchNow(ops: readonly StorageOp[]): Promise<void> {
    return this.batch(ops)
  }

  loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    return this.dead ? never() : this.disk.data.loadRange(prefix)
  }

  listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    return this.dead ? never() : this.disk.data.listKeys(prefix)
  }

  removeRange(prefix: StorageKey): Promise<void> {
    return this.write(() => this.disk.data.removeRange(prefix))
  }
}
