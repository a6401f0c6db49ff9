/**
 * One open document in this tab: the Automerge replica, its subscriptions, its storage queue and
 * its sync states with remote peers.
 *
 * Edits go straight into Automerge's open transaction (so reads see them at once) and are
 * committed together in the next macrotask by `flush()`, which also applies what arrived from
 * other tabs and peers, persists, notifies subscribers and wakes the sync sessions. Applying
 * remote changes costs Automerge time proportional to the document (~11 ms on 10,000 keys), so
 * everything that arrived during one task is applied in one call.
 */
import { am, type AutomergeDoc, type Patch, type SyncState } from '../automerge'
import { DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { conflictPaths, repairMapConflicts } from '../conflicts'
import { describeError, ok, OrreryError, ProtocolError, type Result } from '../errors'
import { docTopic, type DocId } from '../ids'
import { createLogger } from '../log'
import { deleteAt, readAt, writeAt } from '../doc-ops'
import { scheduleTask } from '../schedule'
import { trace } from '../timings'
import type { DocStore } from '../storage/doc-store'
import type { StorageOp } from '../storage/types'
import { SubscriptionTree, type Listener } from '../subscriptions'
import type { SyncPeer } from '../sync/peer'
import type { TabBus } from '../tabs/bus'
import type { DecodedSyncMessage } from 'automerge-wasm'
import { SignatureList, type ChangeSignature } from '../sync/signature-list'
import {
  checkSignatures,
  PARK_MS,
  PARKABLE,
  signaturesFor,
  signChange,
  type Governance,
  type IncomingChange,
} from './governance'
import { decodeSigRecords, encodeSigRecords, ReceivedSigs, type SigStore } from './sigs'
import type { Confirmation, PeerSyncFacts } from './doc-state'
import { SyncLedger } from './sync-ledger'
import {
  changeAt,
  changeBytesIn,
  duplicateSeq,
  signedChange,
  type EquivocationLog,
} from './equivocation'
import { concatBytes } from '../bytes'
import { didKeyFromPublicKey } from '../identity'

const log = createLogger('doc')

export interface DocStatus {
  id: DocId
  heads: string[]
  /** chunks not yet on disk */
  unsaved: number
  saveError: string | undefined
  /** remote peers this document is syncing with */
  peers: string[]
  /** per remote peer, when we last heard about this document from it (ms since epoch) */
  lastSync: Record<string, number>
  /** changes made here that no peer has confirmed having yet ("N changes waiting") */
  unsynced: number
}

export interface DocHandleContext {
  tabId: string
  bus: TabBus | undefined
  onStatus: (handle: DocHandle) => void
  /** the document's heads moved (a local or remote change) */
  onChanged?: (handle: DocHandle) => void
  /** local changes not yet confirmed by a peer, as recorded before a reload */
  unsynced?: number
  /** the count changed (the repo keeps it across reloads) */
  onUnsynced?: (handle: DocHandle, count: number) => void
  /** a peer sent us something about this document */
  onSynced?: (handle: DocHandle, peer: SyncPeer) => void
  /** the last confirmation of our heads by a peer, as recorded before a reload */
  confirmation?: Confirmation
  /** a peer confirmed having every change of ours (the repo keeps it across reloads) */
  onConfirmed?: (handle: DocHandle, confirmation: Confirmation) => void
  /** the rules of the space this document belongs to (signed writes); none for a free document */
  governance?: Governance
  sigs?: SigStore
  /** where equivocations found in this (governed) document are recorded */
  equivocations?: EquivocationLog
}

interface Inbound {
  msgs: DecodedSyncMessage[]
  sigs: ReceivedSigs
  /** the new changes in it with their checked authors (a governed document, once admitted) */
  checked?: IncomingChange[]
}

export class DocHandle {
  readonly topic: Uint8Array
  private readonly subs = new SubscriptionTree()
  private readonly peers = new Map<SyncPeer, SyncState>()
  private readonly inbox = new Map<SyncPeer, Inbound>()
  /**
   * batches the space refused for now (an unknown member), with when they first were and their
   * changes as verified then: a retry asks the space again without verifying every signature again
   */
  private parked: { peer: SyncPeer; inbound: Inbound; since: number; checked: IncomingChange[] }[] =
    []
  private readonly offGovernance: (() => void) | undefined
  /** chunks from other tabs; `unstored`: sent as that tab went away, not known to be on disk */
  private tabInbox: { data: Uint8Array; unstored: boolean }[] = []
  private readonly lastSync = new Map<string, number>()
  /** what each peer told us, and who last confirmed our heads (the sync state's facts) */
  private readonly ledger: SyncLedger
  private scheduled = false
  private unsynced: number
  /** places where concurrent maps were merged: later changes to the hidden map are merged too */
  private readonly conflicted = new Map<string, (string | number)[]>()
  /** heads at the end of the last flush: what "changed" is measured against */
  private flushedHeads: string[]
  /** patches taken out of Automerge before a read moved its diff cursor: the next flush's */
  private stashed: Patch[] = []
  private closed = false
  /** sessions that hold another branch of an equivocating actor: their messages are ignored */
  private readonly diverged = new Set<string>()

  constructor(
    readonly id: DocId,
    private doc: AutomergeDoc,
    private readonly store: DocStore,
    private readonly ctx: DocHandleContext,
  ) {
    this.topic = docTopic(id)
    this.doc.updateDiffCursor()
    this.flushedHeads = this.doc.getHeads()
    this.unsynced = ctx.unsynced ?? 0
    this.ledger = new SyncLedger(ctx.confirmation)
    // other tabs of the profile hear of a chunk once it is stored, with the signatures stored
    // in the same batch
    store.onSaved = (data, sigs) =>
      ctx.bus?.post({
        t: 'chunk',
        doc: id,
        data,
        from: ctx.tabId,
        ...(sigs.length > 0 ? { sigs } : {}),
      })
    const sigStore = ctx.sigs
    if (sigStore !== undefined) store.sigRecords = () => sigStore.records()
    store.onStatus = () => ctx.onStatus(this)
    this.offGovernance = ctx.governance?.onChange?.(() => {
      if (this.parked.length > 0) this.schedule()
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

  /** Calls `listener` with the current value (in a microtask) and after every change. */
  subscribe(keys: readonly string[], listener: Listener): () => void {
    this.assertOpen()
    // Changes made before subscribing belong to the first value, not to a later notification.
    if (this.doc.pendingOps() > 0 || this.scheduled) this.flush()
    const unsubscribe = this.subs.add(keys, listener)
    let live = true
    queueMicrotask(() => {
      if (live && !this.closed) SubscriptionTree.call(listener, this.read(keys))
    })
    return () => {
      live = false
      unsubscribe()
    }
  }

  /** Resolves once every change made so far is on disk. */
  async whenSaved(): Promise<void> {
    if (this.doc.pendingOps() > 0 || this.scheduled) this.flush()
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
    const { ops, chunks, sigs } = this.store.pendingPuts()
    if (ops.length > 0)
      this.ctx.bus?.post({
        t: 'chunk',
        doc: this.id,
        data: concatBytes(chunks),
        from: this.ctx.tabId,
        unstored: true,
        ...(sigs.length > 0 ? { sigs: concatBytes(sigs) } : {}),
      })
    return ops
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
      peers: [...this.peers.keys()].map((p) => p.remotePeer),
      lastSync: Object.fromEntries(this.lastSync),
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
      peers: this.ledger.facts(),
      confirmation: this.ledger.confirmation,
    }
  }

  /** The whole document as bytes (for tests and export). */
  save(): Uint8Array {
    this.flushLocal()
    return this.doc.save()
  }

  // ---- input from other tabs and peers -----------------------------------------------------

  /**
   * A chunk another tab of this profile stored (and checked). `unstored`: it sent the chunk as
   * its page went away, before its last write was known to be on disk; this tab stores it too.
   */
  receiveTabChunk(data: Uint8Array, sigs?: Uint8Array, unstored = false): void {
    if (this.closed) return
    if (sigs !== undefined) {
      const fresh = this.ctx.sigs?.add(decodeSigRecords(sigs)) ?? []
      if (unstored) this.store.saveSigs(encodeSigRecords(fresh))
    }
    if (data.length > 0) this.tabInbox.push({ data, unstored })
    if (!unstored) {
      if (data.length > 0) this.store.noteStoredElsewhere('c', data)
      if (sigs !== undefined) this.store.noteStoredElsewhere('g', sigs)
    }
    this.schedule()
  }

  /**
   * Applies what other tabs of the profile stored that never reached this one (a tab that went
   * away, a message lost on the way): read from disk, where it was checked when it was stored.
   */
  async catchUp(): Promise<number> {
    if (this.closed) return 0
    const { chunks, sigs } = await this.store.loadUnknown()
    if (this.closed) return 0
    for (const s of sigs) this.ctx.sigs?.add(decodeSigRecords(s))
    for (const data of chunks) this.tabInbox.push({ data, unstored: false })
    if (chunks.length > 0) this.schedule()
    return chunks.length
  }

  /** Starts syncing with a peer; `start` sends our first message (not when answering theirs). */
  attachPeer(peer: SyncPeer, start = true): void {
    if (this.closed || this.peers.has(peer) || this.diverged.has(peer.key)) return
    this.peers.set(peer, am().initSyncState())
    this.ledger.attach(peer)
    this.ctx.onStatus(this)
    if (start) peer.wake(this.id)
  }

  detachPeer(peer: SyncPeer): void {
    const state = this.peers.get(peer)
    if (state === undefined) return
    this.peers.delete(peer)
    this.inbox.delete(peer)
    this.ledger.detach(peer)
    state.free()
    this.ctx.onStatus(this)
  }

  hasPeer(peer: SyncPeer): boolean {
    return this.peers.has(peer)
  }

  /** A decoded sync message from a peer; applied with everything else in the next flush. */
  receiveSync(peer: SyncPeer, msg: DecodedSyncMessage, sigs = SignatureList.EMPTY): void {
    if (this.closed || this.diverged.has(peer.key)) return
    // answering: the flush replies to their message, an opening message of ours would only make
    // them answer twice (a whole document twice, for a peer that has nothing)
    if (!this.peers.has(peer)) this.attachPeer(peer, false)
    let q = this.inbox.get(peer)
    if (q === undefined) this.inbox.set(peer, (q = { msgs: [], sigs: new ReceivedSigs() }))
    q.msgs.push(msg)
    q.sigs.add(sigs)
    this.lastSync.set(peer.remotePeer, Date.now())
    this.ctx.onSynced?.(this, peer)
    if (this.ledger.heard(peer, msg.heads, msg.changes)) this.ctx.onStatus(this)
    this.scheduleSoon()
  }

  /** The next sync message for a peer, or null when it has everything we know it needs. */
  generateSyncMessage(peer: SyncPeer): Uint8Array | null {
    const state = this.peers.get(peer)
    if (state === undefined || this.closed) return null
    if (this.doc.pendingOps() > 0) this.flush()
    return this.doc.generateSyncMessage(state)
  }

  /** The signatures that must travel with a sync message of this (governed) document. */
  sigsFor(message: Uint8Array): ChangeSignature[] {
    const store = this.ctx.sigs
    if (this.ctx.governance === undefined || store === undefined) return []
    return signaturesFor(
      message,
      (h) => store.get(h),
      () => store.all(),
    )
  }

  /** For removing a member: the highest sequence number of each actor whose changes they signed. */
  actorsOf(did: string): Record<string, number> {
    const store = this.ctx.sigs
    const out: Record<string, number> = {}
    if (store === undefined) return out
    this.flushLocal()
    for (const m of this.doc.getChangesMeta([])) {
      const sig = store.get(m.hash)
      if (sig !== undefined && didKeyFromPublicKey(sig.author) === did)
        out[m.actor] = Math.max(out[m.actor] ?? 0, m.seq)
    }
    return out
  }

  get governed(): boolean {
    return this.ctx.governance !== undefined
  }

  /** Whether this peer still lacks changes of ours (for "N waiting" status). */
  peerHasAll(peer: SyncPeer): boolean {
    const state = this.peers.get(peer)
    return state !== undefined && this.doc.hasOurChanges(state)
  }

  private setUnsynced(n: number): void {
    if (n === this.unsynced) return
    this.unsynced = n
    this.ctx.onUnsynced?.(this, n)
    this.ctx.onStatus(this)
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.offGovernance?.()
    for (const peer of [...this.peers.keys()]) this.detachPeer(peer)
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
    this.setUnsynced(this.unsynced + 1)
    this.signLocal(hash)
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
    this.stashed.push(...patches)
    this.schedule()
  }

  private flushLocal(): boolean {
    this.commitLocal()
    const chunk = this.doc.saveIncremental()
    if (chunk.length === 0) return false
    this.store.saveIncremental(chunk)
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
      const fromTabs = this.applyTabChunks()
      const fromPeers = this.applyPeerMessages(replyTo)
      let patches: Patch[]
      if (round === 0 && wasEmpty && (fromTabs || fromPeers)) {
        // A whole document arrived into an empty one (a first sync): everything changed, and
        // diffing 10,000 keys only to learn that costs tens of milliseconds.
        this.doc.updateDiffCursor()
        this.stashed = []
        patches = [{ action: 'put', path: [], value: {} } as unknown as Patch]
      } else {
        patches = [...this.stashed.splice(0), ...this.doc.diffIncremental()]
      }
      if (fromTabs || fromPeers) this.repairConflicts(patches)
      if (patches.length > 0) this.notify(patches)
      // subscribers may have written (pending, or stashed by a later subscriber's read)
      if (this.doc.pendingOps() === 0 && this.stashed.length === 0) break
    }
    this.flushLocal()
    const heads = this.doc.getHeads()
    const changed = !sameHeads(this.flushedHeads, heads)
    this.flushedHeads = heads
    for (const peer of changed ? this.peers.keys() : replyTo) peer.wake(this.id)
    // a peer that answered and now has everything of ours: nothing is waiting any more
    if (this.unsynced > 0)
      for (const peer of replyTo) if (this.peerHasAll(peer)) this.setUnsynced(0)
    const seen = this.ledger.flushed(
      heads,
      replyTo,
      // an index lookup; reading a change's metadata would rebuild the change (~1 ms on 6 MB)
      (hashes) => this.doc.getMissingDeps(hashes),
      (p) => this.peerHasAll(p),
      Date.now(),
    )
    if (seen.confirmed !== undefined) this.ctx.onConfirmed?.(this, seen.confirmed)
    if (seen.changed && !changed) this.ctx.onStatus(this)
    if (changed) {
      this.ctx.onStatus(this)
      this.ctx.onChanged?.(this)
    }
    trace('flushed')
    if (this.store.wantsCompaction()) this.store.saveSnapshot(this.doc.save())
  }

  private signLocal(hash: string): void {
    const g = this.ctx.governance
    if (g === undefined) return
    const identity = g.signer()
    if (identity === undefined) {
      log.error(`change ${hash.slice(0, 12)} of ${this.id} could not be signed: no identity`)
      return
    }
    const sig = signChange(identity, hash)
    // queued before the change's chunk: both reach the disk in one batch
    this.store.saveSigs(encodeSigRecords(this.ctx.sigs?.add([sig]) ?? []))
  }

  /**
   * For a governed document: keeps from each peer's batch only what passes (every new change
   * signed, each signature valid, each author allowed by the space). A peer whose batch fails
   * is cut off: honest peers never forward such changes, because they check them too.
   */
  private admit(incoming: [SyncPeer, Inbound][]): [SyncPeer, Inbound][] {
    const g = this.ctx.governance
    const store = this.ctx.sigs
    if (g === undefined || store === undefined) return incoming
    const kept: [SyncPeer, Inbound][] = []
    const parked = this.parked
    this.parked = []
    const batches = this.joinParked(incoming, parked, store)
    const now = Date.now()
    const since = new Map<Inbound, number>()
    const verified = new Map<Inbound, IncomingChange[]>()
    for (const p of parked) {
      since.set(p.inbound, p.since)
      verified.set(p.inbound, p.checked)
    }
    const all: [SyncPeer, Inbound][] = [
      ...parked
        .filter((p) => this.peers.has(p.peer))
        .map((p) => [p.peer, p.inbound] as [SyncPeer, Inbound]),
      ...batches,
    ]
    // Peers with changes held in this round. Their messages without changes are held too, not
    // answered: an answer says we still lack the held changes, the peer sends them again, and
    // the two tabs ping-pong at full speed (over an in-process transport, without ever yielding
    // to timers) until the changes are admitted or PARK_MS ends.
    const holding = new Set<SyncPeer>()
    for (const [peer, inbound] of all) {
      const entries = inbound.msgs.flatMap((m) => m.changes)
      const waiting = holding.has(peer) ? this.parked.find((p) => p.peer === peer) : undefined
      if (entries.length === 0 && waiting !== undefined) {
        waiting.inbound.msgs.push(...inbound.msgs) // in order, behind the held batch
        continue
      }
      if (entries.length === 0) {
        kept.push([peer, inbound])
        continue
      }
      // A parked batch was verified when it arrived: each retry (every flush, for up to PARK_MS)
      // verifying its signatures again let an outsider's parked changes cost a member one
      // Ed25519 verification per change per flush (found by the chaos suite, test/chaos).
      const earlier = verified.get(inbound)
      const checked: Result<IncomingChange[]> =
        earlier !== undefined
          ? ok(earlier.filter((c) => this.doc.getChangeMetaByHash(c.hash) === null))
          : checkSignatures(
              entries,
              (h) => inbound.sigs.get(h) ?? store.get(h),
              (h) => this.doc.getChangeMetaByHash(h) !== null,
            )
      const verdict = checked.ok ? g.admit(this.doc, checked.value, entries) : checked
      const first = since.get(inbound) ?? now
      if (!verdict.ok && checked.ok && PARKABLE.has(verdict.error.code) && now - first < PARK_MS) {
        log.info(
          `holding changes to ${this.id} from ${peer.remotePeer.slice(-8)}: ${verdict.error.message}`,
        )
        if (this.parked.length === 0) setTimeout(() => this.schedule(), PARK_MS + 100)
        this.parked.push({ peer, inbound, since: first, checked: checked.value })
        holding.add(peer)
        continue
      }
      if (!verdict.ok) {
        log.warn(
          `refused changes to ${this.id} from ${peer.remotePeer.slice(-8)}: ${verdict.error.message}`,
        )
        peer.fault(
          new ProtocolError('PROTOCOL_VIOLATION', `refused changes: ${verdict.error.message}`),
        )
        this.detachPeer(peer)
        continue
      }
      if (checked.ok) {
        const sigs = checked.value
          .map((c) => inbound.sigs.get(c.hash) ?? store.get(c.hash))
          .filter((s) => s !== undefined)
        this.store.saveSigs(encodeSigRecords(store.add(sigs)))
        inbound.checked = checked.value
      }
      kept.push([peer, inbound])
    }
    return kept
  }

  /**
   * A peer's messages are handled in order: a batch that arrives while an earlier one of the same
   * peer is parked joins it (its own changes verified now) instead of overtaking it. Overtaking
   * made us answer the later message, which names heads we cannot have yet; the peer, having sent
   * those changes already, sent nothing new, and we asked again: an endless exchange of empty
   * sync messages for as long as the batch stayed parked (found by the chaos suite).
   */
  private joinParked(
    batches: [SyncPeer, Inbound][],
    parked: typeof this.parked,
    store: SigStore,
  ): [SyncPeer, Inbound][] {
    if (parked.length === 0) return batches
    const fresh: [SyncPeer, Inbound][] = []
    for (const [peer, inbound] of batches) {
      const waiting = parked.find((p) => p.peer === peer)
      if (waiting === undefined) {
        fresh.push([peer, inbound])
        continue
      }
      const entries = inbound.msgs.flatMap((m) => m.changes)
      const had = new Set(waiting.checked.map((c) => c.hash))
      const checked =
        entries.length === 0
          ? ok([])
          : checkSignatures(
              entries,
              (h) => inbound.sigs.get(h) ?? waiting.inbound.sigs.get(h) ?? store.get(h),
              (h) => had.has(h) || this.doc.getChangeMetaByHash(h) !== null,
            )
      if (!checked.ok) {
        log.warn(
          `refused changes to ${this.id} from ${peer.remotePeer.slice(-8)}: ${checked.error.message}`,
        )
        parked.splice(parked.indexOf(waiting), 1)
        peer.fault(
          new ProtocolError('PROTOCOL_VIOLATION', `refused changes: ${checked.error.message}`),
        )
        this.detachPeer(peer)
        continue
      }
      waiting.inbound.msgs.push(...inbound.msgs)
      waiting.inbound.sigs.append(inbound.sigs)
      waiting.checked.push(...checked.value)
    }
    return fresh
  }

  /**
   * Automerge refused a peer's batch because it holds another change for one of its (actor,
   * seq): equivocation (equivocation.ts). The evidence is recorded (governed documents: both
   * changes with their signatures); the sender is struck only if it signed the change itself. An
   * honest forwarder that took the other branch first is just no longer synced with on this
   * document in this session (the two branches cannot merge). Returns false for other errors.
   */
  private setAsideEquivocation(
    peer: SyncPeer,
    inbound: Inbound,
    entries: Uint8Array[],
    error: unknown,
  ): boolean {
    const dup = duplicateSeq(error)
    if (dup === undefined) return false
    const candidates = (inbound.checked ?? []).filter(
      (c) => c.actor === dup.actor && c.seq === dup.seq,
    )
    const record = this.ctx.equivocations
    const store = this.ctx.sigs
    if (
      candidates.length > 0 &&
      record !== undefined &&
      store !== undefined &&
      !record.has(this.id, dup.actor, dup.seq) &&
      record.roomFor(this.id)
    ) {
      // a scan of the history, only when an equivocation is found (at most 32 per document)
      const otherHash = changeAt(this.doc, dup.actor, dup.seq)
      const change = candidates.find((c) => c.hash !== otherHash)
      const otherBytes = otherHash === undefined ? null : this.doc.getChangeByHash(otherHash)
      const otherSig = otherHash === undefined ? undefined : store.get(otherHash)
      const bytes = change && (change.bytes ?? changeBytesIn(entries, change.hash))
      const sig = change && (inbound.sigs.get(change.hash) ?? store.get(change.hash))
      if (change && otherHash && otherBytes && otherSig && bytes && sig) {
        record.add({
          docId: this.id,
          actor: dup.actor,
          seq: dup.seq,
          changes: [
            signedChange(otherHash, otherBytes, otherSig),
            signedChange(change.hash, bytes, sig),
          ],
          from: peer.remotePeer,
          at: Date.now(),
        })
      }
    }
    this.diverged.add(peer.key)
    if (candidates.some((c) => c.author === peer.identity)) {
      peer.fault(
        new ProtocolError(
          'PROTOCOL_VIOLATION',
          `signed two changes for actor ${dup.actor.slice(0, 12)} seq ${dup.seq} of ${this.id}`,
        ),
      )
    } else {
      log.info(
        `not syncing ${this.id} with ${peer.remotePeer.slice(-8)}: it holds another branch of actor ${dup.actor.slice(0, 12)} (seq ${dup.seq})`,
      )
    }
    this.detachPeer(peer)
    return true
  }

  private repairConflicts(patches: Patch[]): void {
    for (const path of conflictPaths(patches)) this.conflicted.set(JSON.stringify(path), path)
    if (this.conflicted.size === 0) return
    // The repair is a change of this tab's, signed by its user: never where they may not write
    // (a reader would sign a change every member refuses), nor where the governance says no (the
    // space document: it would launder what a hidden map holds). The paths stay noted.
    const g = this.ctx.governance
    if (g !== undefined && !(g.mayRepair?.() ?? g.mayWriteLocally().ok)) return
    // nor under another identity's owned top-level key (spaces/owned.ts): those paths stay noted
    const paths = [...this.conflicted.values()].filter(
      (p) => g === undefined || g.mayWriteLocally([String(p[0])]).ok,
    )
    const copied = repairMapConflicts(this.doc, paths)
    if (copied > 0) log.info(`merged ${copied} entries of concurrently created maps in ${this.id}`)
  }

  private applyTabChunks(): boolean {
    if (this.tabInbox.length === 0) return false
    const chunks = this.tabInbox
    this.tabInbox = []
    for (const c of chunks) {
      try {
        this.doc.loadIncremental(c.data)
        if (c.unstored) this.store.saveIncremental(c.data)
      } catch (e) {
        log.error(`a chunk from another tab did not load: ${describeError(e)}`)
      }
    }
    // Another tab stored these already: advance the incremental cursor without storing again.
    this.doc.saveIncremental()
    return true
  }

  private applyPeerMessages(replyTo: Set<SyncPeer>): boolean {
    if (this.inbox.size === 0 && this.parked.length === 0) return false
    let batches = this.admit([...this.inbox])
    this.inbox.clear()
    const changes: Uint8Array[] = []
    for (const [, { msgs }] of batches) for (const m of msgs) changes.push(...m.changes)
    trace(`apply ${changes.length}`)
    if (changes.length > 0 && this.loadIntoEmpty(changes)) {
      trace('loaded into empty')
    } else if (changes.length > 0 && this.loadChanges(changes) !== undefined) {
      // One of the peers sent changes Automerge refuses: apply peer by peer to find it.
      const bad = new Set<SyncPeer>()
      for (const [peer, inbound] of batches) {
        const own = inbound.msgs.flatMap((m) => m.changes)
        const failed = own.length > 0 ? this.loadChanges(own) : undefined
        if (failed === undefined) continue
        bad.add(peer)
        if (!this.setAsideEquivocation(peer, inbound, own, failed.error))
          peer.fault(new ProtocolError('MALFORMED_MESSAGE', 'sync message carried invalid changes'))
      }
      batches = batches.filter(([p]) => !bad.has(p))
    }
    // The changes are applied above, all peers at once. Each peer's sync state still has to see
    // its last message; handing that over without changes would make Automerge believe nothing
    // arrived and skip its acknowledgement (then the sender never learns we have its changes),
    // so it carries one change we certainly have: a duplicate, skipped at no cost.
    const known = changes.length > 0 ? this.knownChange() : undefined
    for (const [peer, { msgs }] of batches) {
      const state = this.peers.get(peer)
      const last = msgs[msgs.length - 1]
      if (state === undefined || last === undefined) continue
      const carried = known !== undefined && msgs.some((m) => m.changes.length > 0) ? [known] : []
      try {
        this.doc.receiveSyncMessage(state, am().encodeSyncMessage({ ...last, changes: carried }))
        replyTo.add(peer)
      } catch (e) {
        peer.fault(new ProtocolError('MALFORMED_MESSAGE', `bad sync message: ${describeError(e)}`))
      }
    }
    trace('applied')
    const chunk = this.doc.saveIncremental()
    trace(`saved ${chunk.length}`)
    if (chunk.length > 0) this.store.saveIncremental(chunk)
    return changes.length > 0
  }

  private knownChange(): Uint8Array | undefined {
    const head = this.doc.getHeads()[0]
    return head === undefined ? undefined : (this.doc.getChangeByHash(head) ?? undefined)
  }

  /**
   * A first sync into an empty document usually brings the whole document as one chunk: loading
   * it as a new document and keeping that chunk as the stored snapshot avoids re-encoding a
   * megabyte (`saveIncremental`) and storing it uncompressed. Returns false when this does not
   * apply (then the normal path runs).
   */
  private loadIntoEmpty(entries: Uint8Array[]): boolean {
    if (this.flushedHeads.length > 0 || this.doc.pendingOps() > 0 || this.doc.getHeads().length > 0)
      return false
    const docs: Uint8Array[] = []
    const changes: Uint8Array[] = []
    for (const entry of entries) {
      const chunks = splitChunks(entry, false)
      if (!chunks.ok) return false
      for (const c of chunks.value) (c[8] === DOCUMENT_CHUNK ? docs : changes).push(c)
    }
    if (docs.length !== 1) return false
    const snapshot = (docs[0] as Uint8Array).slice()
    let fresh
    try {
      fresh = am().load(snapshot)
      if (changes.length > 0) fresh.applyChanges(changes)
    } catch (e) {
      log.warn(`a whole document from a peer did not load: ${describeError(e)}`)
      return false
    }
    this.doc.free()
    this.doc = fresh
    this.doc.updateDiffCursor()
    fresh.saveIncremental() // moves the save cursor; the snapshot below already holds all of it
    this.store.saveSnapshot(snapshot)
    return true
  }

  /**
   * Applies chunks from peers. Change chunks go through `applyChanges`, which throws on a bad one:
   * `loadIncremental` over a concatenation silently drops everything after (and with) a chunk it
   * cannot parse, which would let one peer's nonsense discard another peer's good changes.
   * Returns what went wrong, or undefined when everything applied.
   */
  private loadChanges(entries: Uint8Array[]): { error: unknown } | undefined {
    try {
      const changes: Uint8Array[] = []
      for (const entry of entries) {
        const chunks = splitChunks(entry, false)
        if (!chunks.ok) throw chunks.error
        for (const c of chunks.value) {
          if (c[8] === DOCUMENT_CHUNK)
            this.doc.loadIncremental(c) // a whole document (initial sync)
          else changes.push(c)
        }
      }
      if (changes.length > 0) this.doc.applyChanges(changes)
      return undefined
    } catch (e) {
      log.warn(`changes did not load: ${describeError(e)}`)
      return { error: e }
    }
  }

  private notify(patches: Patch[]): void {
    trace('notify')
    for (const { keys, listeners } of this.subs.affected(patches)) {
      this.beforeRead() // an earlier listener may have written
      const value = readAt(this.doc, keys)
      for (const l of listeners) SubscriptionTree.call(l, value)
    }
  }

  private assertWritable(rootKeys: readonly string[]): void {
    this.assertOpen()
    const may = this.ctx.governance?.mayWriteLocally(rootKeys)
    if (may !== undefined && !may.ok) throw may.error
  }

  private assertOpen(): void {
    if (this.closed) throw new OrreryError('DOC_CLOSED', `document ${this.id} is closed`)
  }
}

function sameHeads(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false
  const s = new Set(a)
  return b.every((h) => s.has(h))
}
