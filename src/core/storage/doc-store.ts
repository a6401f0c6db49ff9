/**
 * Persistence of one document as content-addressed chunks:
 *   [docId, 'c', sha256(bytes)]  incremental chunks (one per flush of changes)
 *   [docId, 's', sha256(bytes)]  snapshots (a full `save()`), written when incrementals pile up
 * Keys are hashes of their bytes, so two tabs writing the same chunk write the same key, and a tab
 * only deletes chunks it has loaded or written itself (they are inside its snapshot), never
 * another tab's newer ones. Writes are queued in order; a failed write (a full disk) keeps its
 * bytes and is retried, so nothing is lost while the tab lives.
 */
import { concatBytes, sha256Hex } from '../bytes'
import { describeError, OrreryError, StorageError } from '../errors'
import { createLogger } from '../log'
import type { StorageAdapter, StorageKey } from './types'

const log = createLogger('doc-store')

const COMPACT_AFTER_CHUNKS = 64
const COMPACT_EXTRA_BYTES = 256 * 1024
const RETRY_MS = [250, 1000, 4000, 15000]
/** the most incremental bytes merged into one write */
const MERGE_BYTES = 4 * 1024 * 1024

export interface LoadedDoc {
  /** all chunks concatenated, ready for Automerge's load */
  bytes: Uint8Array
  chunks: Uint8Array[]
}

export class DocStore {
  private readonly known = new Map<string, { key: StorageKey; size: number; snapshot: boolean }>()
  private queue: { key: StorageKey; data: Uint8Array }[] = []
  private writing = false
  private failures = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  private idleWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = []
  private lastError: unknown
  private closed = false
  /** called after each chunk reached storage (the tab bus forwards it then) */
  onSaved: (data: Uint8Array) => void = () => {}
  /** called when the number of unsaved chunks changes */
  onStatus: () => void = () => {}

  constructor(
    private readonly storage: StorageAdapter,
    readonly docId: string,
  ) {}

  get pending(): number {
    return this.queue.length
  }

  /** bytes of the chunks known to be stored */
  get bytes(): number {
    let n = 0
    for (const k of this.known.values()) n += k.size
    return n
  }

  get error(): unknown {
    return this.lastError
  }

  async load(): Promise<LoadedDoc | undefined> {
    // only the document's own chunks: other records share its prefix (its signatures under 'g',
    // its cached view under 'v', which can be as big as the document)
    const ranges = await Promise.all([
      this.storage.loadRange([this.docId, 's']),
      this.storage.loadRange([this.docId, 'c']),
    ])
    const chunks = ranges.flat().filter((c) => c.key.length === 3)
    if (chunks.length === 0) return undefined
    // snapshots first, then incrementals: Automerge accepts any order, but this loads fastest
    chunks.sort((a, b) => (a.key[1] === b.key[1] ? 0 : a.key[1] === 's' ? -1 : 1))
    for (const c of chunks) this.remember(c.key, c.data.length)
    const datas = chunks.map((c) => c.data)
    return { bytes: concatBytes(datas), chunks: datas }
  }

  /** Queues an incremental chunk; resolves nothing: use whenSaved() to wait for the disk. */
  saveIncremental(data: Uint8Array): void {
    if (data.length === 0) return
    this.enqueue([this.docId, 'c', sha256Hex(data)], data)
  }

  /** Queues a snapshot and the removal of every chunk it replaces. */
  saveSnapshot(data: Uint8Array): void {
    this.enqueue([this.docId, 's', sha256Hex(data)], data)
  }

  /** Whether enough incremental data has piled up that a snapshot is worth it. */
  wantsCompaction(): boolean {
    // a queued snapshot already replaces everything known: asking for another one on every flush
    // while it waits (a slow or full disk) would queue a full copy of the document each time
    if (this.queue.some((q) => q.key[1] === 's')) return false
    let chunks = 0
    let incBytes = 0
    let snapBytes = 0
    for (const k of this.known.values()) {
      if (k.snapshot) snapBytes += k.size
      else {
        chunks++
        incBytes += k.size
      }
    }
    for (const q of this.queue) {
      if (q.key[1] === 'c') {
        chunks++
        incBytes += q.data.length
      }
    }
    return (
      chunks >= COMPACT_AFTER_CHUNKS || (chunks > 1 && incBytes > snapBytes + COMPACT_EXTRA_BYTES)
    )
  }

  /** Resolves when everything queued so far is on disk; rejects with the error if a write failed. */
  whenSaved(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve()
    if (this.lastError !== undefined && !this.writing)
      return Promise.reject(this.lastError as Error)
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }))
  }

  close(): void {
    this.closed = true
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer)
    if (this.queue.length > 0) {
      const e = new OrreryError(
        'DOC_CLOSED',
        `document ${this.docId} closed with ${this.queue.length} chunk(s) unsaved`,
      )
      for (const w of this.idleWaiters.splice(0)) w.reject(e)
    }
  }

  private remember(key: StorageKey, size: number): void {
    this.known.set(key.join('/'), { key, size, snapshot: key[1] === 's' })
  }

  private enqueue(key: StorageKey, data: Uint8Array): void {
    this.queue.push({ key, data })
    this.onStatus()
    // Start the write once the current task is done: a flush queues its chunk before it sends
    // the change to peers, and starting an IndexedDB write costs a millisecond or two of main
    // thread that the round trip to a peer should not wait for. `pending` counts it at once.
    queueMicrotask(() => this.pump())
  }

  /**
   * The next write: the first queued chunk, or, when several incremental chunks wait (a burst, a
   * flood of peers' changes, a slow disk), all of them as one chunk of at most MERGE_BYTES. A
   * concatenation of change chunks is itself a valid incremental chunk, so this is one disk write
   * instead of many, and no fewer bytes.
   */
  private nextWrite(): { key: StorageKey; data: Uint8Array; count: number } | undefined {
    const first = this.queue[0]
    if (first === undefined) return undefined
    if (first.key[1] !== 'c') return { ...first, count: 1 }
    let count = 1
    let bytes = first.data.length
    for (const q of this.queue.slice(1)) {
      if (q.key[1] !== 'c' || bytes + q.data.length > MERGE_BYTES) break
      count++
      bytes += q.data.length
    }
    if (count === 1) return { ...first, count }
    const data = concatBytes(this.queue.slice(0, count).map((q) => q.data))
    return { key: [this.docId, 'c', sha256Hex(data)], data, count }
  }

  private pump(): void {
    if (this.writing || this.closed || this.retryTimer !== undefined) return
    const next = this.nextWrite()
    if (next === undefined) return
    this.writing = true
    this.write(next.key, next.data).then(
      () => {
        this.writing = false
        this.failures = 0
        this.lastError = undefined
        this.queue.splice(0, next.count)
        this.onStatus()
        try {
          this.onSaved(next.data)
        } catch (e) {
          log.error('onSaved threw', e)
        }
        if (this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w.resolve()
        this.pump()
      },
      (e: unknown) => {
        this.writing = false
        this.lastError = e
        this.failures++
        const wait = RETRY_MS[Math.min(this.failures - 1, RETRY_MS.length - 1)] as number
        log.warn(`saving ${this.docId} failed (${describeError(e)}); retrying in ${wait} ms`)
        for (const w of this.idleWaiters.splice(0)) w.reject(e)
        this.onStatus()
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined
          this.pump()
        }, wait)
      },
    )
  }

  /** A chunk; a snapshot together with the removal of every chunk it replaces (atomically). */
  private async write(key: StorageKey, data: Uint8Array): Promise<void> {
    const name = key.join('/')
    const replaced = key[1] === 's' ? [...this.known.entries()].filter(([k]) => k !== name) : []
    try {
      if (replaced.length === 0) await this.storage.save(key, data)
      else
        await this.storage.batch([
          { type: 'put', key, data },
          ...replaced.map(([, old]) => ({ type: 'remove' as const, key: old.key })),
        ])
    } catch (e) {
      throw e instanceof StorageError ? e : new StorageError('STORAGE_FAILED', describeError(e), e)
    }
    this.remember(key, data.length)
    for (const [k] of replaced) this.known.delete(k)
  }
}
