/**
 * One document's side of the other tabs of this profile: chunks they stored (and checked) wait
 * here for the next flush, and the chunks this tab could not store before its page went away
 * go to them at once, so one of them stores them.
 */
import type { AutomergeDoc } from '../automerge'
import { concatBytes } from '../bytes'
import { describeError } from '../errors'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import type { DocStore } from '../storage/doc-store'
import type { StorageOp } from '../storage/types'
import type { TabBus } from '../tabs/bus'
import { decodeSigRecords, encodeSigRecords, type SigStore } from './sigs'

const log = createLogger('doc')

export interface TabLink {
  tabId: string
  bus: TabBus | undefined
  sigs?: SigStore
}

export class TabInbox {
  /** `unstored`: sent as that tab went away, not known to be on disk */
  private chunks: { data: Uint8Array; unstored: boolean }[] = []

  constructor(
    private readonly id: DocId,
    private readonly store: DocStore,
    private readonly link: TabLink,
  ) {}

  /**
   * A chunk another tab of this profile stored (and checked). `unstored`: it sent the chunk as
   * its page went away, before its last write was known to be on disk; this tab stores it too.
   */
  receive(data: Uint8Array, sigs: Uint8Array | undefined, unstored: boolean): void {
    if (sigs !== undefined) {
      const fresh = this.link.sigs?.add(decodeSigRecords(sigs)) ?? []
      if (unstored) this.store.saveSigs(encodeSigRecords(fresh))
    }
    if (data.length > 0) this.chunks.push({ data, unstored })
    if (!unstored) {
      if (data.length > 0) this.store.noteStoredElsewhere('c', data)
      if (sigs !== undefined) this.store.noteStoredElsewhere('g', sigs)
    }
  }

  /**
   * What other tabs of the profile stored that never reached this one (a tab that went away, a
   * message lost on the way): read from disk, where it was checked when it was stored.
   */
  async catchUp(): Promise<number> {
    const { chunks, sigs } = await this.store.loadUnknown()
    for (const s of sigs) this.link.sigs?.add(decodeSigRecords(s))
    for (const data of chunks) this.chunks.push({ data, unstored: false })
    return chunks.length
  }

  /** Loads the waiting chunks into `doc`; whether there were any. */
  apply(doc: AutomergeDoc): boolean {
    if (this.chunks.length === 0) return false
    const chunks = this.chunks
    this.chunks = []
    for (const c of chunks) {
      try {
        doc.loadIncremental(c.data)
        if (c.unstored) this.store.saveIncremental(c.data)
      } catch (e) {
        log.error(`a chunk from another tab did not load: ${describeError(e)}`)
      }
    }
    // Another tab stored these already: advance the incremental cursor without storing again.
    doc.saveIncremental()
    return true
  }

  /**
   * The page is going away: the writes still queued, for the caller to hand to the disk; the
   * other tabs get their chunks and signatures at once and store them too.
   */
  handOver(): StorageOp[] {
    const { ops, chunks, sigs } = this.store.pendingPuts()
    if (ops.length > 0)
      this.link.bus?.post({
        t: 'chunk',
        doc: this.id,
        data: concatBytes(chunks),
        from: this.link.tabId,
        unstored: true,
        ...(sigs.length > 0 ? { sigs: concatBytes(sigs) } : {}),
      })
    return ops
  }
}
