/**
 * One open document in this tab: the Automerge replica, its subscriptions and its flush. Its
 * parts: the sync states with remote peers and what they sent (peer-sync.ts, with admission.ts
 * for a governed document), other tabs' chunks (tab-inbox.ts), the space's rules for this tab's
 * own changes (local-rules.ts). It emits typed events (doc-handle-types.ts) that the repo
 * connects to storage meta, the tab bus and the views.
 *
 * Edits go straight into Automerge's open transaction (so reads see them at once) and are
 * committed together in the next macrotask by `flush()`, which also applies what arrived from
 * other tabs and peers, persists, notifies subscribers and wakes the sync sessions. Applying
 * remote changes costs Automerge time proportional to the document (~11 ms on 10,000 keys), so
 * everything that arrived during one task is applied in one call.
 */
import type { AutomergeDoc, Patch } from '../automerge'
import { describeError, OrreryError } from '../errors'
import type { DocId } from '../ids'
import { deleteAt, readAt, writeAt } from '../doc-ops'
import { Emitter } from '../emitter'
import { sameHeads } from '../heads'
import { scheduleTask } from '../schedule'
import { trace } from '../timings'
import type { DocStore } from '../storage/doc-store'
import type { StorageOp } from '../storage/types'
import { SubscriptionTree, type Listener, type SubscribeOptions } from '../subscriptions'
import { DocSubscribers } from './doc-subscribers'
import type { SyncPeer } from '../sync/peer'
import type { DecodedSyncMessage } from 'automerge-wasm'
import type { SignatureList } from '../sync/signature-list'
import type { DocHandleContext, DocHandleEvents, DocStatus } from './doc-handle-types'
import type { Confirmation, PeerSyncFacts } from './doc-state'
import { LocalRules } from './local-rules'
import { PeerSync } from './peer-sync'
import { actorsSignedBy } from './sigs'
import type { OpenedEnvelope } from '../mirror/envelope'
import {
  changesForMirror,
  mirrorHolds,
  snapshotOf,
  type MirrorSnapshot,
  type MirrorUpload,
} from '../mirror/batch'
import { TabInbox } from './tab-inbox'
import { DocPresence } from '../presence/doc-presence'
import { TextSession, type PatchGroup, type TextHost } from './doc-text'
import {
  cursorPosition,
  ensureText,
  findText,
  liftSpans,
  textCursor,
  textOps,
  type TextOps,
} from '../text/rich-text'

export type { DocHandleContext, DocHandleEvents, DocStatus }

/** the longest top-level text a document's cached view is written with (about six pages) */
export const VIEW_TEXT_LIMIT = 20_000

export class DocHandle {
  readonly events = new Emitter<DocHandleEvents>()
  private readonly subscribers = new DocSubscribers({
    read: (keys) => {
      this.beforeRead()
      return readAt(this.doc, keys)
    },
    closed: () => this.closed,
  })
  /** the per-peer side: sync states, inbound messages, admission (peer-sync.ts) */
  readonly peers: PeerSync
  /** who else has the document open, and where they are in its texts (doc-presence.ts) */
  readonly presence: DocPresence
  private readonly offGovernance: (() => void) | undefined
  private readonly tabs: TabInbox
  /** a change was made (committed) here since peers were last woken: the mirror uploads it */
  private madeHere = false
  private scheduled = false
  private unsynced: number
  private readonly rules: LocalRules
  /** heads at the end of the last flush: what "changed" is measured against */
  private flushedHeads: string[]
  /** patches taken out of Automerge before a read moved its diff cursor: the next flush's */
  private stashed: PatchGroup[] = []
  /** editors of this document's rich text (doc-text.ts) */
  private readonly texts = new Set<TextSession>()
  /** top-level keys that hold rich text (an editor opened it, or a splice went into it) */
  private readonly textKeys = new Set<string>()
  private closed = false

  constructor(
    readonly id: DocId,
    private doc: AutomergeDoc,
    private readonly store: DocStore,
    private readonly ctx: DocHandleContext,
  ) {
    this.doc.updateDiffCursor()
    this.flushedHeads = this.doc.getHeads()
    this.unsynced = ctx.unsynced ?? 0
    this.tabs = new TabInbox(id, store, ctx)
    this.rules = new LocalRules(id, store, ctx.governance, ctx.sigs, ctx.writes)
    this.rules.onSigned = () => {
      // the changes held back while they were being signed may go out now
      if (!this.closed) for (const peer of this.peers.attached) peer.wake(this.id)
    }
    this.rules.signMissing(this.doc)
    this.presence = new DocPresence(id, () => this.peers.attached, ctx.presenceTiming)
    this.peers = new PeerSync(
      {
        id,
        store,
        doc: () => this.doc,
        replaceDoc: (fresh) => {
          this.doc.free()
          this.doc = fresh
        },
        isEmpty: () =>
          this.flushedHeads.length === 0 &&
          this.doc.pendingOps() === 0 &&
          this.doc.getHeads().length === 0,
        flushSoon: () => this.scheduleSoon(),
        flushLater: () => this.schedule(),
        statusChanged: () => this.statusChanged(),
        heardFrom: (peer) => this.events.emit('synced', peer),
        attached: (peer) => this.presence.attached(peer),
        detached: (peer) => this.presence.detached(peer),
      },
      ctx,
      ctx.confirmation,
    )
    const sigStore = ctx.sigs
    if (sigStore !== undefined) store.sigRecords = () => sigStore.records()
    this.offGovernance = ctx.governance?.onChange?.(() => {
      if (this.peers.waiting) this.schedule()
    })
  }

  // ---- local reads and writes --------------------------------------------------------------

  read(keys: readonly string[]): unknown {
    this.assertOpen()
    this.beforeRead()
    return readAt(this.doc, keys)
  }

  write(keys: readonly string[], value: unknown): void {
    trace('write')
    // the top-level keys the write changes: a write at the root replaces all of them
    const value_ = value !== null && typeof value === 'object' ? value : {}
    const top =
      keys.length > 0 ? [keys[0] as string] : [...this.doc.keys('_root'), ...Object.keys(value_)]
    this.assertWritable(top)
    writeAt(this.doc, keys, value)
    this.schedule()
  }

  remove(keys: readonly string[]): void {
    this.assertWritable(keys.slice(0, 1))
    deleteAt(this.doc, keys)
    this.schedule()
  }

  /**
   * Calls `listener` with the current value (in a microtask) and after every change: in the flush
   * that made it, or (`deferred`) in a task after it, one value for several changes.
   */
  subscribe(keys: readonly string[], listener: Listener, opts?: SubscribeOptions): () => void {
    this.assertOpen()
    // Changes made before subscribing belong to the first value, not to a later notification.
    if (this.doc.pendingOps() > 0 || this.scheduled) this.flush()
    const unsubscribe = this.subscribers.add(keys, listener, opts)
    let live = true
    queueMicrotask(() => {
      if (live && !this.closed) SubscriptionTree.call(listener, this.read(keys))
    })
    return () => {
      live = false
      unsubscribe()
    }
  }

  /**
   * An editor's session on the rich text at `keys` (made on its first edit): it reads spans,
   * edits, and hears every other change to the text (doc-text.ts).
   */
  openText(keys: readonly string[]): TextSession {
    this.assertOpen()
    if (this.doc.pendingOps() > 0 || this.scheduled) this.flush()
    const session = new TextSession(this.textHost, keys)
    this.texts.add(session)
    if (keys.length === 1) this.textKeys.add(keys[0] as string)
    return session
  }

  /** Why this tab may not write under `rootKeys` now (NOT_A_MEMBER, READ_ONLY…), if it may not. */
  writeRefusal(rootKeys: readonly string[]): Error | undefined {
    try {
      this.assertWritable(rootKeys)
      return undefined
    } catch (e) {
      return e instanceof Error ? e : new Error(String(e))
    }
  }

  private readonly textHost: TextHost = {
    refusal: (keys) => this.writeRefusal(keys.slice(0, 1)),
    settle: () => this.beforeRead(),
    readSpans: (keys) => {
      const obj = findText(this.doc, keys)
      return obj === undefined ? [] : liftSpans(this.doc.spans(obj))
    },
    pending: () => this.stashed,
    edit: (keys, origin, fn) => this.editText(keys, origin, fn),
    cursor: (keys, index) => {
      const obj = findText(this.doc, keys)
      return obj === undefined ? undefined : textCursor(this.doc, obj, index)
    },
    position: (keys, cursor) => {
      const obj = findText(this.doc, keys)
      return obj === undefined ? undefined : cursorPosition(this.doc, obj, cursor)
    },
    closeSession: (session) => this.texts.delete(session),
  }

  /** One text edit as its own change, its patches taken now so its editor can tell them apart. */
  private editText(
    keys: readonly string[],
    origin: TextSession,
    fn: (ops: TextOps) => void,
  ): Patch[] {
    trace('write')
    this.assertWritable(keys.slice(0, 1))
    this.beforeRead()
    try {
      fn(textOps(this.doc, ensureText(this.doc, keys)))
    } catch (e) {
      // what `fn` did before it threw is committed too: the document never keeps unsigned edits
      this.commitText(origin)
      throw e
    }
    return this.commitText(origin)
  }

  private commitText(origin: TextSession): Patch[] {
    this.commitLocal()
    const patches = this.doc.diffIncremental()
    if (patches.length > 0) this.stashed.push({ patches, origin })
    this.schedule()
    return patches
  }

  /** Resolves once every change made so far is on disk. */
  async whenSaved(): Promise<void> {
    if (this.doc.pendingOps() > 0 || this.scheduled) this.flush()
    await this.rules.whenSigned()
    await this.store.whenSaved()
  }

  /**
   * The page is going away: commits (signed) and applies what is pending, wakes the peers, and
   * returns every write still queued so the caller can hand them to the disk before the page is
   * gone. Other tabs of the profile get the unsaved chunks at once and store them too.
   */
  flushNow(): StorageOp[] {
    if (this.closed) return []
    this.flush()
    this.rules.releaseHeld()
    return this.tabs.handOver()
  }

  /** Keys a last-moment write put on disk (see `flushNow`). */
  storedNow(ops: readonly StorageOp[]): void {
    this.store.stored(ops)
  }

  get heads(): string[] {
    this.commitLocal()
    return this.doc.getHeads()
  }

  status(): DocStatus {
    return {
      id: this.id,
      heads: this.closed ? [] : [...this.flushedHeads],
      unsaved: this.store.pending,
      saveError: this.store.error === undefined ? undefined : describeError(this.store.error),
      peers: [...this.peers.attached].filter((p) => p.mirror !== true).map((p) => p.remotePeer),
      lastSync: this.peers.lastHeard(),
      unsynced: this.unsynced,
    }
  }

  /** What the peers told this document, for its sync state (see doc-state.ts). */
  syncFacts(): {
    heads: string[]
    peers: PeerSyncFacts[]
    confirmation: Confirmation | undefined
  } {
    return {
      heads: this.closed ? [] : [...this.flushedHeads],
      peers: this.peers.facts(),
      confirmation: this.peers.ledger.confirmation,
    }
  }

  /** The whole document as bytes (for tests and export). */
  save(): Uint8Array {
    this.flushLocal()
    return this.doc.save()
  }

  // ---- input from other tabs and peers -----------------------------------------------------

  /** A chunk another tab of this profile stored, or sent as it went away (tab-inbox.ts). */
  receiveTabChunk(data: Uint8Array, sigs?: Uint8Array, unstored = false): void {
    if (this.closed) return
    this.tabs.receive(data, sigs, unstored)
    this.schedule()
  }

  /** Applies what other tabs of the profile stored that never reached this one. */
  async catchUp(): Promise<number> {
    if (this.closed) return 0
    const n = await this.tabs.catchUp()
    if (n > 0) this.schedule()
    return n
  }

  /** Starts syncing with a peer; `start` sends our first message (not when answering theirs). */
  attachPeer(peer: SyncPeer, start = true): void {
    if (!this.closed) this.peers.attach(peer, start)
  }

  /** A decoded sync message from a peer; applied with everything else in the next flush. */
  receiveSync(peer: SyncPeer, msg: DecodedSyncMessage, sigs?: SignatureList): void {
    if (!this.closed) this.peers.receive(peer, msg, sigs)
  }

  /** The next sync message for a peer, or null when it has everything we know it needs. */
  generateSyncMessage(peer: SyncPeer): Uint8Array | null {
    if (this.closed || !this.peers.has(peer)) return null
    if (this.doc.pendingOps() > 0) this.flush()
    // a change of ours still waits for its signature: every peer is woken once it has one
    if (this.rules.signing) return null
    return this.peers.generate(peer)
  }

  /**
   * The changes a mirror holding the history of `have` lacks, as envelopes (mirror/batch.ts),
   * all or only this tab's own (`own`); 'signing' while a change of ours waits for its signature
   * (the mirror's seat is woken once it has one), undefined once closed.
   */
  forMirror(
    have: readonly string[],
    sent: ReadonlySet<string>,
    own: boolean,
  ): MirrorUpload | 'signing' | undefined {
    if (this.closed) return undefined
    if (this.doc.pendingOps() > 0) this.flush()
    if (this.rules.signing) return 'signing'
    return changesForMirror(
      this.doc,
      have,
      { sigs: this.ctx.sigs, writeKey: this.ctx.writes?.key() },
      { sent, ...(own ? { ownActor: this.doc.getActorId() } : {}) },
    )
  }

  /** What the mirror holds after a pull (mirror/batch.ts `mirrorHolds`). */
  mirrorHolds(
    have: readonly string[],
    opened: readonly OpenedEnvelope[],
    accepted: ReadonlySet<string>,
  ): string[] {
    return mirrorHolds(this.doc, have, opened, accepted)
  }

  /**
   * The whole document for a mirror's snapshot (mirror/batch.ts `snapshotOf`): its saved bytes,
   * the signatures this tab keeps for its changes, and its heads. As `forMirror`, 'signing' or
   * undefined.
   */
  snapshotForMirror(): MirrorSnapshot | 'signing' | undefined {
    if (this.closed) return undefined
    if (this.doc.pendingOps() > 0) this.flush()
    if (this.rules.signing) return 'signing'
    return snapshotOf(this.doc, this.ctx.sigs)
  }

  /** For removing a member: the highest sequence number of each actor whose changes they signed. */
  actorsOf(did: string): Record<string, number> {
    const store = this.ctx.sigs
    if (store === undefined) return {}
    this.flushLocal()
    return actorsSignedBy(this.doc, store, did)
  }

  get governed(): boolean {
    return this.ctx.governance !== undefined
  }

  private setUnsynced(n: number): void {
    if (n === this.unsynced) return
    this.unsynced = n
    this.events.emit('unsynced', n)
    this.statusChanged()
  }

  private statusChanged(): void {
    this.events.emit('status', this)
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.rules.releaseHeld() // signed when the document next opens (see LocalRules.signMissing)
    this.presence.close() // peers hear that this tab left
    this.closed = true
    this.texts.clear()
    this.offGovernance?.()
    this.peers.detachAll()
    this.store.close()
    this.doc.free()
  }

  /** bytes of this document in storage (as this tab knows them) */
  get storedBytes(): number {
    return this.store.bytes
  }

  get isClosed(): boolean {
    return this.closed
  }

  /**
   * Whether the whole document may be read for its cached view: not while a top-level rich text
   * is longer than VIEW_TEXT_LIMIT characters (view-cache.ts). Only texts this tab has seen
   * (opened, or written into) are checked: looking for others would cost what it saves.
   */
  viewable(): boolean {
    if (this.closed) return false
    for (const key of this.textKeys) {
      const obj = findText(this.doc, [key])
      if (obj !== undefined && this.doc.length(obj) > VIEW_TEXT_LIMIT) return false
    }
    return true
  }

  // ---- the flush -----------------------------------------------------------------------------

  /**
   * For a peer's message: flushed at the end of the current task (the message's own), so the
   * answer goes out without waiting behind the tasks queued meanwhile. Messages arrive one per
   * task and each already carries a batch of changes; local edits keep `schedule`, which makes
   * the edits of one task one change.
   */
  private scheduleSoon(): void {
    if (this.scheduled || this.closed) return
    this.scheduled = true
    queueMicrotask(() => {
      if (this.scheduled) this.flush()
    })
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return
    this.scheduled = true
    scheduleTask(() => this.flush())
  }

  /**
   * Commits this tab's pending edits as one change, signed in a governed document. Automerge
   * also commits its open transaction on its own in `materialize` (reading an object),
   * `getHeads`, `save…` and `diffIncremental`; a change committed that way is never signed, and
   * every peer of the space refuses it and cuts the sync session. So this runs before those
   * whenever local edits may be pending.
   */
  private commitLocal(): void {
    if (this.doc.pendingOps() === 0) return
    const hash = this.doc.commit()
    if (hash === null) return
    this.madeHere = true
    this.setUnsynced(this.unsynced + 1)
    this.rules.sign(hash)
  }

  /**
   * Before reading (readAt may materialize an object): Automerge's `materialize` also moves the
   * diff cursor, so the changes since the last flush would never reach the subscribers. Commits
   * (signed) and keeps their patches for the next flush.
   */
  private beforeRead(): void {
    this.commitLocal()
    const patches = this.doc.diffIncremental()
    if (patches.length === 0) return
    this.stashed.push({ patches })
    this.schedule()
  }

  private flushLocal(): boolean {
    this.commitLocal()
    const chunk = this.doc.saveIncremental()
    if (chunk.length === 0) return false
    this.rules.storeChunk(chunk)
    return true
  }

  /** Commits, applies, persists, notifies and wakes peers. Runs at most once per task. */
  flush(): void {
    trace('flush')
    this.scheduled = false
    if (this.closed) return
    // Not `getHeads()` here: it commits Automerge's open transaction, which would hide this
    // tab's own edits from the comparison below (and leave peers un-woken).
    const replyTo = new Set<SyncPeer>()
    const wasEmpty = this.flushedHeads.length === 0
    for (let round = 0; round < 8; round++) {
      this.flushLocal()
      const fromTabs = this.tabs.apply(this.doc)
      const fromPeers = this.peers.apply(replyTo)
      let groups: PatchGroup[]
      if (round === 0 && wasEmpty && (fromTabs || fromPeers)) {
        // A whole document arrived into an empty one (a first sync): everything changed, and
        // diffing 10,000 keys only to learn that costs tens of milliseconds.
        this.doc.updateDiffCursor()
        this.stashed = []
        groups = [{ patches: [{ action: 'put', path: [], value: {} } as unknown as Patch] }]
      } else {
        groups = [...this.stashed.splice(0), { patches: this.doc.diffIncremental() }]
      }
      const patches = groups.length === 1 ? groups[0]!.patches : groups.flatMap((g) => g.patches)
      for (const p of patches)
        if (p.action === 'splice' && p.path.length === 2) this.textKeys.add(String(p.path[0]))
      if (fromTabs || fromPeers) this.rules.repair(this.doc, patches)
      if (patches.length > 0) {
        this.subscribers.notify(patches)
        for (const session of this.texts) session.deliver(groups)
      }
      // subscribers may have written (pending, or stashed by a later subscriber's read)
      if (this.doc.pendingOps() === 0 && this.stashed.length === 0) break
    }
    this.flushLocal()
    const madeHere = this.madeHere
    this.madeHere = false
    const heads = this.doc.getHeads()
    const changed = !sameHeads(this.flushedHeads, heads)
    this.flushedHeads = heads
    for (const peer of changed ? this.peers.attached : replyTo) peer.wake(this.id, madeHere)
    // a peer that answered and now has everything of ours: nothing is waiting any more
    if (this.unsynced > 0)
      for (const peer of replyTo) if (this.peers.hasOurChanges(peer)) this.setUnsynced(0)
    const seen = this.peers.flushed(heads, replyTo)
    if (seen.confirmed !== undefined) this.events.emit('confirmed', seen.confirmed)
    if (seen.changed || changed) this.statusChanged()
    if (changed) this.events.emit('changed', this)
    trace('flushed')
    if (this.store.wantsCompaction()) this.store.saveSnapshot(this.doc.save())
  }

  private assertWritable(rootKeys: readonly string[]): void {
    this.assertOpen()
    this.rules.assertWritable(rootKeys)
  }

  private assertOpen(): void {
    if (this.closed) throw new OrreryError('DOC_CLOSED', `document ${this.id} is closed`)
  }
}
