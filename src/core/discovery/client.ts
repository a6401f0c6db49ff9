/**
 * The peer side of rendezvous. On every connection to a relay that offers discovery it opens one
 * stream and JOINs the topics of the documents open in this tab. The newcomer dials the members
 * it is told about at once; members told about a newcomer give it `dialGraceMs` to dial them
 * first and only then dial it themselves, so a pair normally ends up with exactly one connection.
 * Browsers reach each other with WebRTC through the relay (`/p2p-circuit/webrtc`); the sync
 * service then runs over that direct connection, never over the relayed one.
 */
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import type { ComponentLogger, Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { bytesToHex, hexToBytes } from '../bytes'
import { Emitter } from '../emitter'
import { describeError } from '../errors'
import { serviceLogger } from '../log'
import { mark, trace } from '../timings'
import type { Repo } from '../repo/repo'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import { Dialer, isDirect, type DialerComponents, type DialerInit } from './dialer'
import { VersionedProtocol, type Spoken } from '../wire/versions'
import {
  decodeDiscovery,
  encodeDiscovery,
  MAX_ADDRS,
  MAX_ADDR_LENGTH,
  MAX_TOPICS_PER_JOIN,
  type DiscoveryMessage,
  type PeerEntry,
} from './messages'

export interface DiscoveryClientInit extends DialerInit {
  /** how long a member waits for a newcomer to dial before dialling it (ms) */
  dialGraceMs?: number
  /** most peers per topic we connect to */
  maxPeersPerTopic?: number
  /** one dial's whole budget, all its attempts (ms); the next dial comes after a backoff */
  dialMs?: number
  /** the waits before the first retries of a failed dial (ms) */
  retryMs?: number[]
  /** then one retry this often (ms, ±20%) for as long as the peer stays in one of our topics */
  retryEveryMs?: number
  /** a peer still in our topics whose direct connection closed is dialled again after this (ms) */
  redialMs?: number
  /** the discovery majors spoken (default: VERSIONS.discovery; tests play other versions) */
  spoken?: Spoken
}

export interface DiscoveryClientComponents extends DialerComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  addressManager: AddressManager
  peerId: PeerId
  logger: ComponentLogger
}

interface RelayLink {
  connection: Connection
  framed: FramedStream
}

/**
 * A dial (its attempts and their hedging: dialer.ts) gets DIAL_MS; when it fails, the next comes
 * after RETRY_MS[attempt], then every RETRY_EVERY_MS while the peer is still in one of our topics
 * (it used to give up after four: two peers cut off for a while never met directly again).
 */
const DIAL_MS = 20_000
const RETRY_MS = [100, 1000, 3000, 9000]
const RETRY_EVERY_MS = 30_000
/**
 * A direct connection to a peer that is still in one of our topics closed (a network change, a
 * WebRTC failure, the peer's relay restarting): the relayed connection that carried its signalling
 * was closed once it was up, so nothing else would bring the two back together.
 */
const REDIAL_MS = 1000

export class DiscoveryClient implements Startable {
  /** what the relays told us changed (a topic's members, a relay link): sync states read it */
  readonly events = new Emitter<{ changed: undefined }>()
  private readonly log = serviceLogger(this.components.logger, 'discovery')
  private readonly links = new Set<RelayLink>()
  private readonly linkedConnections = new WeakSet<Connection>()
  /** topic (hex) → peers the relay told us about */
  private readonly known = new Map<string, Set<string>>()
  private readonly dialing = new Set<string>()
  /** the latest entry each peer was announced with, and the relay that announced it */
  private readonly entries = new Map<string, { entry: PeerEntry; link: RelayLink }>()
  /** one pending retry or redial per peer */
  private readonly retries = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly off: (() => void)[] = []
  /** topics besides open documents' (installed apps, whose holders serve their blocks) */
  private readonly extra = new Map<string, Uint8Array>()
  private readonly protocol: VersionedProtocol
  private started = false
  private readonly dialer: Dialer

  constructor(
    private readonly components: DiscoveryClientComponents,
    private readonly repo: Repo,
    private readonly init: DiscoveryClientInit,
  ) {
    this.dialer = new Dialer(components, init, this.log)
    this.protocol = new VersionedProtocol('discovery', init.spoken)
  }

  readonly [Symbol.toStringTag] = '@orrery/discovery'
  readonly [serviceCapabilities] = ['@orrery/discovery-client']
  /** relays are linked when identify says they offer discovery (the topology) */
  readonly [serviceDependencies] = ['@libp2p/identify']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.register(this.components.registrar, {
      notifyOnLimitedConnection: false,
      onConnect: (_peer, connection) => this.link(connection),
    })
    this.off.push(
      this.repo.events.on('doc-keyed', ({ topic }) =>
        this.broadcast({ type: 'join', topics: [topic], addrs: this.ownAddrs() }),
      ),
      this.repo.events.on('doc-closed', () => this.rejoin()),
    )
    const onClose = (e: CustomEvent<Connection>): void => this.onConnectionClose(e.detail)
    // our addresses changed (in a tab: the relay reservation arrived): tell the relays
    const onSelf = (): void => this.announce()
    const { events } = this.components
    events.addEventListener('connection:close', onClose)
    events.addEventListener('self:peer:update', onSelf)
    this.off.push(
      () => events.removeEventListener('connection:close', onClose),
      () => events.removeEventListener('self:peer:update', onSelf),
    )
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    for (const f of this.off.splice(0)) f()
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    this.retries.clear()
    this.protocol.unregister(this.components.registrar)
    await Promise.all([...this.links].map((l) => l.framed.close()))
    this.links.clear()
  }

  /** Our addresses changed (a relay reservation arrived): tell the relays. */
  announce(): void {
    this.broadcast({ type: 'join', topics: this.topics(), addrs: this.ownAddrs() })
  }

  /** Peers the relays told us about, per topic (hex). */
  peersByTopic(): Map<string, string[]> {
    return new Map([...this.known].map(([t, s]) => [t, [...s]]))
  }

  /** A relay answered our JOIN of this topic (its members are then known, maybe none). */
  answered(topic: Uint8Array): boolean {
    return this.known.has(bytesToHex(topic))
  }

  /** Peers the relays told us are in one topic. */
  peersIn(topic: Uint8Array): string[] {
    return [...(this.known.get(bytesToHex(topic)) ?? [])]
  }

  /** Joins a topic that is not a document's (an app this peer holds and serves). */
  addTopic(topic: Uint8Array): void {
    const hex = bytesToHex(topic)
    if (this.extra.has(hex)) return
    this.extra.set(hex, topic)
    this.broadcast({ type: 'join', topics: [topic], addrs: this.ownAddrs() })
  }

  removeTopic(topic: Uint8Array): void {
    if (this.extra.delete(bytesToHex(topic))) this.rejoin()
  }

  get relayCount(): number {
    return this.links.size
  }

  private rejoin(): void {
    const open = new Set(this.topics().map(bytesToHex))
    const gone = [...this.known.keys()].filter((t) => !open.has(t))
    if (gone.length === 0) return
    for (const t of gone) this.known.delete(t)
    this.broadcast({ type: 'leave', topics: gone.map(hexToBytes) })
    this.events.emit('changed', undefined)
  }

  /** The relay takes at most MAX_TOPICS_PER_JOIN topics per peer: apps, then the newest documents. */
  private topics(): Uint8Array[] {
    const apps = [...this.extra.values()].slice(0, MAX_TOPICS_PER_JOIN / 2)
    return [...apps, ...this.repo.openTopics().slice(-(MAX_TOPICS_PER_JOIN - apps.length))]
  }

  private ownAddrs(): string[] {
    return this.components.addressManager
      .getAddresses()
      .map((a) => a.toString())
      .filter((a) => !a.includes('/p2p-circuit') || a.includes('/p2p-circuit/webrtc'))
      .filter((a) => a.length <= MAX_ADDR_LENGTH)
      .slice(0, MAX_ADDRS)
  }

  /**
   * Opens the discovery stream on a connection to a relay. Called by the topology after identify,
   * and directly by a shell that knows it just dialled its relay (saves a round trip).
   */
  async link(connection: Connection): Promise<void> {
    if (connection.limits !== undefined || this.linkedConnections.has(connection)) return
    this.linkedConnections.add(connection)
    let stream: Stream
    try {
      ;({ stream } = await this.protocol.open(connection))
    } catch (e) {
      this.log.debug(
        `no discovery stream to ${connection.remotePeer.toString().slice(-8)}: ${describeError(e)}`,
      )
      return
    }
    const framed = new FramedStream(
      stream,
      { maxFrame: MAX_FRAME, maxMessage: 1024 * 1024 },
      this.log,
    )
    const link: RelayLink = { connection, framed }
    this.links.add(link)
    this.events.emit('changed', undefined)
    const topics = this.topics()
    trace(`discovery linked, ${topics.length} topics`)
    if (topics.length > 0)
      framed.send(encodeDiscovery({ type: 'join', topics, addrs: this.ownAddrs() }))
    const error = await framed.read((bytes) => this.onMessage(link, bytes))
    if (error !== undefined)
      this.log.warn(`relay ${connection.remotePeer.toString().slice(-8)} sent bad discovery data`)
    this.links.delete(link)
    this.events.emit('changed', undefined)
  }

  private broadcast(msg: DiscoveryMessage): void {
    if (msg.type === 'join' && msg.topics.length === 0) return
    trace(`discovery ${msg.type} to ${this.links.size} relays`)
    const bytes = encodeDiscovery(msg)
    for (const l of this.links) l.framed.send(bytes)
  }

  private onMessage(link: RelayLink, bytes: Uint8Array): void {
    const decoded = decodeDiscovery(bytes)
    if (!decoded.ok) {
      link.framed.abort(decoded.error)
      return
    }
    const m = decoded.value
    if (m.type === 'peers') {
      mark(`discovery-${m.kind}`)
      trace(`discovery ${m.kind}, ${m.peers.length} peers`)
      const topic = bytesToHex(m.topic)
      let set = this.known.get(topic)
      if (set === undefined) {
        set = new Set()
        this.known.set(topic, set)
      }
      for (const p of m.peers) {
        if (p.id === this.components.peerId.toString()) continue
        set.add(p.id)
        this.entries.set(p.id, { entry: p, link })
        if (set.size > (this.init.maxPeersPerTopic ?? 16)) continue
        if (m.kind === 'answer') void this.connect(p, link, 0)
        else this.later(this.init.dialGraceMs ?? 3000, () => void this.connect(p, link, 0))
      }
      this.events.emit('changed', undefined)
    } else if (m.type === 'left') {
      this.known.get(bytesToHex(m.topic))?.delete(m.peer)
      if (!this.isKnown(m.peer)) this.entries.delete(m.peer)
      this.events.emit('changed', undefined)
    } else {
      link.framed.abort(new Error(`relay sent a ${m.type}`) as never)
    }
  }

  private later(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (this.started) fn()
    }, ms)
    this.timers.add(t)
    return t
  }

  private isKnown(peer: string): boolean {
    return [...this.known.values()].some((s) => s.has(peer))
  }

  /** Dials `peer` again after `ms` with its latest entry, replacing any retry already pending. */
  private retry(peer: string, ms: number, attempt: number): void {
    const pending = this.retries.get(peer)
    if (pending !== undefined) {
      clearTimeout(pending)
      this.timers.delete(pending)
    }
    const t = this.later(ms, () => {
      this.retries.delete(peer)
      const latest = this.entries.get(peer)
      if (latest !== undefined) void this.connect(latest.entry, latest.link, attempt)
    })
    this.retries.set(peer, t)
  }

  private retryDelay(attempt: number): number {
    const every = this.init.retryEveryMs ?? RETRY_EVERY_MS
    return (this.init.retryMs ?? RETRY_MS)[attempt] ?? every * (0.8 + 0.4 * Math.random())
  }

  /**
   * A direct connection closed: if the peer is still in one of our topics and no other direct
   * connection to it is left, dial it again. Of the two, the one with the smaller peer id dials
   * first; the other waits the grace period too, and finds the first's dial under way.
   */
  private onConnectionClose(connection: Connection): void {
    if (!this.started || connection.limits !== undefined) return // (isDirect: it is closed)
    const peer = connection.remotePeer.toString()
    if (!this.isKnown(peer) || this.hasDirect(peer)) return
    const grace = peer < this.components.peerId.toString() ? (this.init.dialGraceMs ?? 3000) : 0
    trace(`direct connection to ${peer.slice(-8)} closed; dialling again`)
    this.retry(peer, (this.init.redialMs ?? REDIAL_MS) + grace, 1)
  }

  private hasDirect(peer: string): boolean {
    return this.components.connectionManager
      .getConnections()
      .some((c) => c.remotePeer.toString() === peer && isDirect(c))
  }

  /**
   * Whether `peer` is dialling us now: a WebRTC dial starts with a relayed connection from the
   * dialler, over which it signals. Dialling it back meanwhile would make a second connection.
   */
  private isDiallingUs(peer: string): boolean {
    return this.components.connectionManager
      .getConnections()
      .some(
        (c) =>
          c.remotePeer.toString() === peer &&
          c.limits !== undefined &&
          c.direction === 'inbound' &&
          c.status === 'open',
      )
  }

  /** Once a direct connection is up, the relayed one that carried its signalling is not needed. */
  private dropRelayed(peer: string): void {
    if (!this.hasDirect(peer)) return
    for (const c of this.components.connectionManager.getConnections()) {
      if (c.remotePeer.toString() === peer && c.limits !== undefined)
        void c.close().catch(() => undefined)
    }
  }

  private dialAddrs(p: PeerEntry, link: RelayLink): Multiaddr[] {
    const out: Multiaddr[] = []
    for (const a of p.addrs) {
      try {
        const ma = multiaddr(a)
        if (ma.toString().endsWith(`/p2p/${p.id}`)) out.push(ma)
        else out.push(ma.encapsulate(`/p2p/${p.id}`))
      } catch {
        // the relay validated these; skip anything odd
      }
    }
    if (out.length === 0) {
      // Not announced yet (no reservation when it joined): reach it through our relay.
      let relay = link.connection.remoteAddr
      const relayId = link.connection.remotePeer.toString()
      if (!relay.toString().includes(`/p2p/${relayId}`))
        relay = relay.encapsulate(`/p2p/${relayId}`)
      out.push(relay.encapsulate(`/p2p-circuit/webrtc/p2p/${p.id}`))
    }
    return out
  }

  private async connect(p: PeerEntry, link: RelayLink, attempt: number): Promise<void> {
    if (!this.started || this.hasDirect(p.id) || this.dialing.has(p.id)) return
    if (!this.isKnown(p.id)) return // it left meanwhile
    if (attempt === 0 && this.isDiallingUs(p.id)) {
      // (a member that joins again is answered with every member, newcomers dialling it too)
      this.retry(p.id, this.init.dialGraceMs ?? 3000, 1)
      return
    }
    this.dialing.add(p.id)
    const who = p.id.slice(-8)
    try {
      mark('peer-dial')
      trace(`dial start ${who} ${attempt}`)
      await this.dialer.dial(
        peerIdFromString(p.id),
        this.dialAddrs(p, link),
        AbortSignal.timeout(this.init.dialMs ?? DIAL_MS),
      )
      mark('peer-dialled')
      trace(`dial ok ${who} ${attempt}`)
      this.later(2000, () => this.dropRelayed(p.id))
    } catch (e) {
      trace(`dial fail ${who} ${attempt} ${describeError(e)}`)
      const wait = Math.round(this.retryDelay(attempt))
      this.log.info(`dialling ${who} failed (${describeError(e)}); retry in ${wait} ms`)
      this.retry(p.id, wait, attempt + 1)
    } finally {
      this.dialing.delete(p.id)
    }
  }
}

export function discoveryClient(
  repo: Repo,
  init: DiscoveryClientInit = {},
): (components: DiscoveryClientComponents) => DiscoveryClient {
  return (components) => new DiscoveryClient(components, repo, init)
}
