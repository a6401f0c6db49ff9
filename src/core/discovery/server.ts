/**
 * The relay's rendezvous service: who is interested in which topic. It keeps one stream per peer,
 * answers JOINs with the members already in a topic (a random sample, bounded) and tells a
 * bounded sample of members about the newcomer. Malformed input closes that peer's stream.
 */
import type { ComponentLogger, Connection, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { multiaddr } from '@multiformats/multiaddr'
import { bytesToHex, hexToBytes } from '../bytes'
import { describeError, ProtocolError } from '../errors'
import { createLogger } from '../log'
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

export interface DiscoveryServerInit {
  /** topics one peer may be in at once */
  maxTopicsPerPeer?: number
  /** JOIN/LEAVE messages one peer may send per minute */
  maxMessagesPerMinute?: number
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
}

export interface DiscoveryStats {
  peers: number
  topics: number
  protocolErrors: number
  /** members per discovery major (who still speaks the previous one, during a transition) */
  versions: Record<number, number>
}

export class DiscoveryServer implements Startable {
  private readonly log = createLogger('discovery-server')
  private readonly topics = new Map<string, Map<string, Member>>()
  private readonly members = new Map<string, Member>()
  private protocolErrors = 0
  private started = false
  private readonly maxTopics: number
  private readonly maxRate: number
  private readonly protocol: VersionedProtocol

  constructor(
    private readonly components: DiscoveryServerComponents,
    init: DiscoveryServerInit = {},
  ) {
    this.maxTopics = init.maxTopicsPerPeer ?? 256
    this.maxRate = init.maxMessagesPerMinute ?? 600
    this.protocol = new VersionedProtocol('discovery', init.spoken)
  }

  readonly [Symbol.toStringTag] = '@orrery/discovery-server'

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
    const now = Date.now()
    if (now - m.window.start > 60_000) m.window = { start: now, count: 0 }
    if (++m.window.count > this.maxRate) {
      return this.violation(
        m,
        new ProtocolError('PROTOCOL_VIOLATION', `more than ${this.maxRate} messages a minute`),
      )
    }
    const msg: DiscoveryMessage = decoded.value
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
    m.addrs = addrs
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
      for (const o of others)
        this.send(o, { type: 'peers', topic: t, kind: 'joined', peers: [entry(m)] })
    }
  }

  private leave(m: Member, topic: string): void {
    const members = this.topics.get(topic)
    if (members === undefined || !m.topics.delete(topic)) return
    members.delete(m.peer)
    if (members.size === 0) this.topics.delete(topic)
    const t = hexToBytes(topic)
    for (const o of sample([...members.values()], MAX_PEERS_PER_ANSWER))
      this.send(o, { type: 'left', topic: t, peer: m.peer })
  }

  private drop(m: Member): void {
    if (this.members.get(m.peer) === m) this.members.delete(m.peer)
    for (const t of [...m.topics]) this.leave(m, t)
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
