/**
 * The outbox service's options, limits and statistics (its public configuration, re-exported
 * by service.ts), and the counters and small helpers its parts (delivery.ts, sender-link.ts,
 * receiving.ts, recipient-topics.ts) share.
 */
import type { ComponentLogger, Libp2pEvents, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { TypedEventTarget } from 'main-event'
import { ProtocolError } from '../errors'
import type { Identity } from '../identity'
import type { StorageAdapter } from '../storage/types'
import type { TabCert } from '../tab-cert'
import type { Spoken } from '../wire/versions'

/** The part of the discovery client the outbox uses (rendezvous topics besides documents'). */
export interface TopicDirectory {
  addTopic(topic: Uint8Array): void
  removeTopic(topic: Uint8Array): void
  /** peer ids the relays named as members of a topic */
  peersIn(topic: Uint8Array): string[]
}

export interface OutboxLimits {
  /** how often due retries are looked for (ms) */
  tickMs: number
  /** how long the receiving side may take to send its HELLO, and to open a stream (ms) */
  helloTimeoutMs: number
  /** how long a sent message may wait for its ACK (ms) */
  ackTimeoutMs: number
  /** messages one stream has waiting for their ACK */
  window: number
  /** unacknowledged messages an inbound stream may have queued before it is closed */
  maxPendingInbound: number
  /** recipients whose topics this tab joins at once (the oldest queued messages first) */
  maxRecipientTopics: number
  /** least time between two re-joins of one recipient's topic (ms) */
  rejoinMs: number
  /** how often storage is re-read for messages other tabs of this profile queued (ms) */
  refreshMs: number
  /** delivered outbox entries are forgotten this long after delivery (ms) */
  keepDeliveredMs: number
}

export const DEFAULT_OUTBOX_LIMITS: OutboxLimits = {
  tickMs: 1000,
  helloTimeoutMs: 10_000,
  ackTimeoutMs: 10_000,
  window: 32,
  maxPendingInbound: 64,
  maxRecipientTopics: 64,
  rejoinMs: 10_000,
  refreshMs: 30_000,
  keepDeliveredMs: 30 * 24 * 3600 * 1000,
}

export interface OutboxServiceInit {
  storage: StorageAdapter
  /** this tab's person (may still be loading: receiving and signing wait for it) */
  identity: Identity | Promise<Identity>
  /** issues this tab's certificate (default: one from `identity` with profile id "outbox") */
  issueCert?: (peerId: string) => TabCert | Promise<TabCert>
  limits?: Partial<OutboxLimits>
  /** the outbox majors spoken (default: VERSIONS.outbox; tests play other versions) */
  spoken?: Spoken
  /** a remote tab runs another version of Orrery (its HELLO said so): reported, not a fault */
  onOtherVersion?: (peer: string, reason: string) => void
}

export interface OutboxServiceComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  peerId: PeerId
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
  /**
   * The rendezvous client: the `discovery` service, which libp2p puts into the components when
   * it creates it (the service declares '@orrery/discovery-client'; the outbox depends on it).
   */
  discovery: TopicDirectory
}

export interface OutboxStats {
  queued: number
  delivered: number
  inbox: number
  /** MESSAGE frames sent (resends included) */
  sent: number
  /** ACK accepted received */
  acked: number
  /** attempts that failed (not-me, rejected, timeout, broken stream) */
  failed: number
  /** MESSAGE frames received */
  received: number
  /** of those: already in the inbox */
  duplicates: number
  notMe: number
  rejected: number
  /** outbox streams closed for bad input (either side) */
  protocolErrors: number
  /** identity topics joined for recipients (our own not counted) */
  recipientTopics: number
}

/** what the service counts as it goes (the rest of OutboxStats is read off the stores) */
export type Counters = Omit<OutboxStats, 'queued' | 'delivered' | 'inbox' | 'recipientTopics'>

/** the tail of a peer id or did, for log lines */
export const short = (id: string): string => id.slice(-8)
/** a PROTOCOL_VIOLATION fault for a stream that broke the outbox protocol */
export const violation = (why: string): ProtocolError =>
  new ProtocolError('PROTOCOL_VIOLATION', why)
