/**
 * Each document's read key: the capability to find it and to sync it (issue 15). A document id
 * alone opens nothing: the discovery topic and the interest tag a peer must show before it is
 * served are both derived from the key, so neither the relay nor anyone holding only the id can
 * find a document's peers or make a member's tab serve it.
 *
 * Keys are kept in the profile (`['doc-key', id]`, shared by its tabs) and in memory. A document
 * without a key (a link from before keys existed, an id typed by hand) stays local: it is neither
 * announced nor served.
 */
import { equalBytes, fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes'
import { describeError } from '../errors'
import { docTopic, interestKey, interestTag, parseDocId, type DocId } from '../ids'
import { createLogger } from '../log'
import type { StorageAdapter } from '../storage/types'

const log = createLogger('repo')

export const DOC_KEY_BYTES = 32

interface Keyed {
  key: Uint8Array
  /** the discovery topic: what the relay sees */
  topic: Uint8Array
  /** what the interest tags are made with */
  interest: Uint8Array
}

export class DocKeys {
  private readonly keys = new Map<DocId, Keyed>()
  /** keys set here and not stored yet: another tab's news (a reload) does not undo them */
  private readonly unsaved = new Set<DocId>()
  /** the first load is under way: a key the profile held wins over one set meanwhile */
  private first = true
  /** resolves when the keys in storage are loaded (again, after another tab added one) */
  loaded: Promise<void>

  constructor(
    private readonly storage: StorageAdapter,
    /** a key was learned, or replaced another (from storage, another tab, or `set`) */
    private readonly changed: (id: DocId, replaced: boolean) => void,
  ) {
    this.loaded = this.load()
  }

  has(id: DocId): boolean {
    return this.keys.has(id)
  }

  get(id: DocId): Uint8Array | undefined {
    return this.keys.get(id)?.key
  }

  /** The document's discovery topic, or undefined without a key. */
  topic(id: DocId): Uint8Array | undefined {
    return this.keys.get(id)?.topic
  }

  /** The tag this tab shows `toPeer` for a document (see `interestTag`), or undefined. */
  interestTag(id: DocId, fromPeer: string, toPeer: string): Uint8Array | undefined {
    const k = this.keys.get(id)
    return k === undefined ? undefined : interestTag(k.interest, fromPeer, toPeer)
  }

  /**
   * Keeps a document's key: in memory at once (the document can be announced while the keys in
   * storage are still loading: a share link at boot), in storage before the promise resolves.
   * A key the profile already held for the document wins over it (it replaces this one when the
   * load finishes; nothing is stored then). Resolves to whether this key was new and stored.
   */
  async set(id: DocId, key: Uint8Array): Promise<boolean> {
    if (key.length !== DOC_KEY_BYTES)
      throw new RangeError(`a document key is ${DOC_KEY_BYTES} bytes`)
    if (!this.remember(id, key)) return false
    this.unsaved.add(id)
    try {
      await this.loaded
      const kept = this.keys.get(id)?.key
      if (kept === undefined || !equalBytes(kept, key)) return false
      await this.storage.save(['doc-key', id], utf8(toBase64Url(key)))
      return true
    } finally {
      this.unsaved.delete(id)
    }
  }

  /** Reads the keys again (another tab added one). */
  reload(): void {
    this.loaded = this.loaded.then(() => this.load())
  }

  private remember(id: DocId, key: Uint8Array): boolean {
    const known = this.keys.get(id)
    if (known !== undefined && equalBytes(known.key, key)) return false
    this.keys.set(id, {
      key: key.slice(),
      topic: docTopic(id, key),
      interest: interestKey(id, key),
    })
    this.changed(id, known !== undefined)
    return true
  }

  private async load(): Promise<void> {
    try {
      for (const c of await this.storage.loadRange(['doc-key'])) {
        const id = c.key[1] ?? ''
        const key = fromBase64Url(fromUtf8(c.data))
        if (!parseDocId(id).ok || key?.length !== DOC_KEY_BYTES) {
          log.warn(`ignoring an unreadable document key ${c.key.join('/')}`)
          continue
        }
        if (!this.first && this.unsaved.has(id)) continue // set here since: newer than storage
        this.remember(id, key)
      }
    } catch (e) {
      log.error(`could not read the documents' keys: ${describeError(e)}`)
    } finally {
      this.first = false
    }
  }
}
