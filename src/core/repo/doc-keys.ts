/**
 * Each document's read key: the capability to find it and to sync it (issue 15). A document id
 * alone opens nothing: the discovery topic and the interest tag a peer must show before it is
 * served are both derived from the key, so neither the relay nor anyone holding only the id can
 * find a document's peers or make a member's tab serve it.
 *
 * Keys are kept in the profile (`['doc-key', id]`, shared by its tabs) and in memory. A document
 * without a key (a link from before keys existed, an id typed by hand) stays local: it is neither
 * announced nor served.
 *
 * A free document's write key (keys/write-key.ts) is kept beside its read key (`['doc-writer',
 * id]`): its writer's public key, or the secret itself where this profile may write. Once a
 * profile knows a document's writer it never forgets it: a link without one, or with another,
 * cannot turn a read-only document writable.
 */
import { equalBytes, fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes'
import { CryptoError, describeError, err, ok, type Result } from '../errors'
import { docTopic, interestKey, interestTag, parseDocId, type DocId } from '../ids'
import {
  writeKeyFromPublic,
  writeKeyFromSecret,
  writeTag,
  WRITE_SECRET_BYTES,
  type WriteKey,
} from '../keys/write-key'
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
  private readonly writers = new Map<DocId, WriteKey>()
  /** keys set here and not stored yet: another tab's news (a reload) does not undo them */
  private readonly unsaved = new Set<DocId>()
  /** the write-key records as storage holds them (as far as this tab knows) */
  private readonly stored = new Map<DocId, string>()
  /** the first load is under way: a key the profile held wins over one set meanwhile */
  private first = true
  /** a document's write key was learned, or its secret (from storage, another tab, or a link) */
  writerChanged: (id: DocId) => void = () => undefined
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

  /** The document's write key as this tab knows it (none: anyone with the read key writes). */
  writeKey(id: DocId): WriteKey | undefined {
    return this.writers.get(id)
  }

  /** The tag this tab shows `toPeer` to show it writes the document (holds its write secret). */
  writeTag(id: DocId, fromPeer: string, toPeer: string): Uint8Array | undefined {
    const w = this.writers.get(id)
    return w === undefined ? undefined : writeTag(w, fromPeer, toPeer)
  }

  /**
   * Keeps what a link or the document's maker knows of its write key, in memory at once (before
   * any sync is taken) and then in storage. A secret upgrades a writer it matches; a writer that
   * differs from the one held (here or, once loaded, in storage) is refused (WRONG_KEY) and
   * changes nothing. Resolves to whether storage changed.
   */
  async setWriteKey(id: DocId, w: WriteKey): Promise<boolean> {
    const kept = mergeWriteKeys(id, this.writers.get(id), w)
    if (!kept.ok) throw kept.error
    if (kept.value !== this.writers.get(id)) {
      this.writers.set(id, kept.value)
      this.writerChanged(id)
    }
    await this.loaded
    // the load merged what storage held: a secret stays; a writer it held wins over this one
    const now = this.writers.get(id)
    if (now === undefined || !equalBytes(now.pub, w.pub)) throw wrongWriter(id)
    const record = encodeWriteKey(now)
    if (this.stored.get(id) === record) return false
    await this.storage.save(['doc-writer', id], utf8(record))
    this.stored.set(id, record)
    return true
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
      // writers first: a document is announced (its read key learned) only with its writer known,
      // or a tab would take it for one without a write key until the writers load
      for (const c of await this.storage.loadRange(['doc-writer'])) {
        const id = c.key[1] ?? ''
        const w = parseDocId(id).ok ? decodeWriteKey(id, fromUtf8(c.data)) : undefined
        if (w === undefined) {
          log.warn(`ignoring an unreadable write key ${c.key.join('/')}`)
          continue
        }
        this.stored.set(id, fromUtf8(c.data))
        const held = this.writers.get(id)
        const kept = mergeWriteKeys(id, w, held) // what storage held wins a conflict
        const next = kept.ok ? kept.value : w
        if (!kept.ok) log.warn(`${kept.error.message}: keeping the stored one`)
        if (next !== held) {
          this.writers.set(id, next)
          this.writerChanged(id)
        }
      }
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

/** `held` with what `incoming` adds (the secret of the same writer), or WRONG_KEY. */
function mergeWriteKeys(
  id: DocId,
  held: WriteKey | undefined,
  incoming: WriteKey | undefined,
): Result<WriteKey, CryptoError> {
  if (held === undefined || incoming === undefined) return ok((held ?? incoming) as WriteKey)
  if (!equalBytes(held.pub, incoming.pub)) return err(wrongWriter(id))
  return ok(held.secret === undefined && incoming.secret !== undefined ? incoming : held)
}

function wrongWriter(id: DocId): CryptoError {
  return new CryptoError(
    'WRONG_KEY',
    `this link's write key is not the one of document ${id} this browser holds; ask for a new link`,
  )
}

/** `s:<secret>` where this profile writes, `p:<writer>` where it reads. */
function encodeWriteKey(w: WriteKey): string {
  return w.secret !== undefined ? `s:${toBase64Url(w.secret)}` : `p:${toBase64Url(w.pub)}`
}

function decodeWriteKey(id: DocId, s: string): WriteKey | undefined {
  const bytes = fromBase64Url(s.slice(2))
  if (bytes?.length !== WRITE_SECRET_BYTES) return undefined
  if (s.startsWith('s:')) return writeKeyFromSecret(id, bytes)
  if (s.startsWith('p:')) return writeKeyFromPublic(bytes)
  return undefined
}
