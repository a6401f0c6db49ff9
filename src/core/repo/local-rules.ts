/**
 * The space's rules as they bear on this tab's own changes to one document: whether a write may
 * be made, the signature every committed change gets in a governed document, and the repair of
 * concurrently created maps (a change of this tab's too, so it obeys the same rules).
 */
import { am, type AutomergeDoc, type Patch } from '../automerge'
import { backoffWait, type Backoff } from '../backoff'
import { hexToBytes } from '../bytes'
import { conflictPaths, repairMapConflicts } from '../conflicts'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import type { DocStore } from '../storage/doc-store'
import type { Signer } from '../signer'
import type { ChangeSignature } from '../sync/signature-list'
import type { Governance } from './governance'
import type { WriteGate } from './write-judge'
import { OrreryError } from '../errors'
import { encodeSigRecords, type SigStore } from './sigs'

const log = createLogger('doc')

/** retrying a signature that failed: 100 ms doubling to 10 s */
const SIGN_RETRY: Backoff = { firstMs: 100, maxMs: 10_000 }

export class LocalRules {
  /** places where concurrent maps were merged: later changes to the hidden map are merged too */
  private readonly conflicted = new Map<string, (string | number)[]>()
  /** this tab's changes whose signatures are being made (an asynchronous signer) */
  private readonly unsigned = new Set<string>()
  /** chunks of those changes, stored once they are signed */
  private readonly held: Uint8Array[] = []
  private readonly signedWaiters: (() => void)[] = []
  /** every change of this tab is signed again: the handle wakes its peers */
  onSigned: () => void = () => undefined

  constructor(
    private readonly id: DocId,
    private readonly store: DocStore,
    private readonly governance: Governance | undefined,
    private readonly sigs: SigStore | undefined,
    private readonly writes: WriteGate | undefined,
  ) {}

  /**
   * Throws the space's refusal when this tab may not write under these top-level keys, and
   * READ_ONLY when the document has a write key this tab does not hold (a read-only link).
   */
  assertWritable(rootKeys: readonly string[]): void {
    const may = this.governance?.mayWriteLocally(rootKeys)
    if (may !== undefined && !may.ok) throw may.error
    const key = this.writes?.key()
    if (key !== undefined && key.secret === undefined)
      throw new OrreryError(
        'READ_ONLY',
        `this browser may read document ${this.id} but not change it: ask for an edit link`,
      )
  }

  /**
   * Signs a change just committed here (governed documents); the record is queued for disk. A
   * signer that must wait (a WebCrypto key) leaves the change unsigned for a while: until its
   * signature exists the change is neither sent (`signing`) nor stored (`storeChunk` holds it).
   */
  sign(hash: string): void {
    const g = this.governance
    if (g === undefined) return
    const signer = g.signer()
    if (signer === undefined) {
      log.error(`change ${hash.slice(0, 12)} of ${this.id} could not be signed: no identity`)
      return
    }
    const bytes = hexToBytes(hash)
    if (signer.signNow !== undefined) {
      this.record({ hash: bytes, author: signer.publicKey, signature: signer.signNow(bytes) })
      return
    }
    this.unsigned.add(hash)
    this.signLater(signer, hash, bytes, 0)
  }

  private signLater(signer: Signer, hash: string, bytes: Uint8Array, failures: number): void {
    signer.sign(bytes).then(
      (signature) => {
        this.record({ hash: bytes, author: signer.publicKey, signature })
        this.unsigned.delete(hash)
        if (this.unsigned.size === 0) {
          this.releaseHeld()
          for (const resolve of this.signedWaiters.splice(0)) resolve()
          this.onSigned()
        }
      },
      (e: unknown) => {
        // never sent unsigned (every member would refuse it): tried again, the sends held
        const wait = backoffWait(SIGN_RETRY, failures)
        log.error(
          `signing change ${hash.slice(0, 12)} of ${this.id} failed (again in ${wait} ms)`,
          e,
        )
        setTimeout(() => this.signLater(signer, hash, bytes, failures + 1), wait)
      },
    )
  }

  private record(sig: ChangeSignature): void {
    // queued before the change's chunk: both reach the disk in one batch
    this.store.saveSigs(encodeSigRecords(this.sigs?.add([sig]) ?? []))
  }

  /** Resolves once every change of this tab so far is signed. */
  whenSigned(): Promise<void> {
    if (this.unsigned.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.signedWaiters.push(resolve))
  }

  /** Changes of this tab wait for their signatures: nothing of this document may be sent. */
  get signing(): boolean {
    return this.unsigned.size > 0
  }

  /** A chunk of this tab's changes: stored now, or once their signatures are (on disk first). */
  storeChunk(chunk: Uint8Array): void {
    if (this.unsigned.size === 0) this.store.saveIncremental(chunk)
    else this.held.push(chunk)
  }

  /**
   * The page is going away while signatures are still being made: the held chunks go to disk
   * unsigned (an edit is never lost), and `signMissing` signs them when the document next opens.
   */
  releaseHeld(): void {
    for (const chunk of this.held.splice(0)) this.store.saveIncremental(chunk)
  }

  /**
   * When the document opens: a head that has no signature is a change of this tab's that was
   * stored while its signature was being made (the page went away first); changes from peers are
   * stored only with theirs. Signs it and its unsigned ancestors.
   */
  signMissing(doc: AutomergeDoc): void {
    const sigs = this.sigs
    if (this.governance === undefined || sigs === undefined) return
    const todo = doc.getHeads().filter((h) => !sigs.has(h))
    if (todo.length === 0) return
    if (!this.governance.mayWriteLocally().ok) return // may no longer sign as a writer
    const seen = new Set<string>()
    for (let h = todo.pop(); h !== undefined; h = todo.pop()) {
      if (seen.has(h) || sigs.has(h)) continue
      seen.add(h)
      const change = doc.getChangeByHash(h)
      if (change === null || change === undefined) continue
      log.warn(`signing change ${h.slice(0, 12)} of ${this.id}, stored before its signature`)
      this.sign(h)
      todo.push(...am().decodeChange(change).deps)
    }
  }

  /** Merges maps that peers created concurrently at one path (conflicts.ts), where allowed. */
  repair(doc: AutomergeDoc, patches: Patch[]): void {
    for (const path of conflictPaths(patches)) this.conflicted.set(JSON.stringify(path), path)
    if (this.conflicted.size === 0) return
    // The repair is a change of this tab's, signed by its user: never where they may not write
    // (a reader would sign a change every member refuses), nor where the governance says no (the
    // space document: it would launder what a hidden map holds). The paths stay noted.
    const g = this.governance
    if (g !== undefined && !(g.mayRepair?.() ?? g.mayWriteLocally().ok)) return
    const w = this.writes?.key()
    if (w !== undefined && w.secret === undefined) return // a reader of a free document
    // nor under another identity's owned top-level key (spaces/owned.ts): those paths stay noted
    const paths = [...this.conflicted.values()].filter(
      (p) => g === undefined || g.mayWriteLocally([String(p[0])]).ok,
    )
    const copied = repairMapConflicts(doc, paths)
    if (copied > 0) log.info(`merged ${copied} entries of concurrently created maps in ${this.id}`)
  }
}
