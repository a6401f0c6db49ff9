/**
 * The last value of each document as plain JSON, with the heads it was read at, stored beside the
 * document ([docId, 'v']). A page shows it before Automerge's wasm (~1 MB gzip) has even loaded:
 * the state API's subscribers get the cached value at once, then the live one when the document
 * has loaded, unless its heads are the cached ones (nothing changed since).
 *
 * It is a cache, never the truth: written from the live document a moment after it changes
 * (once things are quiet, at least every few seconds under constant change, and at once when
 * the page goes away), skipped for documents holding values JSON cannot carry (bytes, dates) or too
 * big to serialize cheaply (a long rich text among them), and ignored when unreadable.
 */
import { sameHeads } from '../heads'
import { fromUtf8, utf8 } from '../bytes'
import { describeError } from '../errors'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import { mark } from '../timings'
import type { StorageAdapter, StorageOp } from './types'

const log = createLogger('view-cache')

export interface CachedView {
  heads: string[]
  value: unknown
}

/** What the cache needs of an open document. */
export interface ViewSource {
  readonly id: DocId
  readonly isClosed: boolean
  /** commits pending local edits, like any read */
  readonly heads: string[]
  read(keys: readonly string[]): unknown
  /** bytes the document takes in storage: a bound on the cost of serializing it */
  readonly storedBytes: number
  /**
   * false when reading the whole document would be too slow to do every few seconds (a long
   * rich text: 162,000 characters took ~100 ms, a stall in the middle of typing); no view then
   */
  viewable?(): boolean
}

export interface ViewCacheOptions {
  /** write once the document has not changed for this long */
  quietMs?: number
  /** but at least this often while it keeps changing (per MiB of document, for a big one) */
  maxWaitMs?: number
  /** documents bigger than this in storage are not cached */
  maxStoredBytes?: number
}

const viewKey = (id: DocId): string[] => [id, 'v']
/** the heads of the view alone: checked when a document opens, without parsing the view */
const headsKey = (id: DocId): string[] => [id, 'vh']

class NotJson extends Error {}

/** JSON of `view`, or undefined when a value would not survive the round trip. */
export function encodeView(view: CachedView): string | undefined {
  try {
    return JSON.stringify(view, function (this: Record<string, unknown>, key, v: unknown) {
      const raw = this[key]
      if (raw instanceof Uint8Array || raw instanceof Date) throw new NotJson()
      if (typeof raw === 'number' && !Number.isFinite(raw)) throw new NotJson()
      return v
    })
  } catch (e) {
    if (e instanceof NotJson) return undefined
    throw e
  }
}

/** The value at `keys` inside a cached value (undefined when absent), as `readAt` would read it. */
export function pick(value: unknown, keys: readonly string[]): unknown {
  let cur = value
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9][0-9]*)$/.test(k)) return undefined
      cur = cur[Number(k)]
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, k)) return undefined
      cur = (cur as Record<string, unknown>)[k]
    }
  }
  return cur
}

export class ViewCache {
  private readonly due = new Map<
    DocId,
    { source: ViewSource; timer: ReturnType<typeof setTimeout>; since: number }
  >()
  private readonly reading = new Map<DocId, Promise<CachedView | undefined>>()
  /** the heads of each document's stored view, as far as this tab knows */
  private readonly stored = new Map<DocId, string[]>()
  private readonly quietMs: number
  private readonly maxWaitMs: number
  private readonly maxStoredBytes: number

  constructor(
    private readonly storage: StorageAdapter,
    opts: ViewCacheOptions = {},
  ) {
    this.quietMs = opts.quietMs ?? 300
    this.maxWaitMs = opts.maxWaitMs ?? 5_000
    this.maxStoredBytes = opts.maxStoredBytes ?? 8 * 1024 * 1024
  }

  /**
   * The stored view of a document, or undefined (none, or unreadable: then it is ignored).
   * Subscribers asking at the same time (a page's editor, an app, a probe) share one read and
   * one parse; like the live document's notifications, they share the value.
   */
  read(id: DocId): Promise<CachedView | undefined> {
    let p = this.reading.get(id)
    if (p === undefined) {
      p = this.readStored(id).finally(() => this.reading.delete(id))
      this.reading.set(id, p)
    }
    return p
  }

  private async readStored(id: DocId): Promise<CachedView | undefined> {
    mark('view-read-start')
    try {
      const bytes = await this.storage.load(viewKey(id))
      mark('view-bytes')
      if (bytes === undefined) return undefined
      const parsed = JSON.parse(fromUtf8(bytes)) as Partial<CachedView> | null
      if (
        parsed === null ||
        typeof parsed !== 'object' ||
        !Array.isArray(parsed.heads) ||
        !parsed.heads.every((h) => typeof h === 'string') ||
        !('value' in parsed)
      ) {
        log.warn(`ignoring a malformed cached view of ${id}`)
        return undefined
      }
      const view = { heads: parsed.heads, value: parsed.value }
      mark('view-read')
      this.stored.set(id, view.heads)
      return view
    } catch (e) {
      log.warn(`ignoring the cached view of ${id}: ${describeError(e)}`)
      return undefined
    }
  }

  /**
   * A document was opened: a view that is missing or behind it (written before a crash, or by
   * a tab that saw less) is written again.
   */
  async opened(source: ViewSource): Promise<void> {
    // known already when the page showed the view before Automerge loaded: no second read
    let heads = this.stored.get(source.id)
    if (heads === undefined) heads = await this.storedHeads(source.id)
    if (source.isClosed) return
    if (heads !== undefined) this.stored.set(source.id, heads)
    if (heads === undefined || !sameHeads(heads, source.heads)) this.changed(source)
  }

  private async storedHeads(id: DocId): Promise<string[] | undefined> {
    try {
      const bytes = await this.storage.load(headsKey(id))
      const parsed: unknown = bytes === undefined ? undefined : JSON.parse(fromUtf8(bytes))
      if (Array.isArray(parsed) && parsed.every((h) => typeof h === 'string')) return parsed
    } catch (e) {
      log.warn(`unreadable view heads of ${id}: ${describeError(e)}`)
    }
    return undefined
  }

  /** The document changed: its view is written once it is quiet (or has waited long enough). */
  changed(source: ViewSource): void {
    const now = Date.now()
    const entry = this.due.get(source.id)
    if (entry !== undefined) clearTimeout(entry.timer)
    const since = entry?.since ?? now
    // serializing costs main-thread time in proportion to the document: a big one that never
    // goes quiet is written less often (a 4 MB document at most every 20 s)
    const maxWait = this.maxWaitMs * Math.max(1, source.storedBytes / (1024 * 1024))
    const wait = Math.max(0, Math.min(this.quietMs, since + maxWait - now))
    this.due.set(source.id, {
      source,
      since,
      timer: setTimeout(() => void this.write(source.id), wait),
    })
  }

  /** Writes every view that is due, now (the page is going away, or a caller wants it on disk). */
  async flush(): Promise<void> {
    await Promise.all([...this.due.keys()].map((id) => this.write(id)))
  }

  /** Forgets a document (deleted): nothing more is written for it. */
  forget(id: DocId): void {
    const entry = this.due.get(id)
    if (entry !== undefined) clearTimeout(entry.timer)
    this.due.delete(id)
    this.stored.delete(id)
  }

  private async write(id: DocId): Promise<void> {
    const entry = this.due.get(id)
    if (entry === undefined) return
    clearTimeout(entry.timer)
    this.due.delete(id)
    const source = entry.source
    if (source.isClosed || source.storedBytes > this.maxStoredBytes) return
    let heads: string[]
    let json: string | undefined
    try {
      heads = source.heads
      const last = this.stored.get(id)
      if (last !== undefined && sameHeads(last, heads)) return
      json =
        source.viewable?.() === false ? undefined : encodeView({ heads, value: source.read([]) })
    } catch (e) {
      // the document closed or failed under us: no view this time, nothing else affected
      log.warn(`could not read ${id} for its view: ${describeError(e)}`)
      return
    }
    if (json === undefined) {
      // bytes or dates inside, or too long a text: a stale view must not stay behind either
      this.stored.delete(id)
      await this.storage
        .batch([
          { type: 'remove', key: viewKey(id) },
          { type: 'remove', key: headsKey(id) },
        ])
        .catch((e: unknown) => log.warn(`could not drop the view of ${id}: ${describeError(e)}`))
      return
    }
    this.stored.set(id, heads)
    const ops: StorageOp[] = [
      { type: 'put', key: viewKey(id), data: utf8(json) },
      { type: 'put', key: headsKey(id), data: utf8(JSON.stringify(heads)) },
    ]
    await this.storage.batch(ops).catch((e: unknown) => {
      this.stored.delete(id)
      log.warn(`could not cache the view of ${id}: ${describeError(e)}`)
    })
  }
}
