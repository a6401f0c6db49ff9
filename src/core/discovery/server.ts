/**
 * The relay's rendezvous service: who is interested in which topic. It keeps one stream per peer,
 * answers JOINs with the members already in a topic (a random sample, bounded) and tells a
 * bounded sample of members about the newcomer. Malformed input closes that peer's stream.
 *
 * What one peer makes the relay send to the others is bounded (the amplification a JOIN/LEAVE
 * cycler would get): every topic joined or left counts against the peer's rate, the addresses
 * passed on are capped (MAX_FORWARDED_ADDRS, MAX_FORWARDED_ADDR_BYTES), and the notices for a
 * member are queued for `noticeDelayMs` and coalesced: a join and leave in that time cancel, and
 * a newcomer's addresses go once per batch (its other topics' notices carry none; the client
 * dials it through the relay when it has no address, and only once per peer).
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { multiaddr } from '@multiformats/multiaddr'
import { bytesToHex, hexToBytes } from '../bytes'
import { describeError, ProtocolError } from '../errors'
import { serviceLogger } from '../log'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import { VersionedProtocol, type Spoken } from '../wire/versions'
import {
  decodeDiscovery,
  encodeDiscovery,
  MAX_DISCOVERY_MESSAGE,
  MAX_PEERS_PER_ANSWER,
  type DiscoveryMessage,
  type PeerEntry,
} from './messages'

/** the addresses of a peer the relay passes on, at most (the first ones it announced) */
export const MAX_FORWARDED_ADDRS = 4
/** and at most this many bytes of them */
export const MAX_FORWARDED_ADDR_BYTES = 1024

export interface DiscoveryServerInit {
  /** topics one peer may be in at once */
  maxTopicsPerPeer?: number
  /**
   * JOIN/LEAVE messages one peer may send per minute, each topic it joins or leaves by them
   * counting as one more (a JOIN of known topics, to update addresses, counts one)
   */
  maxMessagesPerMinute?: number
  /** how long notices for a member are gathered before they are sent (ms) */
  noticeDelayMs?: number
  /** the discovery majors spoken (default: VERSIONS.discovery; tests play other versions) */
  spoken?: Spoken
}

export interface DiscoveryServerComponents {
  registrar: Registrar
  logger: ComponentLogger
}

interface Member {
  peer: string
  addrs: string[]
  topics: Set<string>
  framed: FramedStream
  /** the discovery major this member's stream speaks */
  version: number
  window: { start: number; count: number }
  /** joined/left notices not sent yet, by topic and peer (see `flush`) */
  notices: Map<string, Notice>
}

type Notice =
  | { kind: 'joined'; topic: Uint8Array; who: Member }
  | { kind: 'left'; topic: Uint8Array; peer: string }

export interface DiscoveryStats {
  peers: number
  topics: number
  protocolErrors: number
  /** members per discovery major (who still speaks the previous one, during a transition) */
  versions: Record<number, number>
}

export class DiscoveryServer implements Startable {
  private readonly log = serviceLogger(this.components.logger, 'discovery-server')
  private readonly topics = new Map<string, Map<string, Member>>()
  private readonly members = new Map<string, Member>()
  private protocolErrors = 0
  private started = false
  private readonly maxTopics: number
  private readonly maxRate: number
  private readonly noticeDelayMs: number
  private readonly protocol: VersionedProtocol
  /** members with notices queued, and the timer that sends them */
  private readonly pending = new Set<Member>()
  private flushTimer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly components: DiscoveryServerComponents,
    init: DiscoveryServerInit = {},
  ) {
    this.maxTopics = init.maxTopicsPerPeer ?? 256
    this.maxRate = init.maxMessagesPerMinute ?? 600
    this.noticeDelayMs = init.noticeDelayMs ?? 100
    this.protocol = new VersionedProtocol('discovery', init.spoken)
  }

  readonly [Symbol.toStringTag] = '@orrery/discovery-server'
  readonly [serviceCapabilities] = ['@orrery/discovery-server']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(this.components.registrar, (s, c, v) => this.accept(s, c, v), {
      maxInboundStreams: 2,
      runOnLimitedConnection: false,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    clearTimeout(this.flushTimer)
    this.flushTimer = undefined
    this.pending.clear()
    await this.protocol.unhandle(this.components.registrar)
    await Promise.all([...this.members.values()].map((m) => m.framed.close()))
    this.members.clear()
    this.topics.clear()
  }

  stats(): DiscoveryStats {
    const versions: Record<number, number> = {}
    for (const m of this.members.values()) versions[m.version] = (versions[m.version] ?? 0) + 1
    return {
      peers: this.members.size,
      topics: this.topics.size,
      protocolErrors: this.protocolErrors,
      versions,
    }
  }

  private accept(stream: Stream, connection: Connection, version: number): void {
    const peer = connection.remotePeer.toString()
    const framed = new FramedStream(
      stream,
      { maxFrame: MAX_FRAME, maxMessage: MAX_DISCOVERY_MESSAGE },
      this.log,
    )
    const previous = this.members.get(peer)
    if (previous !== undefined) this.drop(previous) // a peer has one discovery stream: the newest
    const member: Member = {
      peer,
      addrs: [],
      topics: new Set(),
      framed,
      version,
      window: { start: Date.now(), count: 0 },
      notices: new Map(),
    }
    this.members.set(peer, member)
    framed
      .read((bytes) => this.onMessage(member, bytes))
      .then((error) => {
        if (error !== undefined) this.protocolErrors++
        this.drop(member)
      })
      .catch((e: unknown) => {
        this.log.error(`discovery stream failed: ${describeError(e)}`)
        this.drop(member)
      })
  }

  private onMessage(m: Member, bytes: Uint8Array): void {
    const decoded = decodeDiscovery(bytes)
    if (!decoded.ok) return this.violation(m, decoded.error)
    const msg: DiscoveryMessage = decoded.value
    const now = Date.now()
    if (now - m.window.start > 60_000) m.window = { start: now, count: 0 }
    // each topic joined or left costs: it makes notices for other members
    let changes = 0
    if (msg.type === 'join' || msg.type === 'leave') {
      const joining = msg.type === 'join'
      for (const t of new Set(msg.topics.map(bytesToHex)))
        if (m.topics.has(t) !== joining) changes++
    }
    m.window.count += Math.max(1, changes)
    if (m.window.count > this.maxRate) {
      return this.violation(
        m,
        new ProtocolError(
          'PROTOCOL_VIOLATION',
          `more than ${this.maxRate} messages and topic changes a minute`,
        ),
      )
    }
    if (msg.type === 'join') this.join(m, msg.topics, msg.addrs)
    else if (msg.type === 'leave') for (const t of msg.topics) this.leave(m, bytesToHex(t))
    else
      this.violation(
        m,
        new ProtocolError('PROTOCOL_VIOLATION', `${msg.type} is sent by the relay, not to it`),
      )
  }

  private join(m: Member, topics: Uint8Array[], addrs: string[]): void {
    for (const a of addrs) {
      try {
        multiaddr(a)
      } catch {
        return this.violation(
          m,
          new ProtocolError('MALFORMED_MESSAGE', 'unparsable address in join'),
        )
      }
    }
    m.addrs = capAddrs(addrs)
    for (const t of topics) {
      const topic = bytesToHex(t)
      if (m.topics.has(topic)) continue
      if (m.topics.size >= this.maxTopics) {
        return this.violation(
          m,
          new ProtocolError('PROTOCOL_VIOLATION', `more than ${this.maxTopics} topics`),
        )
      }
      let members = this.topics.get(topic)
      if (members === undefined) {
        members = new Map()
        this.topics.set(topic, members)
      }
      const others = sample([...members.values()], MAX_PEERS_PER_ANSWER)
      members.set(m.peer, m)
      m.topics.add(topic)
      this.send(m, { type: 'peers', topic: t, kind: 'answer', peers: others.map(entry) })
      for (const o of others) this.notify(o, topic, { kind: 'joined', topic: t, who: m })
    }
  }

  private leave(m: Member, topic: string): void {
    const members = this.topics.get(topic)
    if (members === undefined || !m.topics.delete(topic)) return
    members.delete(m.peer)
    if (members.size === 0) this.topics.delete(topic)
    const t = hexToBytes(topic)
    for (const o of sample([...members.values()], MAX_PEERS_PER_ANSWER))
      this.notify(o, topic, { kind: 'left', topic: t, peer: m.peer })
    // members outside that sample still waiting to hear it joined need not hear it now
    const key = `${topic} ${m.peer}`
    for (const o of this.pending) if (o.notices.get(key)?.kind === 'joined') o.notices.delete(key)
  }

  /** Queues a notice for `o`; a join and a leave of the same peer and topic cancel out. */
  private notify(o: Member, topic: string, n: Notice): void {
    const peer = n.kind === 'joined' ? n.who.peer : n.peer
    const key = `${topic} ${peer}`
    const queued = o.notices.get(key)
    if (n.kind === 'left' && queued?.kind === 'joined') {
      o.notices.delete(key) // it was never told: nothing to tell
      return
    }
    o.notices.delete(key) // (a left then joined again: the newest is sent, in order)
    o.notices.set(key, n)
    this.pending.add(o)
    this.flushTimer ??= setTimeout(() => this.flush(), this.noticeDelayMs)
  }

  /** Sends the queued notices; a newcomer's addresses go in its first notice to each member. */
  private flush(): void {
    this.flushTimer = undefined
    for (const o of this.pending) {
      const told = new Set<string>()
      for (const n of o.notices.values()) {
        if (n.kind === 'left') {
          this.send(o, { type: 'left', topic: n.topic, peer: n.peer })
          continue
        }
        const first = !told.has(n.who.peer)
        told.add(n.who.peer)
        const peers = [first ? entry(n.who) : { id: n.who.peer, addrs: [] }]
        this.send(o, { type: 'peers', topic: n.topic, kind: 'joined', peers })
      }
      o.notices.clear()
    }
    this.pending.clear()
  }

  private drop(m: Member): void {
    if (this.members.get(m.peer) === m) this.members.delete(m.peer)
    for (const t of [...m.topics]) this.leave(m, t)
    m.notices.clear()
    this.pending.delete(m)
    void m.framed.close()
  }

  private send(m: Member, msg: DiscoveryMessage): void {
    m.framed.send(encodeDiscovery(msg))
  }

  private violation(m: Member, e: ProtocolError): void {
    this.protocolErrors++
    m.framed.abort(e)
    this.drop(m)
  }
}

const entry = (m: Member): PeerEntry => ({ id: m.peer, addrs: m.addrs })

/** The first addresses, up to MAX_FORWARDED_ADDRS and MAX_FORWARDED_ADDR_BYTES in all. */
function capAddrs(addrs: string[]): string[] {
  const out: string[] = []
  let bytes = 0
  for (const a of addrs) {
    if (out.length >= MAX_FORWARDED_ADDRS || bytes + a.length > MAX_FORWARDED_ADDR_BYTES) break
    out.push(a)
    bytes += a.length
  }
  return out
}

function sample<T>(items: T[], n: number): T[] {
  if (items.length <= n) return items
  const copy = items.slice()
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i))
    ;[copy[i], copy[j]] = [copy[j] as T, copy[i] as T]
  }
  return copy.slice(0, n)
}

export function discoveryServer(
  init: DiscoveryServerInit = {},
): (c: DiscoveryServerComponents) => DiscoveryServer {
  return (components) => new DiscoveryServer(components, init)
}
