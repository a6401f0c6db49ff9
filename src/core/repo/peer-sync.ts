/**
 * The per-peer side of one open document: each remote peer's Automerge sync state, the messages
 * it sent that the next flush applies (all peers' changes in one Automerge call: applying costs
 * time proportional to the document), what it told us (the ledger behind "synced"), and the
 * peers set aside because they hold another branch of an equivocating actor.
 */
import { am, type AutomergeDoc, type SyncState } from '../automerge'
import { CHANGE_CHUNK, changeHash, DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { describeError, ProtocolError } from '../errors'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import { trace } from '../timings'
import type { DocStore } from '../storage/doc-store'
import type { SyncPeer } from '../sync/peer'
import { SignatureList, type ChangeSignature } from '../sync/signature-list'
import type { DecodedSyncMessage } from 'automerge-wasm'
import type { ReceivedSyncMessage } from '../sync/messages'
import { Admission, governedJudge, type Batch, type Inbound } from './admission'
import { loadChanges, loadWholeDocument } from './apply'
import type { Confirmation, PeerSyncFacts } from './doc-state'
import {
  changeAt,
  changeBytesIn,
  duplicateSeq,
  signedChange,
  type EquivocationLog,
} from './equivocation'
import { signaturesFor, type Governance } from './governance'
import { ReceivedSigs, type SigStore } from './sigs'
import { SyncLedger } from './sync-ledger'
import { headSignatures, writeJudge, type WriteGate } from './write-judge'

const log = createLogger('doc')

/** What the synchronizer needs of its document. */
export interface SyncHost {
  readonly id: DocId
  readonly store: DocStore
  /** the replica (replaced when a whole document arrives into an empty one) */
  doc(): AutomergeDoc
  replaceDoc(fresh: AutomergeDoc): void
  /** the document holds nothing yet (no heads, no pending edits) */
  isEmpty(): boolean
  /** a flush at the end of this task (a peer's message) or in the next one (a parked retry) */
  flushSoon(): void
  flushLater(): void
  statusChanged(): void
  /** a peer sent something about this document */
  heardFrom(peer: SyncPeer): void
  /** the document syncs with a new peer / stopped syncing with one */
  attached(peer: SyncPeer): void
  detached(peer: SyncPeer): void
}

export interface SyncRules {
  governance?: Governance
  /** a free document's write key, when it has one (keys/write-key.ts) */
  writes?: WriteGate
  sigs?: SigStore
  equivocations?: EquivocationLog
}

export class PeerSync {
  private readonly states = new Map<SyncPeer, SyncState>()
  private readonly inbox = new Map<SyncPeer, Inbound>()
  private readonly lastSync = new Map<string, number>()
  /** sessions that hold another branch of an equivocating actor: their messages are ignored */
  private readonly diverged = new Set<string>()
  readonly ledger: SyncLedger
  private readonly admission: Admission | undefined

  constructor(
    private readonly host: SyncHost,
    private readonly rules: SyncRules,
    confirmation: Confirmation | undefined,
  ) {
    this.ledger = new SyncLedger(confirmation)
    const { governance, writes, sigs } = rules
    const judge =
      governance !== undefined ? governedJudge(governance) : writes && writeJudge(writes)
    this.admission =
      judge === undefined || sigs === undefined
        ? undefined
        : new Admission(judge, sigs, {
            id: host.id,
            doc: () => host.doc(),
            has: (peer) => this.states.has(peer),
            cut: (peer, error) => {
              peer.fault(error)
              this.detach(peer)
            },
            schedule: () => host.flushLater(),
            saveSigs: (records) => host.store.saveSigs(records),
          })
  }

  /** the peers this document syncs with */
  get attached(): IterableIterator<SyncPeer> {
    return this.states.keys()
  }

  /** parked batches wait for the space to change */
  get waiting(): boolean {
    return this.admission?.waiting ?? false
  }

  /** batches refused for now, held to retry when the space changes */
  get held(): number {
    return this.admission?.held ?? 0
  }

  has(peer: SyncPeer): boolean {
    return this.states.has(peer)
  }

  /** per remote peer, when we last heard about this document from it (ms since epoch) */
  lastHeard(): Record<string, number> {
    return Object.fromEntries(this.lastSync)
  }

  facts(): PeerSyncFacts[] {
    return this.ledger.facts()
  }

  attach(peer: SyncPeer, start: boolean): void {
    if (this.states.has(peer) || this.diverged.has(peer.key)) return
    this.states.set(peer, am().initSyncState())
    this.ledger.attach(peer)
    this.host.statusChanged()
    if (start) peer.wake(this.host.id)
    this.host.attached(peer)
  }

  detach(peer: SyncPeer): void {
    const state = this.states.get(peer)
    if (state === undefined) return
    this.states.delete(peer)
    this.inbox.delete(peer)
    this.ledger.detach(peer)
    state.free()
    this.host.statusChanged()
    this.host.detached(peer)
  }

  detachAll(): void {
    for (const peer of [...this.states.keys()]) this.detach(peer)
  }

  /** A decoded sync message from a peer; applied with everything else in the next flush. */
  receive(peer: SyncPeer, msg: ReceivedSyncMessage, sigs = SignatureList.EMPTY): void {
    if (this.diverged.has(peer.key)) return
    // answering: the flush replies to their message, an opening message of ours would only make
    // them answer twice (a whole document twice, for a peer that has nothing)
    if (!this.states.has(peer)) this.attach(peer, false)
    let q = this.inbox.get(peer)
    if (q === undefined) this.inbox.set(peer, (q = { msgs: [], sigs: new ReceivedSigs() }))
    q.msgs.push(msg)
    q.sigs.add(sigs)
    this.lastSync.set(peer.remotePeer, Date.now())
    this.host.heardFrom(peer)
    if (this.ledger.heard(peer, msg.heads, msg.changes)) this.host.statusChanged()
    this.host.flushSoon()
  }

  /** The next sync message for a peer, or null when it has everything we know it needs. */
  generate(peer: SyncPeer): Uint8Array | null {
    const state = this.states.get(peer)
    return state === undefined ? null : this.host.doc().generateSyncMessage(state)
  }

  /**
   * The signatures that must travel with a sync message to a peer: in a governed document, those
   * of its changes; in a free document with a write key, the writer's over our heads (none to
   * another writer).
   */
  sigsFor(message: Uint8Array, peer: SyncPeer): ChangeSignature[] {
    const { governance, writes, sigs: store } = this.rules
    if (store === undefined) return []
    if (governance !== undefined)
      return signaturesFor(
        message,
        (h) => store.get(h),
        () => store.all(),
      )
    const key = writes?.key()
    if (key === undefined || writes?.isWriter(peer) === true) return []
    return headSignatures(this.host.doc(), message, key, store)
  }

  /** After a flush: what the peers' answers confirm (see SyncLedger.flushed). */
  flushed(heads: string[], replyTo: Set<SyncPeer>): ReturnType<SyncLedger['flushed']> {
    const doc = this.host.doc()
    return this.ledger.flushed(
      heads,
      replyTo,
      // an index lookup; reading a change's metadata would rebuild the change (~1 ms on 6 MB)
      (hashes) => doc.getMissingDeps(hashes),
      (p) => this.hasOurChanges(p),
      Date.now(),
    )
  }

  /** Whether this peer has every change of ours (for "N waiting" status). */
  hasOurChanges(peer: SyncPeer): boolean {
    const state = this.states.get(peer)
    return state !== undefined && this.host.doc().hasOurChanges(state)
  }

  /**
   * Applies what the peers sent since the last flush (admitted first, in a governed document)
   * and lets each peer's sync state see its last message; the peers to answer join `replyTo`.
   * Returns whether any changes arrived.
   */
  apply(replyTo: Set<SyncPeer>): boolean {
    if (this.inbox.size === 0 && !this.waiting) return false
    const incoming = [...this.inbox]
    this.inbox.clear()
    const judged = this.rules.governance !== undefined || this.rules.writes?.key() !== undefined
    let batches = (judged ? this.admission?.admit(incoming) : undefined) ?? incoming
    const changes: Uint8Array[] = []
    for (const [, { msgs }] of batches) for (const m of msgs) changes.push(...m.changes)
    trace(`apply ${changes.length}`)
    const whole = changes.length > 0 && this.host.isEmpty() ? loadWholeDocument(changes) : undefined
    if (whole !== undefined) {
      this.host.replaceDoc(whole.doc)
      this.host.store.saveSnapshot(whole.snapshot)
      trace('loaded into empty')
      this.acknowledge(batches, replyTo)
    } else if (oneMessageOfChangesEach(batches) && !changes.some(holdsDocumentChunk)) {
      this.receiveEach(batches, replyTo)
    } else {
      if (loadChanges(this.host.doc(), changes) !== undefined) batches = this.applyOneByOne(batches)
      this.acknowledge(batches, replyTo)
    }
    trace('applied')
    const chunk = this.host.doc().saveIncremental()
    trace(`saved ${chunk.length}`)
    if (chunk.length > 0) this.host.store.saveIncremental(chunk)
    return changes.length > 0
  }

  /**
   * The usual case (change chunks, no whole document, one message with changes per peer): each
   * peer's messages go to its sync state as they came, and Automerge decodes, applies and
   * acknowledges each in one call: half the cost of applying the changes and then handing over
   * the message again. (Applying costs time proportional to the document, but a change another
   * peer's message already brought is skipped after a hash lookup, so the peers of one flush
   * cost no more than one call would.) Messages without changes before a peer's last one are
   * superseded by it. A message Automerge refuses ends that peer's batch: equivocation is set
   * aside, anything else cuts the session; so does one whose changes it dropped (`droppedAny`:
   * its receive skips an unparseable chunk without a word, where `applyChanges` throws).
   */
  private receiveEach(batches: Batch[], replyTo: Set<SyncPeer>): void {
    const doc = this.host.doc()
    for (const [peer, inbound] of batches) {
      const state = this.states.get(peer)
      if (state === undefined) continue
      const { msgs } = inbound
      let refused = false
      for (const [i, m] of msgs.entries()) {
        if (refused) break
        if (m.changes.length === 0 && i < msgs.length - 1) continue
        try {
          doc.receiveSyncMessage(state, m.bytes ?? am().encodeSyncMessage(m))
          if (m.changes.length > 0 && droppedAny(doc, m.changes))
            throw new Error('a change in it could not be parsed')
        } catch (e) {
          refused = true
          if (m.changes.length > 0 && this.setAsideEquivocation(peer, inbound, m.changes, e)) break
          const why = `sync message refused: ${describeError(e)}`
          peer.fault(new ProtocolError('MALFORMED_MESSAGE', why))
        }
      }
      if (!refused) replyTo.add(peer)
    }
  }

  /** One of the peers sent changes Automerge refuses: apply peer by peer to find it. */
  private applyOneByOne(batches: Batch[]): Batch[] {
    const bad = new Set<SyncPeer>()
    for (const [peer, inbound] of batches) {
      const own = inbound.msgs.flatMap((m) => m.changes)
      const failed = own.length > 0 ? loadChanges(this.host.doc(), own) : undefined
      if (failed === undefined) continue
      bad.add(peer)
      if (!this.setAsideEquivocation(peer, inbound, own, failed.error))
        peer.fault(new ProtocolError('MALFORMED_MESSAGE', 'sync message carried invalid changes'))
    }
    return batches.filter(([p]) => !bad.has(p))
  }

  /**
   * The changes are applied, all peers at once. Each peer's sync state still has to see its last
   * message; handing that over without changes would make Automerge believe nothing arrived and
   * skip its acknowledgement (then the sender never learns we have its changes), so it carries
   * one change we certainly have: one of the change chunks that peer sent in this batch (already
   * applied, so Automerge skips it after a hash lookup). Only a batch of whole documents (a
   * first sync) carries a change read back from the document, which costs a rebuild of it.
   */
  private acknowledge(batches: Batch[], replyTo: Set<SyncPeer>): void {
    const doc = this.host.doc()
    let fromDoc: Uint8Array[] | undefined
    const readBack = (): Uint8Array[] => {
      if (fromDoc !== undefined) return fromDoc
      const head = doc.getHeads()[0]
      const known = head === undefined ? undefined : doc.getChangeByHash(head)
      return (fromDoc = known === undefined || known === null ? [] : [known])
    }
    for (const [peer, { msgs }] of batches) {
      const state = this.states.get(peer)
      const last = msgs[msgs.length - 1]
      if (state === undefined || last === undefined) continue
      const sent = msgs.some((m) => m.changes.length > 0)
      const own = sent ? sentChangeChunk(msgs) : undefined
      const carried = !sent ? [] : own !== undefined ? [own] : readBack()
      try {
        doc.receiveSyncMessage(state, am().encodeSyncMessage({ ...last, changes: carried }))
        replyTo.add(peer)
      } catch (e) {
        peer.fault(new ProtocolError('MALFORMED_MESSAGE', `bad sync message: ${describeError(e)}`))
      }
    }
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
    const id = this.host.id
    const candidates = (inbound.checked ?? []).filter(
      (c) => c.actor === dup.actor && c.seq === dup.seq,
    )
    const { equivocations: record, sigs: store } = this.rules
    if (
      candidates.length > 0 &&
      record !== undefined &&
      store !== undefined &&
      !record.has(id, dup.actor, dup.seq) &&
      record.roomFor(id)
    ) {
      // a scan of the history, only when an equivocation is found (at most 32 per document)
      const doc = this.host.doc()
      const otherHash = changeAt(doc, dup.actor, dup.seq)
      const change = candidates.find((c) => c.hash !== otherHash)
      const otherBytes = otherHash === undefined ? null : doc.getChangeByHash(otherHash)
      const otherSig = otherHash === undefined ? undefined : store.get(otherHash)
      const bytes = change && (change.bytes ?? changeBytesIn(entries, change.hash))
      const sig = change && (inbound.sigs.get(change.hash) ?? store.get(change.hash))
      if (change && otherHash && otherBytes && otherSig && bytes && sig) {
        record.add({
          docId: id,
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
          `signed two changes for actor ${dup.actor.slice(0, 12)} seq ${dup.seq} of ${id}`,
        ),
      )
    } else {
      log.info(
        `not syncing ${id} with ${peer.remotePeer.slice(-8)}: it holds another branch of actor ${dup.actor.slice(0, 12)} (seq ${dup.seq})`,
      )
    }
    this.detach(peer)
    return true
  }
}

/** A single (uncompressed) change chunk among the entries of these messages, if there is one. */
function sentChangeChunk(msgs: readonly DecodedSyncMessage[]): Uint8Array | undefined {
  for (const m of msgs) {
    for (const entry of m.changes) {
      const chunks = splitChunks(entry, false)
      if (!chunks.ok) continue
      const change = chunks.value.find((c) => c[8] === CHANGE_CHUNK)
      if (change !== undefined) return change
    }
  }
  return undefined
}

/**
 * Whether each peer sent at most one message with changes (a live session: one message per
 * task). Several (batches parked by admission and released together, a backlog read in one
 * task) are applied in one call instead: each call costs time proportional to the document.
 */
function oneMessageOfChangesEach(batches: readonly Batch[]): boolean {
  return batches.every(([, { msgs }]) => msgs.filter((m) => m.changes.length > 0).length <= 1)
}

/** Whether a sync-message entry holds a whole document (a first sync sends one). */
function holdsDocumentChunk(entry: Uint8Array): boolean {
  const chunks = splitChunks(entry, false)
  return !chunks.ok || chunks.value.some((c) => c[8] === DOCUMENT_CHUNK)
}

/**
 * Whether Automerge dropped any of these changes (after a receive, which skips a chunk it cannot
 * parse without an error): one that is neither in the document nor waiting for dependencies.
 * Index lookups only. While changes wait for dependencies it cannot tell, and says no: such a
 * chunk is dropped all the same, only its sender is not cut off.
 */
function droppedAny(doc: AutomergeDoc, entries: readonly Uint8Array[]): boolean {
  const hashes: string[] = []
  for (const entry of entries) {
    const chunks = splitChunks(entry, false)
    if (!chunks.ok) return true
    for (const c of chunks.value) {
      const hash = changeHash(c)
      if (hash === undefined) return true
      hashes.push(hash)
    }
  }
  const missing = new Set(doc.getMissingDeps(hashes))
  if (!hashes.some((h) => missing.has(h))) return false
  return doc.getMissingDeps([]).length === 0
}
