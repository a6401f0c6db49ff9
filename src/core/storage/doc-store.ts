/**
 * Persistence of one document as content-addressed chunks:
 *   [docId, 'c', sha256(bytes)]  incremental chunks (one per flush of changes)
 *   [docId, 's', sha256(bytes)]  snapshots (a full `save()`), written when incrementals pile up
 *   [docId, 'g', sha256(bytes)]  signatures of a governed document's changes (128-byte records)
 * Keys are hashes of their bytes, so two tabs writing the same chunk write the same key, and a tab
 * only deletes chunks it has loaded or written itself (they are inside its snapshot), never
 * another tab's newer ones. Writes are queued in order; a failed write (a full disk) keeps its
 * bytes and is retried, so nothing is lost while the tab lives.
 *
 * A change and its signature are queued signature first and written in one batch (one IndexedDB
 * transaction): a change is never on disk without its signature, which after a reload would go
 * out unsigned and get this tab's peers struck. When the page goes away, `pendingPuts` hands
 * everything still queued to one last write that cannot wait for its turn.
 */
import { concatBytes, sha256Hex } from '../bytes'
import { describeError, OrreryError, StorageError } from '../errors'
import { createLogger } from '../log'
import { scheduleWrite } from '../schedule'
import { listKeys, type StorageAdapter, type StorageKey, type StorageOp } from './types'

const log = createLogger('doc-store')

const COMPACT_AFTER_CHUNKS = 64
const COMPACT_EXTRA_BYTES = 256 * 1024
const RETRY_MS = [250, 1000, 4000, 15000]
/** the most incremental bytes merged into one write */
const MERGE_BYTES = 4 * 1024 * 1024

type Kind = 'c' | 's' | 'g'

interface Queued {
  kind: Kind
  data: Uint8Array
}

interface Write {
  ops: StorageOp[]
  /** queue entries it covers */
  count: number
  /** change bytes and signature records it stores (for the tab bus) */
  chunk: Uint8Array
  sigs: Uint8Array
  /** keys it replaces (a snapshot's) */
  replaced: string[]
}

export interface LoadedDoc {
  /** all chunks concatenated, ready for Automerge's load */
  bytes: Uint8Array
  chunks: Uint8Array[]
}

export class DocStore {
  private readonly known = new Map<string, { key: StorageKey; size: number; kind: Kind }>()
  /** keys other tabs stored whose contents this tab has (they sent them): no need to read them */
  private readonly seen = new Set<string>()
  private queue: Queued[] = []
  private writing = false
  private failures = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  /** waiting for the group commit before the next write (WRITE_DELAY_MS) */
  private delayed = false
  private idleWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = []
  private lastError: unknown
  private closed = false
  /** called after each write reached storage with the change bytes and signatures it stored */
  onSaved: (chunk: Uint8Array, sigs: Uint8Array) => void = () => {}
  /** called when the number of unsaved chunks changes */
  onStatus: () => void = () => {}
  /** every signature record of the document: a snapshot replaces the signature chunks too */
  sigRecords: (() => Uint8Array) | undefined

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
    for (const k of this.known.values()) if (k.kind !== 'g') n += k.size
    return n
  }

  get error(): unknown {
    return this.lastError
  }

  async load(): Promise<LoadedDoc | undefined> {
    // only the document's own chunks: other records share its prefix (its cached view under
    // 'v', which can be as big as the document)
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

  /** The stored signature records (128 bytes each), concatenated. */
  async loadSigs(): Promise<Uint8Array> {
    const chunks = (await this.storage.loadRange([this.docId, 'g'])).filter(
      (c) => c.key.length === 3,
    )
    for (const c of chunks) this.remember(c.key, c.data.length)
    return concatBytes(chunks.map((c) => c.data))
  }

  /** Another tab stored these bytes (and sent them): a later `loadUnknown` skips them. */
  noteStoredElsewhere(kind: 'c' | 'g', data: Uint8Array): void {
    this.seen.add(this.keyOf(kind, data).join('/'))
  }

  /**
   * Chunks and signature records on disk that this tab has neither loaded, written nor been
   * sent: what another tab of the profile stored as it went away (its last message may not
   * have reached us). Change bytes first, then signature records.
   */
  async loadUnknown(): Promise<{ chunks: Uint8Array[]; sigs: Uint8Array[] }> {
    const keys = (
      await Promise.all(['s', 'c', 'g'].map((k) => listKeys(this.storage, [this.docId, k])))
    )
      .flat()
      .filter((k) => k.length === 3 && !this.known.has(k.join('/')) && !this.seen.has(k.join('/')))
    const chunks: Uint8Array[] = []
    const sigs: Uint8Array[] = []
    for (const key of keys) {
      const data = await this.storage.load(key)
      if (data === undefined) continue // compacted away meanwhile: inside a snapshot we see
      this.remember(key, data.length)
      ;(key[1] === 'g' ? sigs : chunks).push(data)
    }
    return { chunks, sigs }
  }

  /** Queues an incremental chunk; resolves nothing: use whenSaved() to wait for the disk. */
  saveIncremental(data: Uint8Array): void {
    if (data.length === 0) return
    this.enqueue('c', data)
  }

  /** Queues a snapshot and the removal of every chunk it replaces. */
  saveSnapshot(data: Uint8Array): void {
    this.enqueue('s', data)
  }

  /** Queues signature records; queued before their changes, they reach the disk with them. */
  saveSigs(records: Uint8Array): void {
    if (records.length === 0) return
    this.enqueue('g', records)
  }

  /** Whether enough incremental data has piled up that a snapshot is worth it. */
  wantsCompaction(): boolean {
    // a queued snapshot already replaces everything known: asking for another one on every flush
    // while it waits (a slow or full disk) would queue a full copy of the document each time
    if (this.queue.some((q) => q.kind === 's')) return false
    let chunks = 0
    let incBytes = 0
    let snapBytes = 0
    for (const k of this.known.values()) {
      if (k.kind === 's') snapBytes += k.size
      else if (k.kind === 'c') {
        chunks++
        incBytes += k.size
      }
    }
    for (const q of this.queue) {
      if (q.kind === 'c') {
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
    this.writeNow()
    if (this.lastError !== undefined && !this.writing)
      return Promise.reject(this.lastError as Error)
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }))
  }

  /**
   * Everything still queued, as plain puts (no removals: a snapshot's old chunks stay until a
   * later compaction), for a write that cannot wait for its turn: the page is going away.
   * The queue keeps them too: if the page lives on (hidden, then shown), they are written again
   * under the same keys or merged ones, which loads the same.
   */
  pendingPuts(): { ops: StorageOp[]; chunks: Uint8Array[]; sigs: Uint8Array[] } {
    const ops: StorageOp[] = []
    const chunks: Uint8Array[] = []
    const sigs: Uint8Array[] = []
    for (const q of this.queue) {
      ops.push({ type: 'put', key: this.keyOf(q.kind, q.data), data: q.data })
      ;(q.kind === 'g' ? sigs : chunks).push(q.data)
    }
    return { ops, chunks, sigs }
  }

  close(): void {
    this.writeNow() // what waits for its group commit is still written
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

  private keyOf(kind: Kind, data: Uint8Array): StorageKey {
    return [this.docId, kind, sha256Hex(data)]
  }

  private remember(key: StorageKey, size: number): void {
    this.known.set(key.join('/'), { key, size, kind: key[1] as Kind })
  }

  private enqueue(kind: Kind, data: Uint8Array): void {
    this.queue.push({ kind, data })
    this.onStatus()
    // Start the write a little later, with whatever else queues meanwhile (WRITE_DELAY_MS, the
    // group commit): a flush queues its chunk before it sends the change to peers, and an
    // IndexedDB write costs a millisecond or two of main thread that the round trip to a peer
    // should not wait for. `pending` counts it at once; a page going away writes it
    // (pendingPuts), and `whenSaved` starts it at once.
    if (!this.delayed && !this.writing) {
      this.delayed = true
      scheduleWrite(() => this.writeNow())
    }
  }

  /**
   * The next write. A snapshot: with the removal of every chunk it replaces, and every
   * signature as one record chunk in place of the old ones. Otherwise the incremental chunks and
   * signatures that queued meanwhile (a burst, a flood of peers' changes, a slow disk), as one
   * chunk of each kind of at most MERGE_BYTES: a concatenation of change chunks is itself a
   * valid incremental chunk, so this is one disk write instead of many, and no fewer bytes.
   */
  private nextWrite(): Write | undefined {
    const first = this.queue[0]
    if (first === undefined) return undefined
    if (first.kind === 's') return this.snapshotWrite(first.data)
    const cs: Uint8Array[] = []
    const gs: Uint8Array[] = []
    let bytes = 0
    let count = 0
    for (const q of this.queue) {
      if (q.kind === 's') break
      if (q.kind === 'c') {
        if (cs.length > 0 && bytes + q.data.length > MERGE_BYTES) break
        bytes += q.data.length
        cs.push(q.data)
      } else gs.push(q.data)
      count++
    }
    const chunk = concatBytes(cs)
    const sigs = concatBytes(gs)
    const ops: StorageOp[] = []
    if (chunk.length > 0) ops.push({ type: 'put', key: this.keyOf('c', chunk), data: chunk })
    if (sigs.length > 0) ops.push({ type: 'put', key: this.keyOf('g', sigs), data: sigs })
    return { ops, count, chunk, sigs, replaced: [] }
  }

  private snapshotWrite(data: Uint8Array): Write {
    const key = this.keyOf('s', data)
    const all = this.sigRecords?.()
    const records = all !== undefined && all.length > 0 ? all : undefined
    const sigKey = records === undefined ? undefined : this.keyOf('g', records)
    const ops: StorageOp[] = [{ type: 'put', key, data }]
    if (sigKey !== undefined && records !== undefined)
      ops.push({ type: 'put', key: sigKey, data: records })
    // what it replaces: every known chunk, and the signature chunks when it holds all signatures
    const keep = new Set([key.join('/'), sigKey?.join('/')])
    const replaced: string[] = []
    for (const [k, old] of this.known) {
      if (keep.has(k) || (old.kind === 'g' && records === undefined)) continue
      replaced.push(k)
      ops.push({ type: 'remove', key: old.key })
    }
    return { ops, count: 1, chunk: new Uint8Array(0), sigs: new Uint8Array(0), replaced }
  }

  /** The group-commit wait ends (its time came, or someone waits for the disk). */
  private writeNow(): void {
    if (!this.delayed) return
    this.delayed = false
    this.pump()
  }

  private pump(): void {
    if (this.writing || this.closed || this.retryTimer !== undefined) return
    const next = this.nextWrite()
    if (next === undefined) return
    this.writing = true
    this.write(next).then(
      () => {
        this.writing = false
        this.failures = 0
        this.lastError = undefined
        this.queue.splice(0, next.count)
        this.onStatus()
        if (next.chunk.length > 0 || next.sigs.length > 0) {
          try {
            this.onSaved(next.chunk, next.sigs)
          } catch (e) {
            log.error('onSaved threw', e)
          }
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

  /** One write, all or nothing: a single put as `save`, anything more as one batch. */
  private async write(w: Write): Promise<void> {
    const only = w.ops.length === 1 ? w.ops[0] : undefined
    try {
      if (only?.type === 'put') await this.storage.save(only.key, only.data)
      else await this.storage.batch(w.ops)
    } catch (e) {
      throw e instanceof StorageError ? e : new StorageError('STORAGE_FAILED', describeError(e), e)
    }
    for (const op of w.ops) if (op.type === 'put') this.remember(op.key, op.data.length)
    for (const k of w.replaced) this.known.delete(k)
  }

  /** Keys a last-moment write stored: known like any other, so a later snapshot replaces them. */
  stored(ops: readonly StorageOp[]): void {
    for (const op of ops) if (op.type === 'put') this.remember(op.key, op.data.length)
  }
}
