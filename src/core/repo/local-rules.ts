/**
 * The space's rules as they bear on this tab's own changes to one document: whether a write may
 * be made, the signature every committed change gets in a governed document, and the repair of
 * concurrently created maps (a change of this tab's too, so it obeys the same rules).
 */
import type { AutomergeDoc, Patch } from '../automerge'
import { conflictPaths, repairMapConflicts } from '../conflicts'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import type { DocStore } from '../storage/doc-store'
import { signChange, type Governance } from './governance'
import { encodeSigRecords, type SigStore } from './sigs'

const log = createLogger('doc')

export class LocalRules {
  /** places where concurrent maps were merged: later changes to the hidden map are merged too */
  private readonly conflicted = new Map<string, (string | number)[]>()

  constructor(
    private readonly id: DocId,
    private readonly store: DocStore,
    private readonly governance: Governance | undefined,
    private readonly sigs: SigStore | undefined,
  ) {}

  /** Throws the space's refusal when this tab may not write under these top-level keys. */
  assertWritable(rootKeys: readonly string[]): void {
    const may = this.governance?.mayWriteLocally(rootKeys)
    if (may !== undefined && !may.ok) throw may.error
  }

  /** Signs a change just committed here (governed documents); the record is queued for disk. */
  sign(hash: string): void {
    const g = this.governance
    if (g === undefined) return
    const identity = g.signer()
    if (identity === undefined) {
      log.error(`change ${hash.slice(0, 12)} of ${this.id} could not be signed: no identity`)
      return
    }
    const sig = signChange(identity, hash)
    // queued before the change's chunk: both reach the disk in one batch
    this.store.saveSigs(encodeSigRecords(this.sigs?.add([sig]) ?? []))
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
    // nor under another identity's owned top-level key (spaces/owned.ts): those paths stay noted
    const paths = [...this.conflicted.values()].filter(
      (p) => g === undefined || g.mayWriteLocally([String(p[0])]).ok,
    )
    const copied = repairMapConflicts(doc, paths)
    if (copied > 0) log.info(`merged ${copied} entries of concurrently created maps in ${this.id}`)
  }
}
