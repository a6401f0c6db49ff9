/**
 * Admission: of each peer's batch of sync messages, only what passes goes on to Automerge. In a
 * governed document every new change must be signed, each signature valid, each author allowed
 * by the space (`governedJudge`); in a free document with a write key, every change must come
 * from a writer or be vouched for by the writer's signature (write-judge.ts). A peer whose batch
 * fails is cut off: honest peers never forward such changes, because they check them too. A
 * batch refused only for now (an unknown member, a missing dependency) is parked and asked about
 * again for up to PARK_MS.
 */
import type { AutomergeDoc } from '../automerge'
import { ok, ProtocolError, type Result } from '../errors'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import type { SyncPeer } from '../sync/peer'
import type { ChangeSignature, ReceivedSyncMessage } from '../sync/messages'
import {
  checkSignatures,
  PARK_MS,
  PARKABLE,
  type Governance,
  type IncomingChange,
} from './governance'
import { encodeSigRecords, type ReceivedSigs, type SigStore } from './sigs'

const log = createLogger('admission')

/** What one peer sent since the last flush. */
export interface Inbound {
  msgs: ReceivedSyncMessage[]
  sigs: ReceivedSigs
  /** the new changes in it with their checked authors (a governed document, once admitted) */
  checked?: IncomingChange[]
}

export type Batch = [SyncPeer, Inbound]

/** What a document's rules say about changes from peers. */
export interface Judge {
  /** the new changes in these entries, each with its checked author, or why they are refused */
  check(
    entries: Uint8Array[],
    sigs: (hashHex: string) => ChangeSignature | undefined,
    known: (hashHex: string) => boolean,
  ): Result<IncomingChange[]>
  /** whether the rules allow these checked changes (a PARKABLE refusal holds them for now) */
  admit(doc: AutomergeDoc, changes: IncomingChange[], entries: Uint8Array[]): Result<void>
  /** a peer whose changes pass unchecked (it holds the document's write secret) */
  trusts?(peer: SyncPeer): boolean
}

/** A space's rules: every change signed by its author, every author allowed. */
export function governedJudge(governance: Governance): Judge {
  return {
    check: checkSignatures,
    admit: (doc, changes, entries) => governance.admit(doc, changes, entries),
  }
}

/** What admission needs of the document it guards. */
export interface AdmissionHost {
  readonly id: DocId
  doc(): AutomergeDoc
  /** the peer is still attached */
  has(peer: SyncPeer): boolean
  /** strikes the peer and stops syncing this document with it */
  cut(peer: SyncPeer, error: ProtocolError): void
  /** asks for a flush (a parked batch is retried in every flush) */
  schedule(): void
  /** queues signature records for the disk, ahead of the chunk that holds their changes */
  saveSigs(records: Uint8Array): void
}

interface Parked {
  peer: SyncPeer
  inbound: Inbound
  /** when the batch was first refused for now */
  since: number
  /** its changes as verified then: a retry asks the space again without verifying again */
  checked: IncomingChange[]
}

export class Admission {
  private parked: Parked[] = []

  constructor(
    private readonly judge: Judge,
    private readonly store: SigStore,
    private readonly host: AdmissionHost,
  ) {}

  /** batches are parked: the next flush asks the space about them again */
  get waiting(): boolean {
    return this.parked.length > 0
  }

  /** how many batches are parked */
  get held(): number {
    return this.parked.length
  }

  /** The batches (parked ones first) that may be applied; the others are parked or cut off. */
  admit(incoming: Batch[]): Batch[] {
    const kept: Batch[] = []
    const parked = this.parked
    this.parked = []
    const batches = this.joinParked(incoming, parked)
    const now = Date.now()
    const since = new Map<Inbound, number>()
    const verified = new Map<Inbound, IncomingChange[]>()
    for (const p of parked) {
      since.set(p.inbound, p.since)
      verified.set(p.inbound, p.checked)
    }
    const doc = this.host.doc()
    const all: Batch[] = [
      ...parked.filter((p) => this.host.has(p.peer)).map((p): Batch => [p.peer, p.inbound]),
      ...batches,
    ]
    // Peers with changes held in this round. Their messages without changes are held too, not
    // answered: an answer says we still lack the held changes, the peer sends them again, and
    // the two tabs ping-pong at full speed (over an in-process transport, without ever yielding
    // to timers) until the changes are admitted or PARK_MS ends.
    const holding = new Set<SyncPeer>()
    for (const [peer, inbound] of all) {
      if (this.judge.trusts?.(peer) === true) {
        kept.push([peer, inbound])
        continue
      }
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
          ? ok(earlier.filter((c) => doc.getChangeMetaByHash(c.hash) === null))
          : this.judge.check(
              entries,
              (h) => inbound.sigs.get(h) ?? this.store.get(h),
              (h) => doc.getChangeMetaByHash(h) !== null,
            )
      const verdict = checked.ok ? this.judge.admit(doc, checked.value, entries) : checked
      const first = since.get(inbound) ?? now
      if (!verdict.ok && checked.ok && PARKABLE.has(verdict.error.code) && now - first < PARK_MS) {
        log.info(
          `holding changes to ${this.host.id} from ${peer.remotePeer.slice(-8)}: ${verdict.error.message}`,
        )
        if (this.parked.length === 0) setTimeout(() => this.host.schedule(), PARK_MS + 100)
        this.parked.push({ peer, inbound, since: first, checked: checked.value })
        holding.add(peer)
        continue
      }
      if (!verdict.ok) {
        this.refuse(peer, verdict.error.message)
        continue
      }
      if (checked.ok) {
        const sigs = checked.value
          .map((c) =>
            c.vouched ? undefined : (inbound.sigs.get(c.hash) ?? this.store.get(c.hash)),
          )
          .filter((s) => s !== undefined)
        this.host.saveSigs(encodeSigRecords(this.store.add(sigs)))
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
  private joinParked(batches: Batch[], parked: Parked[]): Batch[] {
    if (parked.length === 0) return batches
    const doc = this.host.doc()
    const fresh: Batch[] = []
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
          : this.judge.check(
              entries,
              (h) => inbound.sigs.get(h) ?? waiting.inbound.sigs.get(h) ?? this.store.get(h),
              (h) => had.has(h) || doc.getChangeMetaByHash(h) !== null,
            )
      if (!checked.ok) {
        parked.splice(parked.indexOf(waiting), 1)
        this.refuse(peer, checked.error.message)
        continue
      }
      waiting.inbound.msgs.push(...inbound.msgs)
      waiting.inbound.sigs.append(inbound.sigs)
      waiting.checked.push(...checked.value)
    }
    return fresh
  }

  private refuse(peer: SyncPeer, why: string): void {
    log.warn(`refused changes to ${this.host.id} from ${peer.remotePeer.slice(-8)}: ${why}`)
    this.host.cut(peer, new ProtocolError('PROTOCOL_VIOLATION', `refused changes: ${why}`))
  }
}
