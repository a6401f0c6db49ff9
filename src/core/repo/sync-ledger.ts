/**
 * What each peer has told one document, for its sync state (doc-state.ts): whether it answered,
 * the heads it announced (does it hold anything, are we behind it), how much it sent, and the
 * last time a peer confirmed every change we have. The DocHandle feeds it at three points: a
 * peer attaches or detaches, a sync message arrives, and a flush has applied what arrived.
 */
import type { SyncPeer } from '../sync/peer'
import { sameHeads } from '../heads'
import type { Confirmation, PeerSyncFacts } from './doc-state'

interface PeerRecord {
  heard: boolean
  /** heads from its latest message */
  heads: string[]
  /** some of those heads are not in our document */
  ahead: boolean
  /** messages received and not yet applied by a flush */
  pending: boolean
  changes: number
  bytes: number
}

export class SyncLedger {
  private readonly peers = new Map<SyncPeer, PeerRecord>()
  private last: Confirmation | undefined

  constructor(confirmation?: Confirmation) {
    this.last = confirmation
  }

  get confirmation(): Confirmation | undefined {
    return this.last
  }

  attach(peer: SyncPeer): void {
    if (peer.mirror === true) return // a mirror confirms as a mirror (mirror-sync.ts), not here
    if (!this.peers.has(peer))
      this.peers.set(peer, {
        heard: false,
        heads: [],
        ahead: false,
        pending: false,
        changes: 0,
        bytes: 0,
      })
  }

  detach(peer: SyncPeer): void {
    this.peers.delete(peer)
  }

  /**
   * A sync message arrived (not applied yet). Returns true when that changes the state by itself
   * (its first message, or it turns out to hold something or nothing); the flush that applies it
   * follows within the task and reports the rest.
   */
  heard(peer: SyncPeer, heads: string[], changes: Uint8Array[]): boolean {
    const r = this.peers.get(peer)
    if (r === undefined) return false
    const changed = !r.heard || r.heads.length > 0 !== heads.length > 0
    r.heard = true
    r.heads = heads
    r.pending = true
    r.changes += changes.length
    for (const c of changes) r.bytes += c.length
    return changed
  }

  /**
   * After a flush: which peers we are still behind (`missing` lists the given heads our document
   * lacks; asked only when a peer's heads are not among ours), and a confirmation from a peer that
   * answered and holds all of our (non-empty) heads. Returns the new confirmation when there is
   * one, and whether the peers' facts changed.
   */
  flushed(
    heads: string[],
    answered: Iterable<SyncPeer>,
    missing: (hashes: string[]) => string[],
    holdsAll: (peer: SyncPeer) => boolean,
    now: number,
  ): { changed: boolean; confirmed: Confirmation | undefined } {
    let changed = false
    const ours = new Set(heads)
    for (const [peer, r] of this.peers) {
      const ahead = r.heads.every((h) => ours.has(h)) ? false : missing(r.heads).length > 0
      if (ahead !== r.ahead) changed = true
      r.ahead = ahead
      if (r.pending && isIn(peer, answered)) r.pending = false
    }
    let confirmed: Confirmation | undefined
    // the first peer to confirm these heads says with whom and when; later ones repeat it
    if (heads.length > 0 && (this.last === undefined || !sameHeads(this.last.heads, heads))) {
      for (const peer of answered) {
        if (!this.peers.has(peer) || !holdsAll(peer)) continue
        confirmed = { with: peer.identity ?? peer.remotePeer, at: now, heads: [...heads] }
        this.last = confirmed
        changed = true
        break
      }
    }
    return { changed, confirmed }
  }

  facts(): PeerSyncFacts[] {
    return [...this.peers].map(([peer, r]) => ({
      peer: peer.remotePeer,
      who: peer.identity ?? peer.remotePeer,
      heard: r.heard,
      hasContent: r.heads.length > 0,
      ahead: r.ahead,
      pending: r.pending,
      changes: r.changes,
      bytes: r.bytes,
    }))
  }
}

function isIn<T>(x: T, xs: Iterable<T>): boolean {
  for (const y of xs) if (y === x) return true
  return false
}
