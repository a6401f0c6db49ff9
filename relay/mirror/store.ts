/**
 * The mirror's store: envelopes (src/core/mirror/envelope.ts) kept in LevelDB, ciphertext only.
 * Each accepted envelope gets its document tag's next index (1, 2, 3…, in arrival order), so a
 * tab catches up with "everything since N" (`since`).
 *
 * A document's log is named by its tag and its space's roster (envelope.ts): `<log>` below is
 * the docTag in hex for a document of no space, the roster id's hex followed by the docTag's for
 * a space's. An envelope naming a roster is taken only from a member of it (rosters.ts).
 *
 * Keys are UTF-8 strings, byte arrays in lowercase hex, numbers in fixed-width (16 digit) hex
 * where they must sort; values are bytes (counters: decimal ASCII):
 *
 *   e!<log>!<index>                 the envelope, as uploaded
 *   u!<log>!<uploader>!<seq>        its index (decimal): finds a retried envelope
 *   s!<log>!<uploader>              the highest seq stored from this uploader for this log
 *   n!<log>                         the next index to assign
 *   b!<log> or b!r<roster>          envelope bytes stored for a document of no space, or for
 *                                   all the documents of a space (the quota)
 *   k!<log>                         the index up to which a snapshot replaced the log's envelopes
 *   r!…, a!…                        rosters and admissions (rosters.ts)
 *
 * Compaction: a snapshot (an envelope whose header `covers` index N, from a writer or admin of
 * the space: a document of no space is never compacted, as nobody there can be told from a
 * vandal) holds the whole document as of the log's envelopes up to N. It is stored like any
 * envelope, at the log's next index, and the envelopes up to N are deleted in the same batch.
 * A reader that had read fewer than N gets the snapshot after whatever it still finds.
 *   q!<yyyy-mm-dd>!<uploader>       envelope bytes this uploader stored that UTC day (the quota;
 *                                   earlier days are deleted at open and when the day changes)
 *   t!envelopes, t!bytes            totals, for `stats`
 *
 * Durability: a put resolves ok only once its envelope is on disk (a `sync` batch), so an
 * acknowledged envelope survives the process being killed. Group commit keeps that cheap: puts
 * that arrive while a batch is being written queue up and go to disk together in the next one,
 * one fsync for all of them. Everything a batch changes (envelopes, indexes, counters) is in that
 * one atomic batch, so the counters always agree with the envelopes on disk.
 *
 * Caches: the counters of a document, an (document, uploader) pair or an uploader's day are read
 * from the database the first time a batch needs them (lazily: a mirror holds many documents and
 * a restart should not read them all), then kept in bounded maps. Only the writer (one batch at a
 * time) reads and changes them, and it changes them only after its batch committed: a failed
 * batch leaves them as they were, and the entries it touched are dropped so that they are read
 * again from whatever the database holds.
 */
import { ClassicLevel } from 'classic-level'
import { equalBytes } from '../../src/core/bytes'
import {
  IdentityError,
  OrreryError,
  ProtocolError,
  StorageError,
  type Result,
  err,
  ok,
} from '../../src/core/errors'
import { createLogger } from '../../src/core/log'
import { NO_ROSTER, parseEnvelope } from '../../src/core/mirror/envelope'
import { MIRROR_MAX_BYTES_PER_SPACE, MIRROR_MAX_BYTES_PER_UPLOADER_PER_DAY } from '../config'
import { Rosters, Verifier } from './rosters'

const log = createLogger('mirror-store')

export interface MirrorStoreOptions {
  /** envelope bytes per space, or per document of no space (default MIRROR_MAX_BYTES_PER_SPACE) */
  maxBytesPerSpace?: number
  /** envelope bytes per uploader per UTC day (default MIRROR_MAX_BYTES_PER_UPLOADER_PER_DAY) */
  maxBytesPerUploaderPerDay?: number
  /** the clock that picks the quota's day (tests move it) */
  now?: () => number
  /** at most this many puts, and about this many bytes, go into one batch */
  maxBatchPuts?: number
  maxBatchBytes?: number
  /** entries kept in each cache (documents, uploader pairs, uploader days) */
  cacheEntries?: number
  /**
   * take envelopes into logs that name no member list (NO_ROSTER: documents of no space made
   * before write keys), from any uploader within the quotas. Off unless asked for: no tab of
   * this version writes such a log, and one would let anyone fill the disk under fresh keys
   */
  openLogs?: boolean
}

export interface PutResult {
  /** the envelope's index in its document tag's order */
  index: number
  /** true when this exact envelope was stored before (a retry): `index` is the original's */
  duplicate: boolean
}

export interface MirrorStats {
  envelopes: number
  bytes: number
  /** puts waiting for their batch */
  pending: number
}

/** one page of `since` at most */
export const MAX_SINCE_LIMIT = 1000

type Db = ClassicLevel<string, Uint8Array>
type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string }

/** A put waiting for the writer: checked already (structure, signature), not yet against state. */
interface Pending {
  bytes: Uint8Array
  /** the log's name (see top) */
  tag: string
  /** what its bytes count against: `<log>` or `r<roster>` */
  quota: string
  uploader: string
  seq: number
  /** a snapshot's: the index up to which it replaces the log (0: a bundle of changes) */
  covers: number
  resolve: (r: Result<PutResult, OrreryError>) => void
}

/** What a batch would change, read through to the caches: applied once the batch committed. */
interface Overlay {
  docs: Map<string, number>
  spaces: Map<string, number>
  seqs: Map<string, number>
  quota: Map<string, number>
  /** logs compacted by this batch, up to where */
  compacted: Map<string, number>
  /** envelopes of this batch by their u! key: a retry within the batch is a duplicate too */
  written: Map<string, { index: number; bytes: Uint8Array }>
  ops: Op[]
  /** puts answered when the batch commits (or fails) */
  acks: { p: Pending; value: PutResult }[]
  envelopes: number
  bytes: number
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex')
const fixed = (n: number): string => n.toString(16).padStart(16, '0')
const encodeNum = (n: number): Uint8Array => Buffer.from(String(n))
const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10)
const eKey = (tag: string, index: number): string => `e!${tag}!${fixed(index)}`
/** an envelope's retry record: its log, uploader (hex) and sequence number */
const uKey = (tag: string, uploader: string, seq: number): string =>
  `u!${tag}!${uploader}!${fixed(seq)}`
/** a log's name: the document's tag, after its space's roster id if it has one */
const logName = (docTag: Uint8Array, roster: Uint8Array): string =>
  equalBytes(roster, NO_ROSTER) ? hex(docTag) : hex(roster) + hex(docTag)

function decodeNum(v: Uint8Array | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(Buffer.from(v).toString())
  if (!Number.isSafeInteger(n) || n < 0)
    throw new StorageError('STORAGE_FAILED', 'a damaged counter in the mirror store')
  return n
}

/** Moves `key` to the young end of a Map used as an LRU, dropping the oldest beyond `max`. */
function remember<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key)
  map.set(key, value)
  for (const old of map.keys()) {
    if (map.size <= max) break
    map.delete(old)
  }
}

export class MirrorStore {
  private readonly queue: Pending[] = []
  private writing: Promise<void> | undefined
  private closed = false
  /** the next index of each log */
  private readonly docs = new Map<string, number>()
  /** bytes stored against each quota key */
  private readonly spaces = new Map<string, number>()
  /** by `<docTag>!<uploader>` */
  private readonly seqs = new Map<string, number>()
  /** this.day's bytes by uploader */
  private readonly quota = new Map<string, number>()
  private readonly verifier = new Verifier()
  /** the spaces' member lists */
  readonly rosters: Rosters
  private day = ''
  private envelopes = 0
  private bytes = 0
  private readonly maxSpace: number
  private readonly maxDay: number
  private readonly now: () => number
  private readonly maxBatchPuts: number
  private readonly maxBatchBytes: number
  private readonly cacheEntries: number
  private readonly openLogs: boolean

  private constructor(
    private readonly db: Db,
    options: MirrorStoreOptions,
  ) {
    this.maxSpace = options.maxBytesPerSpace ?? MIRROR_MAX_BYTES_PER_SPACE
    this.maxDay = options.maxBytesPerUploaderPerDay ?? MIRROR_MAX_BYTES_PER_UPLOADER_PER_DAY
    this.now = options.now ?? Date.now
    this.maxBatchPuts = options.maxBatchPuts ?? 1000
    this.maxBatchBytes = options.maxBatchBytes ?? 32 * 1024 * 1024
    this.cacheEntries = options.cacheEntries ?? 100_000
    this.openLogs = options.openLogs === true
    this.rosters = new Rosters(db, this.verifier, this.now)
  }

  /** Opens (or creates) the store in `dir`. Throws what LevelDB throws (locked, damaged). */
  static async open(dir: string, options: MirrorStoreOptions = {}): Promise<MirrorStore> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { valueEncoding: 'view' })
    await db.open()
    const store = new MirrorStore(db, options)
    await store.loadTotals()
    await store.startDay()
    return store
  }

  /**
   * Waits for the puts already made, then closes the database. Later puts answer NOT_READY.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.writing
    await this.db.close()
  }

  /**
   * Stores an uploaded envelope. Refuses (nothing stored) what `parseEnvelope` refuses, a
   * signature that is not the header's uploader's (BAD_SIGNATURE), an uploader who is not a
   * member of the space the header names (NOT_A_MEMBER), a seq not above the last one
   * stored from this uploader for this document (PROTOCOL_VIOLATION), and an envelope over a
   * quota (STORAGE_FULL). An envelope identical to one stored is answered as a duplicate with its
   * index: an outbox retrying after a lost acknowledgement must not fail. Never throws.
   */
  async put(bytes: Uint8Array): Promise<Result<PutResult, OrreryError>> {
    if (this.closed) return err(new OrreryError('NOT_READY', 'the mirror store is closed'))
    const parsed = parseEnvelope(bytes)
    if (!parsed.ok) return refuse(parsed.error)
    const { header, signed, signature } = parsed.value
    const uploader = hex(header.uploader)
    // OpenSSL, not the envelope module's verifyEnvelope (pure JS, a millisecond or two per
    // envelope); `signed` comes from parseEnvelope, so it does begin with this header
    if (!this.verifier.verify(header.uploader, signed, signature, uploader))
      return refuse(new IdentityError('BAD_SIGNATURE', 'the uploader did not sign this envelope'))
    const roster = equalBytes(header.roster, NO_ROSTER) ? undefined : hex(header.roster)
    if (roster === undefined && !this.openLogs)
      return refuse(
        new OrreryError(
          'NOT_ALLOWED',
          'this mirror takes no envelopes into a log without a member list (a document needs a write key or a space)',
        ),
      )
    if (roster !== undefined) {
      const role = await this.rosters.roleOf(roster, uploader)
      if (!role.ok) return refuse(role.error)
      if (role.value === undefined)
        return refuse(
          new OrreryError('NOT_A_MEMBER', "the uploader is not on the space's member list"),
        )
    }
    if (header.covers > 0) {
      const role = roster === undefined ? undefined : await this.rosters.roleOf(roster, uploader)
      if (role?.ok !== true || (role.value !== 'writer' && role.value !== 'admin'))
        return refuse(
          new OrreryError(
            'NOT_ALLOWED',
            roster === undefined
              ? 'a document of no space is not compacted'
              : "only a space's writers and admins compact its logs",
          ),
        )
    }
    const tag = logName(header.docTag, header.roster)
    const quota = roster === undefined ? tag : `r${roster}`
    return new Promise((resolve) => {
      // a copy: the caller may reuse its buffer before the batch is written
      const covers = header.covers
      this.queue.push({
        bytes: bytes.slice(),
        tag,
        quota,
        uploader,
        seq: header.seq,
        covers,
        resolve,
      })
      this.writing ??= this.drain()
    })
  }

  /**
   * Up to `limit` (at most MAX_SINCE_LIMIT: one answer stays bounded) envelopes of `docTag` in
   * `roster`'s log (none: a document of no space) with an index above `after`, in index order.
   * Throws a RangeError on arguments a caller should have checked (a tag not of 32 bytes, a
   * negative or fractional number).
   */
  async since(
    docTag: Uint8Array,
    after: number,
    limit = MAX_SINCE_LIMIT,
    roster: Uint8Array = NO_ROSTER,
  ): Promise<{ index: number; envelope: Uint8Array }[]> {
    if (docTag.length !== 32 || roster.length !== 32) throw new RangeError('a tag is 32 bytes')
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError(`after ${after}`)
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit ${limit}`)
    const count = Math.min(limit, MAX_SINCE_LIMIT)
    if (count === 0) return []
    const tag = logName(docTag, roster)
    const rows = await this.db
      .iterator({ gt: eKey(tag, after), lt: `e!${tag}"`, limit: count })
      .all()
    // LevelDB hands back Buffers: plain views of them, as the envelope module reads and makes
    return rows.map(([key, v]) => ({
      index: parseInt(key.slice(-16), 16),
      envelope: new Uint8Array(v.buffer, v.byteOffset, v.byteLength),
    }))
  }

  stats(): MirrorStats {
    return { envelopes: this.envelopes, bytes: this.bytes, pending: this.queue.length }
  }

  /** The writer: one batch at a time, each taking every put queued while the last was written. */
  private async drain(): Promise<void> {
    // a turn of the event loop: puts arriving together share the first batch too
    await new Promise((r) => setImmediate(r))
    try {
      while (this.queue.length > 0) await this.writeBatch(this.takeBatch())
    } finally {
      this.writing = undefined
    }
  }

  private takeBatch(): Pending[] {
    let n = 0
    let size = 0
    while (n < this.queue.length && n < this.maxBatchPuts && size < this.maxBatchBytes) {
      size += (this.queue[n] as Pending).bytes.length
      n++
    }
    return this.queue.splice(0, n)
  }

  /**
   * Decides every put of `batch` against the committed state plus the batch's earlier puts,
   * writes the accepted ones in one synced batch, then updates the caches and answers. Never
   * throws: a failure answers the batch's puts STORAGE_FAILED and stores none of them.
   */
  private async writeBatch(batch: Pending[]): Promise<void> {
    const o: Overlay = {
      docs: new Map(),
      spaces: new Map(),
      compacted: new Map(),
      seqs: new Map(),
      quota: new Map(),
      written: new Map(),
      ops: [],
      acks: [],
      envelopes: 0,
      bytes: 0,
    }
    try {
      await this.startDay()
      await this.load(batch)
      for (const p of batch) await this.decide(p, o)
      if (o.ops.length === 0) return // refusals and duplicates of stored envelopes only
      this.counterOps(o)
      await this.db.batch(o.ops, { sync: true })
    } catch (e) {
      this.fail(batch, e)
      return
    }
    this.apply(o)
    for (const { p, value } of o.acks) p.resolve(ok(value))
  }

  /** Reads the counters `batch` needs that the caches lack, in one round trip. */
  private async load(batch: Pending[]): Promise<void> {
    const tags = new Set<string>()
    const quotas = new Set<string>()
    const pairs = new Set<string>()
    const uploaders = new Set<string>()
    for (const p of batch) {
      if (!this.docs.has(p.tag)) tags.add(p.tag)
      if (!this.spaces.has(p.quota)) quotas.add(p.quota)
      if (!this.seqs.has(`${p.tag}!${p.uploader}`)) pairs.add(`${p.tag}!${p.uploader}`)
      if (!this.quota.has(p.uploader)) uploaders.add(p.uploader)
    }
    const keys = [
      ...[...tags].map((t) => `n!${t}`),
      ...[...quotas].map((q) => `b!${q}`),
      ...[...pairs].map((k) => `s!${k}`),
      ...[...uploaders].map((u) => `q!${this.day}!${u}`),
    ]
    if (keys.length === 0) return
    const values = await this.db.getMany(keys)
    let i = 0
    const next = (fallback: number): number => decodeNum(values[i++], fallback)
    for (const t of tags) this.docs.set(t, next(1))
    for (const q of quotas) this.spaces.set(q, next(0))
    for (const k of pairs) this.seqs.set(k, next(0))
    for (const u of uploaders) this.quota.set(u, next(0))
  }

  private async decide(p: Pending, o: Overlay): Promise<void> {
    const pair = `${p.tag}!${p.uploader}`
    const last = o.seqs.get(pair) ?? (this.seqs.get(pair) as number)
    const key = uKey(p.tag, p.uploader, p.seq)
    if (p.seq <= last) {
      const inBatch = o.written.get(key)
      if (inBatch !== undefined && equalBytes(inBatch.bytes, p.bytes)) {
        o.acks.push({ p, value: { index: inBatch.index, duplicate: true } }) // if it commits
        return
      }
      const stored = inBatch === undefined ? await this.storedIndex(key, p) : undefined
      if (stored !== undefined) return p.resolve(ok({ index: stored, duplicate: true }))
      return p.resolve(
        refuse(
          new ProtocolError(
            'PROTOCOL_VIOLATION',
            `replayed sequence number ${p.seq} (the last stored from this uploader is ${last})`,
          ),
        ),
      )
    }
    const size = p.bytes.length
    const freed = p.covers > 0 ? await this.compaction(p, o) : { keys: [], envelopes: 0, bytes: 0 }
    if (typeof freed === 'string')
      return p.resolve(refuse(new ProtocolError('PROTOCOL_VIOLATION', freed)))
    const used = (o.spaces.get(p.quota) ?? (this.spaces.get(p.quota) as number)) - freed.bytes
    if (used + size > this.maxSpace)
      return p.resolve(
        refuse(
          new StorageError(
            'STORAGE_FULL',
            `the space's mirror quota: ${used} of ${this.maxSpace} bytes used, ${size} more refused`,
          ),
        ),
      )
    const day = o.quota.get(p.uploader) ?? (this.quota.get(p.uploader) as number)
    if (day + size > this.maxDay)
      return p.resolve(
        refuse(
          new StorageError(
            'STORAGE_FULL',
            `the uploader's daily mirror quota: ${day} of ${this.maxDay} bytes used today, ${size} more refused`,
          ),
        ),
      )
    const index = o.docs.get(p.tag) ?? (this.docs.get(p.tag) as number)
    o.docs.set(p.tag, index + 1)
    o.spaces.set(p.quota, used + size)
    o.seqs.set(pair, p.seq)
    o.quota.set(p.uploader, day + size)
    o.written.set(key, { index, bytes: p.bytes })
    o.ops.push({ type: 'put', key: eKey(p.tag, index), value: p.bytes })
    o.ops.push({ type: 'put', key, value: encodeNum(index) })
    o.acks.push({ p, value: { index, duplicate: false } })
    o.envelopes += 1 - freed.envelopes
    o.bytes += size - freed.bytes
    if (p.covers === 0) return
    for (const k of freed.keys) o.ops.push({ type: 'del', key: k })
    o.ops.push({ type: 'put', key: `k!${p.tag}`, value: encodeNum(p.covers) })
    o.compacted.set(p.tag, p.covers)
  }

  /**
   * The stored envelopes a snapshot replaces (their keys, retry records and bytes), or why it cannot: it
   * covers envelopes the log does not hold, or no more than an earlier snapshot did.
   */
  private async compaction(
    p: Pending,
    o: Overlay,
  ): Promise<{ keys: string[]; envelopes: number; bytes: number } | string> {
    if (o.compacted.has(p.tag)) return 'another snapshot of this log is being stored'
    const next = this.docs.get(p.tag) as number
    if (p.covers >= next) return `a snapshot up to index ${p.covers}: the log's last is ${next - 1}`
    const from = decodeNum(await this.db.get(`k!${p.tag}`), 0)
    if (p.covers <= from) return `the log is compacted up to index ${from} already`
    const keys: string[] = []
    let bytes = 0
    let envelopes = 0
    for await (const [key, value] of this.db.iterator({
      gt: eKey(p.tag, from),
      lte: eKey(p.tag, p.covers),
    })) {
      keys.push(key)
      envelopes++
      bytes += value.length
      // its retry record goes too (a retry of it is then refused as a replay)
      const h = parseEnvelope(new Uint8Array(value.buffer, value.byteOffset, value.byteLength))
      if (h.ok) keys.push(uKey(p.tag, hex(h.value.header.uploader), h.value.header.seq))
    }
    return { keys, envelopes, bytes }
  }

  /** The index of the stored envelope `p` repeats byte for byte, if there is one. */
  private async storedIndex(key: string, p: Pending): Promise<number | undefined> {
    const index = await this.db.get(key)
    if (index === undefined) return undefined
    const n = decodeNum(index, 0)
    const stored = await this.db.get(eKey(p.tag, n))
    return stored !== undefined && equalBytes(stored, p.bytes) ? n : undefined
  }

  /** The counters the batch changed, written with its envelopes. */
  private counterOps(o: Overlay): void {
    const put = (key: string, n: number): number =>
      o.ops.push({ type: 'put', key, value: encodeNum(n) })
    for (const [t, next] of o.docs) put(`n!${t}`, next)
    for (const [q, bytes] of o.spaces) put(`b!${q}`, bytes)
    for (const [k, seq] of o.seqs) put(`s!${k}`, seq)
    for (const [u, n] of o.quota) put(`q!${this.day}!${u}`, n)
    put('t!envelopes', this.envelopes + o.envelopes)
    put('t!bytes', this.bytes + o.bytes)
  }

  private apply(o: Overlay): void {
    const max = this.cacheEntries
    for (const [t, next] of o.docs) remember(this.docs, t, next, max)
    for (const [q, bytes] of o.spaces) remember(this.spaces, q, bytes, max)
    for (const [k, seq] of o.seqs) remember(this.seqs, k, seq, max)
    for (const [u, n] of o.quota) remember(this.quota, u, n, max)
    this.envelopes += o.envelopes
    this.bytes += o.bytes
  }

  /**
   * A batch that could not be written: every put of it not answered yet fails, and the caches
   * forget what it touched, to be read again from the database (the truth: LevelDB writes a
   * batch whole or not at all). A batch whose fsync failed may still be in LevelDB's log and
   * appear after a restart; its uploader's retry is then answered as a duplicate.
   */
  private fail(batch: Pending[], e: unknown): void {
    log.warn(`a batch of ${batch.length} envelopes failed: ${String(e)}`)
    for (const p of batch) {
      this.docs.delete(p.tag)
      this.spaces.delete(p.quota)
      this.seqs.delete(`${p.tag}!${p.uploader}`)
      this.quota.delete(p.uploader)
    }
    const error = new StorageError('STORAGE_FAILED', 'the mirror could not store the envelope', e)
    // a promise answers once: puts refused or answered as duplicates already keep their answer
    for (const p of batch) p.resolve(err(error))
  }

  private async loadTotals(): Promise<void> {
    const [envelopes, bytes] = await this.db.getMany(['t!envelopes', 't!bytes'])
    this.envelopes = decodeNum(envelopes, 0)
    this.bytes = decodeNum(bytes, 0)
  }

  /** On a new UTC day: the quota starts again, and the earlier days' counters go. */
  private async startDay(): Promise<void> {
    const day = utcDay(this.now())
    if (day === this.day) return
    this.day = day
    this.quota.clear()
    await this.db.clear({ gte: 'q!', lt: `q!${day}` })
  }
}

/** Logs a refusal (never the envelope) and returns it. */
function refuse(error: OrreryError): Result<never, OrreryError> {
  log.debug(`refused an envelope: ${error.code}: ${error.message}`)
  return err(error)
}
