/**
 * Which peer has shown it holds which document's read key (issue 15). A peer shows it with
 * INTEREST tags (`interestTag`: a MAC of both peer ids under a key derived from the document's
 * read key); the repo serves a document to a peer, and takes its SYNC messages for it, only once
 * that peer's tag for it matched.
 *
 * Matching a tag looks it up in the peer's index: one tag per document this tab has (stored or
 * open) and holds a key for, extended as documents become both, rebuilt only when a key is
 * replaced. A tag naming nothing costs a lookup, not a MAC per document: an INTEREST flood must
 * not cost its victim more than it costs the sender.
 */
import { bytesToHex } from '../bytes'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import { MAX_TOPICS_PER_SESSION } from '../sync/messages'
import type { SyncPeer } from '../sync/peer'
import type { DocKeys } from './doc-keys'

const log = createLogger('repo')

/** INTEREST tags remembered per peer (a document we open later starts syncing with them) */
const MAX_REMOTE_TAGS = MAX_TOPICS_PER_SESSION

export class KeyProofs {
  /** the interest tags (hex) each peer sent */
  private readonly tags = new Map<SyncPeer, Set<string>>()
  /** per peer: the documents whose tags matched ours */
  private readonly proven = new Map<SyncPeer, Set<DocId>>()
  /** every document this tab knows (records, open, opening) */
  private readonly known = new Set<DocId>()
  /**
   * the documents a tag can name: known here (a tab serves what it has, not every document it
   * holds a key for) and keyed, in the order they became both
   */
  private indexed: DocId[] = []
  /** per peer: the write tag (hex) it would show for each document, null where we cannot tell */
  private readonly writeTags = new Map<SyncPeer, Map<DocId, string | null>>()
  /** per peer: its tag (hex) of each indexed document, for `indexed[0, upTo)` */
  private readonly index = new Map<SyncPeer, { tags: Map<string, DocId>; upTo: number }>()

  constructor(private readonly keys: DocKeys) {}

  /** A document this tab knows now (a record, or opening). */
  learn(id: DocId): void {
    if (this.known.has(id)) return
    this.known.add(id)
    if (this.keys.has(id)) this.indexed.push(id)
  }

  /** A document's key was learned, or replaced another (whose tags must stop naming it). */
  keyed(id: DocId, replaced: boolean): void {
    if (replaced) {
      this.indexed = this.indexed.filter((k) => k !== id)
      this.index.clear()
      for (const ids of this.proven.values()) ids.delete(id)
    }
    if (this.known.has(id)) this.indexed.push(id) // (not there: it had no key, or was filtered)
  }

  /** The peers that have sent tags. */
  peers(): IterableIterator<SyncPeer> {
    return this.tags.keys()
  }

  /** Keeps a peer's tags (up to MAX_REMOTE_TAGS); returns them as hex. */
  record(peer: SyncPeer, tags: readonly Uint8Array[]): string[] {
    let known = this.tags.get(peer)
    if (known === undefined) this.tags.set(peer, (known = new Set()))
    const hexes = tags.map(bytesToHex)
    for (const hex of hexes) {
      if (known.size >= MAX_REMOTE_TAGS || known.has(hex)) continue
      known.add(hex)
      if (known.size === MAX_REMOTE_TAGS)
        log.info(`${peer.remotePeer.slice(-8)}: ${MAX_REMOTE_TAGS} interest tags, no more kept`)
    }
    return hexes
  }

  /** The documents these tags of a peer prove that were not proven before. */
  match(peer: SyncPeer, hexes: readonly string[]): DocId[] {
    let proven = this.proven.get(peer)
    if (proven === undefined) this.proven.set(peer, (proven = new Set()))
    const fresh: DocId[] = []
    for (const hex of hexes) {
      const id = this.docForTag(peer, hex)
      if (id === undefined || proven.has(id)) continue
      proven.add(id)
      fresh.push(id)
    }
    return fresh
  }

  /**
   * Whether a peer showed it holds a document's key. Remembered, so a SYNC costs a set lookup;
   * a tag that came before this tab had the key is checked here, once.
   */
  has(peer: SyncPeer, id: DocId): boolean {
    let proven = this.proven.get(peer)
    if (proven?.has(id) === true) return true
    const tag = this.keys.interestTag(id, peer.remotePeer, peer.localPeer)
    if (tag === undefined || this.tags.get(peer)?.has(bytesToHex(tag)) !== true) return false
    if (proven === undefined) this.proven.set(peer, (proven = new Set()))
    proven.add(id)
    return true
  }

  /**
   * Whether a peer showed it holds a free document's write secret (its write tag, see
   * keys/write-key.ts): its changes then need no writer's signature. Only a writer can tell.
   */
  isWriter(peer: SyncPeer, id: DocId): boolean {
    let expected = this.writeTags.get(peer)
    if (expected === undefined)
      this.writeTags.set(peer, (expected = new Map<DocId, string | null>()))
    let hex = expected.get(id)
    if (hex === undefined) {
      // one MAC per peer and document, however often asked, whatever the peer sends
      const tag = this.keys.writeTag(id, peer.remotePeer, peer.localPeer)
      expected.set(id, (hex = tag === undefined ? null : bytesToHex(tag)))
    }
    return hex !== null && this.tags.get(peer)?.has(hex) === true
  }

  /** This tab learned a document's write secret (or writer): its writers are found again. */
  writeKeyed(id: DocId): void {
    for (const expected of this.writeTags.values()) expected.delete(id)
  }

  forget(peer: SyncPeer): void {
    this.writeTags.delete(peer)
    this.tags.delete(peer)
    this.proven.delete(peer)
    this.index.delete(peer)
  }

  private docForTag(peer: SyncPeer, hex: string): DocId | undefined {
    let index = this.index.get(peer)
    if (index === undefined) this.index.set(peer, (index = { tags: new Map(), upTo: 0 }))
    for (; index.upTo < this.indexed.length; index.upTo++) {
      const id = this.indexed[index.upTo] as DocId
      const tag = this.keys.interestTag(id, peer.remotePeer, peer.localPeer)
      if (tag !== undefined) index.tags.set(bytesToHex(tag), id)
    }
    return index.tags.get(hex)
  }
}
