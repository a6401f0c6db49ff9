/**
 * The record each known document keeps in storage (`['meta', id]`): when it was made and
 * opened, what is still waiting for a peer, who last synced it and confirmed our heads. Records
 * outlive the documents' handles: they are the list of documents a tab shows before opening any.
 */
import { fromUtf8, utf8 } from '../bytes'
import { describeError } from '../errors'
import { parseDocId, type DocId } from '../ids'
import { createLogger } from '../log'
import { scheduleWrite } from '../schedule'
import type { StorageAdapter } from '../storage/types'

const log = createLogger('repo')

export interface DocMeta {
  id: DocId
  createdAt: number
  openedAt: number
  /** local changes not yet confirmed by any peer when this was last written */
  unsynced?: number
  /** when this document last heard from a peer, and who (identity when known, else peer id) */
  lastSyncAt?: number
  lastSyncWith?: string
  /** made in this browser (`create`): empty is then its true content, not "not arrived yet" */
  created?: boolean
  /** when a peer last confirmed having all of our heads, who, and those heads (doc-state.ts) */
  confirmedAt?: number
  confirmedWith?: string
  confirmedHeads?: string[]
  /** the document's title (its top-level `title` string), for lists that show names, not ids */
  title?: string
}

export class DocRecords {
  private readonly meta = new Map<DocId, DocMeta>()
  private readonly timers = new Map<DocId, ReturnType<typeof setTimeout>>()
  /** documents whose record changed since it was last written */
  private readonly dirty = new Set<DocId>()
  /** record writes under way */
  private readonly writes = new Set<Promise<void>>()
  /** resolves when the records in storage are loaded (again, after another tab made one) */
  loaded: Promise<void>

  constructor(
    private readonly storage: StorageAdapter,
    /** a record was read from storage (the repo learns its document id) */
    private readonly found: (id: DocId) => void,
    /** the list of documents or one of their records changed */
    private readonly changed: () => void,
  ) {
    this.loaded = this.load()
  }

  get(id: DocId): DocMeta | undefined {
    return this.meta.get(id)
  }

  has(id: DocId): boolean {
    return this.meta.has(id)
  }

  /** The records as loaded so far, newest first. */
  all(): DocMeta[] {
    return [...this.meta.values()].sort((a, b) => b.openedAt - a.openedAt)
  }

  /** Reads the records again (another tab made a document). */
  reload(): void {
    this.loaded = this.loaded.then(() => this.load()).then(() => this.changed())
  }

  private async load(): Promise<void> {
    try {
      for (const c of await this.storage.loadRange(['meta'])) {
        try {
          const m = JSON.parse(fromUtf8(c.data)) as DocMeta
          if (
            parseDocId(m.id).ok &&
            typeof m.createdAt === 'number' &&
            typeof m.openedAt === 'number'
          ) {
            this.meta.set(m.id, m)
            this.found(m.id)
          }
        } catch {
          log.warn(`ignoring unreadable document record ${c.key.join('/')}`)
        }
      }
    } catch (e) {
      log.error(`could not list stored documents: ${describeError(e)}`)
    }
  }

  /** The document was opened now: its record is made or updated and written. */
  async touch(id: DocId): Promise<void> {
    await this.loaded
    const now = Date.now()
    const m = this.meta.get(id) ?? { id, createdAt: now, openedAt: now }
    m.openedAt = now
    this.meta.set(id, m)
    try {
      await this.storage.save(['meta', id], utf8(JSON.stringify(m)))
    } catch (e) {
      log.warn(`could not record document ${id}: ${describeError(e)}`)
    }
    this.changed()
  }

  /**
   * Updates a document's record. Writes are coalesced (sync events come in bursts), except when
   * the "waiting" count goes to or from zero: that must survive a reload that follows at once.
   * It goes with the next group commit (scheduleWrite, the document's own chunks' too); a page
   * going away writes it at once (`writeDirty`).
   */
  update(id: DocId, patch: Partial<DocMeta>): void {
    const m = this.meta.get(id)
    if (m === undefined) return
    const crossesZero =
      patch.unsynced !== undefined && (patch.unsynced === 0) !== ((m.unsynced ?? 0) === 0)
    Object.assign(m, patch)
    this.dirty.add(id)
    if (crossesZero) {
      scheduleWrite(() => {
        if (this.dirty.has(id)) void this.write(id)
      })
      return
    }
    if (this.timers.has(id)) return
    this.timers.set(
      id,
      setTimeout(() => void this.write(id), 1000),
    )
  }

  write(id: DocId): Promise<void> {
    clearTimeout(this.timers.get(id))
    this.timers.delete(id)
    this.dirty.delete(id)
    const m = this.meta.get(id)
    if (m === undefined) return Promise.resolve()
    this.changed()
    const written = this.storage
      .save(['meta', id], utf8(JSON.stringify(m)))
      .catch((e: unknown) => log.warn(`could not record ${id}: ${describeError(e)}`))
      .finally(() => this.writes.delete(written))
    this.writes.add(written)
    return written
  }

  /** Starts writing every coalesced record now (the page is going away). */
  writeDirty(): void {
    for (const id of [...this.dirty]) void this.write(id)
  }

  /** Writes the coalesced records now; resolves when every record write has ended. */
  async writeAll(): Promise<void> {
    this.writeDirty()
    await Promise.all([...this.writes])
  }
}
