/**
 * A tab's sync with an always-on mirror (issue 16): every open document it holds a key for is
 * uploaded as encrypted envelopes (envelope.ts) and pulled back from the mirror's log, so two
 * people who are never online together still converge, and a link opened while every member
 * sleeps shows the document.
 *
 * Per document (a `DocMirror`, the mirror's seat among the document's peers):
 *   pull    the envelopes filed under the document's tag since the last index read, opened with
 *           its read key and handed to the document as a peer's changes would be: its own rules
 *           judge them (a change not signed by a member, or not vouched for by the writer, is
 *           refused); an envelope that does not open (a forgery, another key) is skipped
 *   upload  the changes the mirror does not hold (batch.ts): this tab's own once the document
 *           has been quiet a moment after a change made here (the document wakes its peers, this
 *           one too), others' with the next full run; what the mirror acknowledged is kept, so
 *           edits made offline or before a reload go up later
 * A document of a space lives in the log its space's member list names (roster.ts): the mirror
 * takes envelopes there from the list's members only. A newcomer the list does not name yet is
 * let in on its invite's pass (kept at join, `['mirror-admission', roster]`) when the mirror
 * first answers NOT_A_MEMBER.
 * A run pulls before it uploads (what another member uploaded is not sent again), one run per
 * document at a time, again every `pullEveryMs` while the document is open and after a failure
 * (backing off). Sequence numbers are per (uploader, document) and only have to rise: the
 * clock's milliseconds, or one more than the last, so two tabs of one profile rarely collide,
 * and a collision (PROTOCOL_VIOLATION) is retried with the next number.
 */
import { bytesToHex, equalBytes, fromUtf8, utf8 } from '../bytes'
import { describeError, type OrreryError, type Result } from '../errors'
import { backgroundTask } from '../schedule'
import type { Identity } from '../identity'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import type { DocHandle } from '../repo/doc-handle'
import type { Repo } from '../repo/repo'
import type { StorageAdapter } from '../storage/types'
import type { SyncPeer } from '../sync/peer'
import { fromEnvelopes } from './batch'
import type { PutAnswer } from './client'
import {
  DEFAULT_SNAPSHOT_LIMITS,
  due,
  tally,
  uploadSnapshot,
  type LogTally,
  type SnapshotLimits,
} from './compaction'
import {
  mirrorDocTag,
  NO_ROSTER,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  type OpenedEnvelope,
} from './envelope'
import type { PageEntry } from './protocol'

const log = createLogger('mirror-sync')

/** What the tab needs of a mirror (MirrorClient). */
export interface MirrorTransport {
  put(envelope: Uint8Array): Promise<Result<PutAnswer>>
  sinceAll(docTag: Uint8Array, after: number, roster?: Uint8Array): Promise<Result<PageEntry[]>>
  admit(admission: Uint8Array): Promise<Result<void>>
  putRoster(roster: Uint8Array): Promise<Result<void>>
}

/** Where a document lives on the mirror (Spaces.mirrorPlace). */
export type MirrorPlace = { roster: Uint8Array; epoch: number } | 'unknown' | undefined

export interface MirrorSyncOptions {
  repo: Repo
  storage: StorageAdapter
  /** the identity uploads are signed with (undefined while it loads: nothing is uploaded) */
  identity: () => Identity | undefined
  client: MirrorTransport
  /**
   * a document's space's member-list id and key epoch; undefined for a document of no space,
   * 'unknown' while its space's id on the mirror is not known (it is not synced meanwhile)
   */
  place?: (id: DocId) => MirrorPlace
  /**
   * a free document's list and an admission of `uploader` to its log, made with the document's
   * write secret (free-doc.ts); undefined where this tab holds none
   */
  freeDocEntry?: (
    id: DocId,
    uploader: Uint8Array,
  ) => { roster: Uint8Array; admission: Uint8Array } | undefined
  /** while a document is open the mirror is asked for news this often (ms) */
  pullEveryMs?: number
  /** changes go up once the document has been quiet this long, together (ms) */
  uploadDelayMs?: number
  /** and at the latest this long after the first of them, however long the burst (ms) */
  uploadMaxDelayMs?: number
  /** a log is compacted past this many envelopes or bytes after its last snapshot */
  snapshotAfter?: SnapshotLimits
  /** the first retry after a failed request (ms; doubling up to pullEveryMs) */
  retryMs?: number
}

/** What a mirror confirmed of a document. */
export interface MirrorConfirmation {
  /** ms since the epoch */
  at: number
  /** our heads the mirror holds (every change up to them) */
  heads: string[]
}

/** A document's log on the mirror, and the epoch its envelopes name. */
interface Log {
  tag: Uint8Array
  roster: Uint8Array
  epoch: number
}

/** What is kept per document (storage key ['mirror-doc', id]). */
interface Kept {
  /** the document's log on the mirror (its roster's hex and its tag's): another key, another log */
  tag: string
  /** the last index read from the mirror */
  after: number
  /** heads whose history the mirror holds */
  have: string[]
  mirrored?: MirrorConfirmation
  /** what the log holds after its last snapshot, as read (compaction.ts) */
  tally?: LogTally
}

const DEFAULT_PULL_EVERY_MS = 15_000
const DEFAULT_UPLOAD_DELAY_MS = 250
const DEFAULT_UPLOAD_MAX_DELAY_MS = 750
const DEFAULT_RETRY_MS = 500
/** a document still loading is looked at again after this (ms) */
const OPENING_POLL_MS = 20
/** a document without a key, or whose space's id on the mirror is not known yet: looked at again */
const UNPLACED_POLL_MS = 1000

export class MirrorSync {
  private readonly docs = new Map<DocId, DocMirror>()
  private offKeyed: (() => void) | undefined
  private stopped = false
  private seqs = new Map<string, number>()
  private readonly listeners = new Set<(id: DocId) => void>()

  constructor(readonly opts: MirrorSyncOptions) {}

  start(): void {
    this.stopped = false
    // a document opened (with its key) or re-keyed: its seat is taken, and a run starts
    this.offKeyed = this.opts.repo.events.on('doc-keyed', ({ id }) => this.track(id))
    for (const h of this.opts.repo.openDocs()) this.track(h.id)
  }

  stop(): void {
    this.stopped = true
    this.offKeyed?.()
    for (const d of this.docs.values()) d.close()
    this.docs.clear()
  }

  /** What the mirror confirmed of a document (its heads, when). */
  confirmation(id: DocId): MirrorConfirmation | undefined {
    return this.docs.get(id)?.kept?.mirrored
  }

  /** The last failure talking to the mirror about a document, while it lasts. */
  lastError(id: DocId): OrreryError | undefined {
    return this.docs.get(id)?.error
  }

  /** Whether the mirror answered a pull of the document since it opened here. */
  answered(id: DocId): boolean {
    return this.docs.get(id)?.answered === true
  }

  /** Called when what `confirmation` or `answered` say of a document changed. */
  onChange(f: (id: DocId) => void): () => void {
    this.listeners.add(f)
    return () => this.listeners.delete(f)
  }

  /**
   * Uploads every open document's changes now, without the batching delay: the page is being
   * hidden and may never run again (a closed tab, a phone discarding it).
   */
  uploadNow(): void {
    for (const d of this.docs.values()) d.soon(0, false, true)
  }

  /** Runs a document now and resolves when that run (or the one under way, then this) ends. */
  async syncNow(id: DocId): Promise<void> {
    this.track(id)
    await this.docs.get(id)?.runNow()
  }

  private track(id: DocId): void {
    if (this.stopped) return
    let d = this.docs.get(id)
    if (d === undefined) this.docs.set(id, (d = new DocMirror(id, this)))
    d.soon(0, true)
  }

  /** @internal the next sequence number for an uploader's document tag */
  nextSeq(tag: string): number {
    const seq = Math.max((this.seqs.get(tag) ?? 0) + 1, Date.now())
    this.seqs.set(tag, seq)
    return seq
  }

  /** @internal */
  changed(id: DocId): void {
    for (const f of this.listeners) f(id)
  }

  /** @internal a closed document's seat is given up */
  drop(id: DocId): void {
    this.docs.get(id)?.close()
    this.docs.delete(id)
  }
}

class DocMirror implements SyncPeer {
  readonly key: string
  readonly remotePeer = 'mirror'
  readonly localPeer = 'mirror'
  readonly identity = undefined
  readonly initiator = false
  readonly mirror = true
  kept: Kept | undefined
  error: OrreryError | undefined
  answered = false
  private timer: ReturnType<typeof setTimeout> | undefined
  private running: Promise<void> | undefined
  private again = false
  private failures = 0
  /** the mirror refused this tab's snapshot (not a writer of the space): no more tries */
  private compactRefused = false
  /** the mirror's list of the space does not name this tab's identity (NOT_A_MEMBER) */
  private notListed = false
  private faulted: OrreryError | undefined
  private closed = false
  /** when the next run is due, if sooner than usual (ms) */
  private nextIn: number | undefined
  /** woken during a run by `uploadNow`: the next run starts at once */
  private urgent = false
  /** when the timer's run is due (ms since the epoch) */
  private dueAt = 0
  /** the next run pulls first and uploads others' changes too */
  private fullDue = true
  private lastFullAt = 0
  /** changes uploaded since `have` last moved (hashes; not kept across reloads) */
  private readonly sent = new Set<string>()
  /** the document's heads at the last upload: an own-changes run looks at what came since */
  private seen: string[] | undefined
  /** changes from others arrived that the mirror may lack (since the last full run) */
  private othersPending = false
  /** the first change not uploaded yet, and the last (ms since the epoch): see `settling` */
  private burstFrom: number | undefined
  private lastWake = 0
  /** `uploadNow` asked for this run: it does not wait for the document to be quiet */
  private hurry = false
  /**
   * the sequence numbers of the envelopes this seat put since its last pull: a pull skips them
   * unopened (their changes are this tab's own), so a live exchange does not read back and
   * verify every envelope it sent
   */
  private readonly ownSeqs = new Set<number>()

  constructor(
    readonly id: DocId,
    private readonly owner: MirrorSync,
  ) {
    this.key = `mirror:${id}`
  }

  // ---- the document's side (SyncPeer) -------------------------------------------------------

  sendInterest(): void {}

  /**
   * The document changed. Made here: upload once it is quiet for a moment. Only received (from
   * a peer, another tab): their authors upload them; what they did not goes up with the next
   * full run, so a tab receiving a burst does not spend its time looking for its own changes.
   */
  wake(_id?: DocId, madeHere = true): void {
    if (!madeHere) {
      this.othersPending = true
      return
    }
    this.lastWake = Date.now()
    this.burstFrom ??= this.lastWake
    this.soon(Math.max(0, this.settling()))
  }

  /**
   * How long an upload-only run should still wait: a burst of changes (typing, a script's
   * writes) goes up in one batch once the document is quiet for `uploadDelayMs`, or
   * `uploadMaxDelayMs` after its first change, so uploading does not compete with the burst.
   */
  private settling(): number {
    if (this.burstFrom === undefined || this.hurry) return 0
    const { uploadDelayMs = DEFAULT_UPLOAD_DELAY_MS, uploadMaxDelayMs } = this.owner.opts
    const max = uploadMaxDelayMs ?? Math.max(uploadDelayMs, DEFAULT_UPLOAD_MAX_DELAY_MS)
    const now = Date.now()
    return Math.min(this.lastWake + uploadDelayMs - now, this.burstFrom + max - now)
  }

  /** The document's rules refused what the mirror gave (admission cut this seat). */
  fault(error: OrreryError): void {
    this.faulted = error
    log.warn(`${this.id.slice(0, 6)}…: the mirror's changes refused: ${error.message}`)
  }

  // ---- runs ---------------------------------------------------------------------------------

  /** A run in `ms` (unless one is due sooner); `full`: it pulls and uploads others' changes too. */
  soon(ms: number, full = false, urgent = false): void {
    if (this.closed) return
    if (full) this.fullDue = true
    if (urgent) this.hurry = true
    if (this.running !== undefined) {
      this.again = true
      this.urgent ||= urgent
      return
    }
    const at = Date.now() + ms
    if (this.timer !== undefined && this.dueAt <= at) return // one is due sooner
    clearTimeout(this.timer)
    this.dueAt = at
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.runNow()
    }, ms)
  }

  async runNow(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.running !== undefined) {
      this.again = true
      await this.running
      return
    }
    this.running = this.run().finally(() => (this.running = undefined))
    await this.running
    if (this.closed) return
    const { pullEveryMs = DEFAULT_PULL_EVERY_MS, retryMs = DEFAULT_RETRY_MS } = this.owner.opts
    if (this.again || this.nextIn !== undefined) {
      // woken during the run: the next one batches what came meanwhile and after
      const delay = this.urgent ? 0 : (this.owner.opts.uploadDelayMs ?? DEFAULT_UPLOAD_DELAY_MS)
      this.urgent = false
      this.soon(this.again ? delay : (this.nextIn ?? 0))
      this.again = false
      this.nextIn = undefined
    } else if (this.error !== undefined) {
      this.soon(Math.min(pullEveryMs, retryMs * 2 ** Math.min(this.failures - 1, 16)), true)
    } else this.soon(Math.max(0, this.lastFullAt + pullEveryMs - Date.now()), true)
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
  }

  private async run(): Promise<void> {
    const { repo } = this.owner.opts
    const h = repo.get(this.id)
    const key = repo.keys.get(this.id)
    if (h === undefined && repo.openDocIds().includes(this.id)) {
      this.nextIn = OPENING_POLL_MS // still loading from storage
      return
    }
    if (h === undefined) return this.owner.drop(this.id) // closed: a new seat when it reopens
    // (the next run is scheduled: without it, one would follow at once, again and again)
    if (key === undefined) return void (this.nextIn = UNPLACED_POLL_MS)
    const place = this.owner.opts.place?.(this.id)
    // its space's id on the mirror comes with the space's document
    if (place === 'unknown') return void (this.nextIn = UNPLACED_POLL_MS)
    const where: Log = {
      tag: mirrorDocTag(this.id, key),
      roster: place?.roster ?? NO_ROSTER,
      epoch: place?.epoch ?? 0,
    }
    const kept = await this.load(bytesToHex(where.roster) + bytesToHex(where.tag))
    const failed = (e: OrreryError): void => {
      if (this.error === undefined)
        log.info(`${this.id.slice(0, 6)}…: the mirror: ${e.code} ${e.message}`)
      this.error = e
      this.failures++
    }
    h.attachPeer(this, false) // (again after a re-key or a refusal detached it)
    // a run after a change here uploads this tab's own changes at once; a full one (opening,
    // every pullEveryMs, after a failure) pulls first, then uploads whatever the mirror still
    // lacks (changes this tab received that their authors did not upload)
    const full = this.fullDue || !this.answered || this.error !== undefined
    if (!full) {
      const wait = this.settling()
      if (wait > 0) return void (this.nextIn = wait) // changes are still coming
    }
    // the first pull is what a person waits for; later runs step aside for the page's own work
    // (the page going away: no step waits)
    const patient = this.answered && !this.hurry
    this.fullDue = false
    this.hurry = false
    this.burstFrom = undefined
    if (full) {
      this.lastFullAt = Date.now()
      const pulled = await this.pull(h, where, key, kept, patient)
      if (!pulled.ok) return failed(pulled.error)
      if (!this.answered) {
        this.answered = true
        this.owner.changed(this.id)
      }
    }
    const pushed = await this.upload(h, where, key, kept, full, patient)
    if (!pushed.ok) return failed(pushed.error)
    if (full) await this.compact(h, where, key, kept)
    this.error = undefined
    this.failures = 0
  }

  /** A snapshot of the log when it grew long since its last one (compaction.ts). */
  private async compact(h: DocHandle, where: Log, key: Uint8Array, kept: Kept): Promise<void> {
    const identity = this.owner.opts.identity()
    const limits = this.owner.opts.snapshotAfter ?? DEFAULT_SNAPSHOT_LIMITS
    if (identity === undefined || this.compactRefused || equalBytes(where.roster, NO_ROSTER)) return
    if (!due(kept.tally, limits)) return
    const done = await uploadSnapshot({
      handle: h,
      docId: this.id,
      readKey: key,
      roster: where.roster,
      epoch: where.epoch,
      uploader: identity,
      seq: this.owner.nextSeq(kept.tag),
      covers: kept.after,
      put: (e) => this.owner.opts.client.put(e),
    })
    if (done.ok) {
      if (done.value !== 'done') return
      log.info(`${this.id.slice(0, 6)}…: its log compacted up to ${kept.after}`)
      kept.tally = { envelopes: 0, bytes: 0 }
      return this.save(kept)
    }
    if (done.error.code === 'NOT_ALLOWED') this.compactRefused = true
    log.info(`${this.id.slice(0, 6)}…: no snapshot taken: ${done.error.message}`)
  }

  /** Everything the mirror holds since the last index read, judged by the document. */
  private async pull(
    h: DocHandle,
    where: Log,
    key: Uint8Array,
    kept: Kept,
    patient: boolean,
  ): Promise<Result<void>> {
    const page = await this.owner.opts.client.sinceAll(where.tag, kept.after, where.roster)
    if (!page.ok) return page
    if (page.value.length === 0) return { ok: true, value: undefined }
    const opened: OpenedEnvelope[] = []
    const each: (OpenedEnvelope | undefined)[] = []
    const me = this.owner.opts.identity()?.publicKey
    for (const entry of page.value) {
      if (me !== undefined && this.isOwn(entry.envelope, me)) {
        each.push(undefined)
        continue
      }
      if (patient) await backgroundTask()
      const e = openEnvelope(entry.envelope, this.id, key)
      if (e.ok) opened.push(e.value)
      else log.warn(`${this.id.slice(0, 6)}…: envelope ${entry.index} skipped: ${e.error.message}`)
      each.push(e.ok ? e.value : undefined)
    }
    this.ownSeqs.clear() // (what the pull passed does not come again)
    kept.tally = tally(kept.tally, page.value, each)
    const hashes = await this.give(h, opened)
    kept.after = (page.value.at(-1) as PageEntry).index
    if (!h.isClosed) kept.have = h.mirrorHolds(kept.have, opened, new Set(hashes))
    await this.save(kept)
    return { ok: true, value: undefined }
  }

  /** An envelope this seat put since its last pull (by its uploader and sequence number). */
  private isOwn(envelope: Uint8Array, me: Uint8Array): boolean {
    if (this.ownSeqs.size === 0) return false
    const parsed = parseEnvelope(envelope)
    return (
      parsed.ok &&
      parsed.value.header.covers === 0 &&
      this.ownSeqs.has(parsed.value.header.seq) &&
      equalBytes(parsed.value.header.uploader, me)
    )
  }

  /**
   * Hands opened envelopes to the document, all in one batch; if its rules refuse the batch,
   * one envelope at a time, so that one bad envelope costs only itself. Returns the hashes of
   * the changes handed over that were not refused.
   */
  private async give(h: DocHandle, opened: OpenedEnvelope[]): Promise<string[]> {
    if (opened.length === 0) return []
    const all = await this.deliver(h, opened)
    if (all !== undefined) return all
    const hashes: string[] = []
    for (const e of opened) hashes.push(...((await this.deliver(h, [e])) ?? []))
    return hashes
  }

  private async deliver(h: DocHandle, opened: OpenedEnvelope[]): Promise<string[] | undefined> {
    const { message, sigs, hashes } = fromEnvelopes(opened)
    this.faulted = undefined
    h.attachPeer(this, false)
    h.receiveSync(this, message, sigs)
    await new Promise((r) => setTimeout(r, 0)) // the document flushes within that task
    return this.faulted === undefined ? hashes : undefined
  }

  /**
   * Uploads what the mirror does not hold (only this tab's own changes unless `full`). Once it
   * holds everything, `have` moves to the heads and the mirror confirms them.
   */
  private async upload(
    h: DocHandle,
    where: Log,
    key: Uint8Array,
    kept: Kept,
    full: boolean,
    patient: boolean,
  ): Promise<Result<void>> {
    // a document with no member list (of no space, made before write keys): mirrors take no
    // uploads into such a log; what is there is still read
    if (equalBytes(where.roster, NO_ROSTER)) return { ok: true, value: undefined }
    if (patient) await backgroundTask()
    const identity = this.owner.opts.identity()
    if (identity === undefined) return { ok: true, value: undefined }
    // not on the space's list (a share link's reader, a newcomer not listed yet): no upload
    // until the next full run asks again; the pulls go on
    if (this.notListed && !full) return { ok: true, value: undefined }
    this.notListed = false
    // an own-changes run looks only at what came since the last run (cheap however long the
    // document's history since `have` grew); a full one at everything since `have`
    const up = h.forMirror(full ? kept.have : (this.seen ?? kept.have), this.sent, !full)
    if (up === 'signing' || up === undefined) return { ok: true, value: undefined } // woken later
    const tagHex = kept.tag
    let at = 0
    let admitted = false
    for (const changes of up.envelopes) {
      let answer: Result<PutAnswer> | undefined
      for (let attempt = 0; attempt < 3; attempt++) {
        if (patient) await backgroundTask()
        const seq = this.owner.nextSeq(tagHex)
        const envelope = sealEnvelope({
          docId: this.id,
          readKey: key,
          roster: where.roster,
          epoch: where.epoch,
          uploader: identity,
          seq,
          changes,
        })
        answer = await this.owner.opts.client.put(envelope)
        // not on the space's list (yet): once, the invite's pass if this tab joined with one
        if (!answer.ok && answer.error.code === 'NOT_A_MEMBER' && !admitted) {
          admitted = true
          const admit = await this.admit(where.roster, identity)
          if (admit?.ok === true) answer = await this.owner.opts.client.put(envelope)
          // (the mirror out of reach: a failed run, tried again soon, not "not listed")
          else if (admit?.error.code === 'PEER_UNREACHABLE') return admit
        }
        if (answer.ok) this.ownSeqs.add(seq)
        // another tab of this profile took the number: the next one
        if (answer.ok || answer.error.code !== 'PROTOCOL_VIOLATION') break
      }
      if (answer?.ok === false && answer.error.code === 'NOT_A_MEMBER') {
        if (!this.notListed) log.info(`${this.id.slice(0, 6)}…: not on the space's list: no upload`)
        this.notListed = true
        return { ok: true, value: undefined }
      }
      if (answer !== undefined && !answer.ok) return answer
      for (const hash of up.hashes.slice(at, (at += changes.length))) this.sent.add(hash)
    }
    if (up.envelopes.length > 0)
      log.debug(`${this.id.slice(0, 6)}…: ${at} changes up in ${up.envelopes.length}`)
    this.seen = up.heads
    if (up.rest > 0) this.othersPending = true
    // others' changes the mirror may lack: the next full run's (it pulls first)
    if (this.othersPending && !(full && up.rest === 0)) return { ok: true, value: undefined }
    this.othersPending = false
    const moved = !sameSet(kept.have, up.heads)
    kept.have = up.heads
    this.sent.clear()
    if (up.heads.length > 0 && !sameSet(kept.mirrored?.heads ?? [], up.heads)) {
      kept.mirrored = { at: Date.now(), heads: [...up.heads] }
      this.owner.changed(this.id)
    } else if (!moved) return { ok: true, value: undefined }
    await this.save(kept)
    return { ok: true, value: undefined }
  }

  /**
   * Hands the mirror the admission kept at join for this member list, if there is one; for a
   * free document, its list and an admission made with its write secret (free-doc.ts).
   */
  private async admit(roster: Uint8Array, uploader: Identity): Promise<Result<void> | undefined> {
    if (equalBytes(roster, NO_ROSTER)) return undefined
    const { client, storage, freeDocEntry } = this.owner.opts
    let admission: Uint8Array | undefined
    try {
      admission = await storage.load(['mirror-admission', bytesToHex(roster)])
    } catch (e) {
      log.warn(`${this.id.slice(0, 6)}…: its admission unreadable: ${describeError(e)}`)
    }
    const free = admission === undefined ? freeDocEntry?.(this.id, uploader.publicKey) : undefined
    if (free !== undefined) {
      // the first list the mirror gets is the one it keeps: a later one is refused, harmlessly
      const listed = await client.putRoster(free.roster)
      if (!listed.ok && listed.error.code === 'PEER_UNREACHABLE') return listed
      admission = free.admission
    }
    if (admission === undefined) return undefined
    const done = await client.admit(admission)
    if (done.ok) log.info(`${this.id.slice(0, 6)}…: admitted by the mirror on an invite`)
    else log.info(`${this.id.slice(0, 6)}…: the mirror refused the invite: ${done.error.message}`)
    return done
  }

  private async load(tag: string): Promise<Kept> {
    if (this.kept?.tag === tag) return this.kept
    // (a new key: what this seat remembered was of the old log)
    this.sent.clear()
    this.seen = undefined
    this.othersPending = false
    let kept: Kept | undefined
    try {
      const raw = await this.owner.opts.storage.load(['mirror-doc', this.id])
      const parsed = raw === undefined ? undefined : (JSON.parse(fromUtf8(raw)) as Kept)
      if (parsed?.tag === tag) kept = parsed
    } catch (e) {
      log.warn(`${this.id.slice(0, 6)}…: its mirror record unreadable: ${describeError(e)}`)
    }
    // another tag (a new key): a log of its own, uploaded from the start
    return (this.kept = kept ?? { tag, after: 0, have: [] })
  }

  private async save(kept: Kept): Promise<void> {
    try {
      await this.owner.opts.storage.save(['mirror-doc', this.id], utf8(JSON.stringify(kept)))
    } catch (e) {
      log.warn(`${this.id.slice(0, 6)}…: its mirror record not saved: ${describeError(e)}`)
    }
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}
