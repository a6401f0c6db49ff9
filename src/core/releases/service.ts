/**
 * Live releases as a libp2p service (a factory taking libp2p components, Startable): peers that
 * follow an app (publisher did:key + app name) learn of each new signed version through the mesh
 * within a round trip or two per hop, without polling.
 *
 * Following: a QUERY for the followed keys goes to every peer that speaks the protocol over a
 * direct connection, when we follow and when such a connection opens (after identify, once per
 * connection). The answer is the peer's latest for each key; the QUERY also subscribes us: while
 * we are connected, the peer pushes us every newer release of those keys (one stream per push,
 * queued per peer so versions arrive in order). Accepting a release (verified, of a followed key,
 * strictly newer by createdAt then CID) makes it our latest, emits `release`, and forwards it to
 * our own subscribers of that app name (under any key: they check the key) but the sender: so
 * releases cross any number of hops, and
 * loops end because only strictly newer releases travel. A publisher (or a seeding relay) calls
 * `publish`, which needs no following.
 *
 * Refused: bad signatures and malformed manifests (a strike: three strikes and the peer is
 * ignored for a minute), and manifests that name a followed app but are signed by another key.
 * Older or equal versions (rollbacks, replays) are dropped silently. Announcements and queries a
 * peer sends are rate limited (a token bucket per peer): beyond it the stream is closed. Never
 * over limited (relayed) connections; bad bytes close the stream, with a log line, and nothing
 * else. Peers only push what was asked of them, so there is no UNSUBSCRIBE: after `unfollow`
 * pushes may still come until the connection closes, and are ignored.
 */
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import type {
  ComponentLogger,
  Connection,
  IdentifyResult,
  Libp2pEvents,
  PeerId,
  Startable,
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { TypedEventTarget } from 'main-event'
import { appKey } from '../apps/topic'
import { jsonCid } from '../blocks/cid'
import { decodeManifest } from '../blocks/manifest'
import type { AppManifest, CidString } from '../blocks/types'
import { Emitter } from '../emitter'
import { err, InvalidValueError, ok, OrreryError, type Result } from '../errors'
import { serviceLogger } from '../log'
import { VersionedProtocol, type Spoken } from '../wire/versions'
import { keyProblem, type ReleaseKey } from './messages'
import { isNewer, PeerBook, type BookLimits, type Release } from './peer-book'
import { Exchange, peek, short, type ExchangeHost, type ReleaseCounters } from './exchange'

export { isNewer, type Release } from './peer-book'
export type { ReleaseKey } from './messages'

export interface ReleaseLimits extends BookLimits {
  /** per connection, as libp2p counts them */
  maxInboundStreams: number
  maxOutboundStreams: number
  /** to open a stream, and for a whole exchange on it (ms) */
  timeoutMs: number
}

export const DEFAULT_RELEASE_LIMITS: ReleaseLimits = {
  announceBurst: 20,
  announcesPerSecond: 5,
  maxStrikes: 3,
  ignoreMs: 60_000,
  maxSubscriptionsPerPeer: 256,
  maxQueuedPerPeer: 32,
  maxInboundStreams: 8,
  maxOutboundStreams: 8,
  timeoutMs: 10_000,
}

export interface ReleaseServiceInit {
  limits?: Partial<ReleaseLimits>
  /** the releases majors spoken (default: VERSIONS.releases; tests play other versions) */
  spoken?: Spoken
}

export interface ReleaseServiceComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  peerId: PeerId
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
}

export interface ReleaseEvents extends Record<string, unknown> {
  /** a newer valid release of a followed app arrived from `from` (a peer id) */
  release: { key: string; cid: CidString; manifest: AppManifest; from: string }
  /** an announcement that could not be accepted (publisher and name as far as they are known) */
  refused: { publisher: string; name: string; reason: string; from: string }
}

export interface ReleaseStats extends ReleaseCounters {
  following: number
  /** connected peers that speak the protocol */
  peers: number
}

export class ReleaseService implements Startable {
  readonly events = new Emitter<ReleaseEvents>()
  readonly limits: ReleaseLimits
  private readonly log = serviceLogger(this.components.logger, 'releases')
  private readonly latest = new Map<string, Release>()
  private readonly followed = new Map<string, ReleaseKey>()
  /** keys published here: kept when unfollowed */
  private readonly published = new Set<string>()
  private readonly book: PeerBook
  private readonly counters: ReleaseCounters = {
    announcesIn: 0,
    announcesOut: 0,
    refused: 0,
    protocolErrors: 0,
    throttled: 0,
  }
  private readonly exchange: Exchange
  private readonly protocol: VersionedProtocol
  /** followed since the last flush: queried in one QUERY per peer */
  private readonly toQuery = new Map<string, ReleaseKey>()
  private flushScheduled = false
  private started = false
  /** direct connections whose peer we queried when identify said it speaks the protocol */
  private readonly greeted = new WeakSet<Connection>()
  private readonly onIdentify = (e: CustomEvent<IdentifyResult>): void => {
    const { connection, protocols, peerId } = e.detail
    if (!this.started || connection.limits !== undefined || this.greeted.has(connection)) return
    if (this.protocol.agreement(protocols) !== 'common') return
    this.greeted.add(connection)
    const peer = peerId.toString()
    this.book.join(peer)
    const keys = this.following()
    if (keys.length > 0) void this.exchange.query(peer, keys, connection)
  }
  private readonly onDisconnect = (e: CustomEvent<PeerId>): void =>
    this.book.forget(e.detail.toString(), Date.now())

  constructor(
    private readonly components: ReleaseServiceComponents,
    init: ReleaseServiceInit,
  ) {
    this.limits = { ...DEFAULT_RELEASE_LIMITS, ...init.limits }
    this.book = new PeerBook(this.limits)
    this.protocol = new VersionedProtocol('releases', init.spoken)
    const host: ExchangeHost = {
      log: this.log,
      limits: this.limits,
      protocol: this.protocol,
      book: this.book,
      counters: this.counters,
      latest: (key) => this.latest.get(key),
      receive: (bytes, from) => this.receive(bytes, from),
      strike: (peer, why) => this.strike(peer, why),
      connections: () => this.components.connectionManager.getConnections(),
    }
    this.exchange = new Exchange(host)
  }

  readonly [Symbol.toStringTag] = '@orrery/releases'
  readonly [serviceCapabilities] = ['@orrery/releases']
  /** peers are queried when identify says they speak the protocol (`peer:identify`) */
  readonly [serviceDependencies] = ['@libp2p/identify']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(this.components.registrar, (s, c) => this.exchange.accept(s, c), {
      maxInboundStreams: this.limits.maxInboundStreams,
      maxOutboundStreams: this.limits.maxOutboundStreams,
      runOnLimitedConnection: false,
    })
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.exchange.restart()
    this.toQuery.clear() // what was followed before the start is asked when peers connect
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    await this.protocol.unhandle(this.components.registrar)
    this.exchange.stop()
    this.book.clear()
    this.toQuery.clear()
  }

  /**
   * Follows an app: asks every connected peer for its latest and to push newer ones. Throws
   * InvalidValueError when `publisher` is not an Ed25519 did:key or `name` not an app name.
   */
  follow(publisher: string, name: string): void {
    const problem = keyProblem({ publisher, name })
    if (problem !== undefined) throw new InvalidValueError(`follow: ${problem}`)
    const key = appKey({ publisher, name })
    if (this.followed.has(key)) return
    this.followed.set(key, { publisher, name })
    this.toQuery.set(key, { publisher, name })
    if (this.flushScheduled || !this.started) return
    this.flushScheduled = true
    setTimeout(() => this.flushQueries(), 0)
  }

  unfollow(publisher: string, name: string): void {
    const key = appKey({ publisher, name })
    this.followed.delete(key)
    this.toQuery.delete(key)
    if (!this.published.has(key)) this.latest.delete(key)
  }

  following(): ReleaseKey[] {
    return [...this.followed.values()].map((k) => ({ ...k }))
  }

  /**
   * Makes a signed manifest known (the publisher's side: a developer's relay, a seeding relay):
   * verifies it, keeps it as the latest of its app when it is newer than what we have, and then
   * pushes it to every connected peer subscribed to that app. The app need not be followed.
   */
  publish(
    bytes: Uint8Array,
  ): Result<{ cid: CidString; manifest: AppManifest; isLatest: boolean }, OrreryError> {
    const cid = jsonCid(bytes)
    const decoded = decodeManifest(bytes, cid)
    if (!decoded.ok) return err(decoded.error)
    const manifest = decoded.value
    const key = appKey(manifest)
    this.published.add(key)
    const isLatest = this.offer(key, { cid, manifest, bytes: bytes.slice() }, undefined)
    return ok({ cid, manifest, isLatest })
  }

  latestOf(publisher: string, name: string): Release | undefined {
    const r = this.latest.get(appKey({ publisher, name }))
    return r === undefined ? undefined : { ...r }
  }

  /** Connected peers subscribed to an app here (they get our pushes). */
  subscribersOf(publisher: string, name: string): string[] {
    return this.book.subscribers(appKey({ publisher, name }))
  }

  stats(): ReleaseStats {
    return { ...this.counters, following: this.followed.size, peers: this.book.peers().length }
  }

  private flushQueries(): void {
    this.flushScheduled = false
    const keys = [...this.toQuery.values()]
    this.toQuery.clear()
    if (!this.started || keys.length === 0) return
    for (const peer of this.book.peers()) void this.exchange.query(peer, keys)
  }

  /**
   * An announcement from `from`: false when it is bad (refused and a strike: the caller closes
   * the stream); true otherwise, whether it was accepted or not.
   */
  private receive(bytes: Uint8Array, from: string): boolean {
    const cid = jsonCid(bytes)
    const decoded = decodeManifest(bytes, cid)
    if (!decoded.ok) {
      const { publisher, name } = peek(bytes)
      const reason = `${decoded.error.code}: ${decoded.error.message}`
      this.refuse({ publisher, name, reason, from })
      this.strike(from, reason)
      return false
    }
    const manifest = decoded.value
    const key = appKey(manifest)
    if (this.followed.has(key)) {
      if (this.offer(key, { cid, manifest, bytes }, from)) {
        this.log.info(`${key} ${manifest.appVersion} (${cid}) from ${short(from)}`)
        this.events.emit('release', { key, cid, manifest, from })
      }
      return true
    }
    const followed = [...this.followed.values()].find((k) => k.name === manifest.name)
    if (followed !== undefined) {
      const reason = `signed by ${manifest.publisher} not the followed key ${followed.publisher}`
      this.refuse({ publisher: manifest.publisher, name: manifest.name, reason, from })
    } else {
      this.log.debug(`ignoring ${key} from ${short(from)}: not followed`)
    }
    return true
  }

  /** Keeps a release when it is newer than our latest and pushes it on; true when it was. */
  private offer(key: string, release: Release, from: string | undefined): boolean {
    const current = this.latest.get(key)
    if (current !== undefined && !isNewer(release, current)) {
      this.log.debug(`ignoring ${release.cid} for ${key}: not newer than ${current.cid}`)
      return false
    }
    this.latest.set(key, release)
    const now = Date.now()
    // Everyone following an app of this name hears of it, whoever signed it: a follower checks
    // the key itself, and refusing a same-named app signed by someone else is worth showing.
    for (const peer of this.book.subscribersOfName(release.manifest.name)) {
      if (peer === from || this.book.isIgnored(peer, now)) continue
      if (this.book.enqueue(peer, release)) void this.exchange.push(peer)
    }
    return true
  }

  private refuse(event: ReleaseEvents['refused']): void {
    this.counters.refused++
    this.log.warn(`refused a release from ${short(event.from)}: ${event.reason}`)
    this.events.emit('refused', event)
  }

  private strike(peer: string, why: string): void {
    if (this.book.strike(peer, Date.now())) {
      this.log.warn(`ignoring ${short(peer)} for ${this.limits.ignoreMs} ms (last: ${why})`)
    }
  }
}

export function orreryReleases(
  init: ReleaseServiceInit = {},
): (components: ReleaseServiceComponents) => ReleaseService {
  return (components) => new ReleaseService(components, init)
}
