/**
 * What the releases service remembers about each remote peer, kept apart from the streams so the
 * rules are plain code: the app keys a connected peer subscribed to (forgotten when it
 * disconnects), the releases waiting to be pushed to it (bounded: on overflow the oldest go, the
 * newest is what matters), a token bucket on what it sends us, and strikes. Strikes and buckets
 * outlive a connection, so reconnecting does not wipe the slate: after `maxStrikes` strikes a
 * peer is ignored for `ignoreMs`, then starts again from zero.
 */
import { TokenBucket } from '../firewall/bucket'
import type { AppManifest, CidString } from '../blocks/types'

/** A verified manifest: the latest known release of an app. */
export interface Release {
  cid: CidString
  manifest: AppManifest
  /** the manifest block, exactly as signed */
  bytes: Uint8Array
}

/** Newer: a later createdAt, or the same and a greater CID (every peer picks the same one). */
export function isNewer(a: Release, b: Release): boolean {
  const at = a.manifest.createdAt
  const bt = b.manifest.createdAt
  return at > bt || (at === bt && a.cid > b.cid)
}

export interface BookLimits {
  /** announcements (and queries) a peer may send at once */
  announceBurst: number
  /** and per second after that */
  announcesPerSecond: number
  maxStrikes: number
  ignoreMs: number
  /** app keys one peer may subscribe to; more are ignored */
  maxSubscriptionsPerPeer: number
  /** releases waiting to be pushed to one peer */
  maxQueuedPerPeer: number
}

/** A connected peer that speaks the protocol. */
export interface LivePeer {
  subscriptions: Set<string>
  queue: Release[]
  pushing: boolean
}

interface Standing {
  strikes: number
  ignoredUntil: number
}

export class PeerBook {
  private readonly live = new Map<string, LivePeer>()
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly records = new Map<string, Standing>()

  constructor(private readonly limits: BookLimits) {}

  /** The peer's state, made when identify says it speaks the protocol or when it queries us. */
  join(peer: string): LivePeer {
    let p = this.live.get(peer)
    if (p === undefined) {
      p = { subscriptions: new Set(), queue: [], pushing: false }
      this.live.set(peer, p)
    }
    return p
  }

  get(peer: string): LivePeer | undefined {
    return this.live.get(peer)
  }

  peers(): string[] {
    return [...this.live.keys()]
  }

  /** Records subscriptions; returns how many keys were over the limit (and ignored). */
  subscribe(peer: string, keys: string[]): number {
    const subs = this.join(peer).subscriptions
    let over = 0
    for (const k of keys) {
      if (subs.has(k)) continue
      if (subs.size >= this.limits.maxSubscriptionsPerPeer) over++
      else subs.add(k)
    }
    return over
  }

  subscribers(key: string): string[] {
    const out: string[] = []
    for (const [peer, p] of this.live) if (p.subscriptions.has(key)) out.push(peer)
    return out
  }

  /**
   * Peers subscribed to an app of this name under any publisher key (keys are
   * `<did:key>/<name>`, and a did:key has no slash).
   */
  subscribersOfName(name: string): string[] {
    const out: string[] = []
    for (const [peer, p] of this.live) {
      for (const k of p.subscriptions) {
        if (k.slice(k.indexOf('/') + 1) === name) {
          out.push(peer)
          break
        }
      }
    }
    return out
  }

  /** Queues a release for a peer (once per CID); returns false when the peer is not connected. */
  enqueue(peer: string, release: Release): boolean {
    const p = this.live.get(peer)
    if (p === undefined) return false
    if (p.queue.some((r) => r.cid === release.cid)) return true
    p.queue.push(release)
    if (p.queue.length > this.limits.maxQueuedPerPeer) p.queue.shift()
    return true
  }

  /** The peer disconnected: its subscriptions and queue go; strikes and its bucket stay. */
  forget(peer: string, now: number): void {
    const p = this.live.get(peer)
    if (p !== undefined) p.queue.length = 0
    this.live.delete(peer)
    if (this.buckets.get(peer)?.isFull(now) === true) this.buckets.delete(peer)
    const r = this.records.get(peer)
    if (r !== undefined && r.ignoredUntil <= now && r.strikes === 0) this.records.delete(peer)
  }

  /** Takes one token from the peer's bucket: false when it sends faster than allowed. */
  take(peer: string, now: number): boolean {
    let b = this.buckets.get(peer)
    if (b === undefined) {
      const { announcesPerSecond, announceBurst } = this.limits
      b = new TokenBucket(announcesPerSecond, 1000, announceBurst, now)
      this.buckets.set(peer, b)
    }
    return b.tryTake(1, now)
  }

  /** Records a strike; true when this one makes the peer ignored. */
  strike(peer: string, now: number): boolean {
    let r = this.records.get(peer)
    if (r === undefined) this.records.set(peer, (r = { strikes: 0, ignoredUntil: 0 }))
    if (r.ignoredUntil > now) return false
    r.strikes++
    if (r.strikes < this.limits.maxStrikes) return false
    r.strikes = 0
    r.ignoredUntil = now + this.limits.ignoreMs
    return true
  }

  isIgnored(peer: string, now: number): boolean {
    return (this.records.get(peer)?.ignoredUntil ?? 0) > now
  }

  clear(): void {
    for (const p of this.live.values()) p.queue.length = 0
    this.live.clear()
    this.buckets.clear()
    this.records.clear()
  }
}
