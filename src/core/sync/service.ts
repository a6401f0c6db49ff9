/**
 * The sync protocol as a libp2p service (a factory taking libp2p components, Startable). On every
 * direct connection with a peer that speaks the protocol, the dialling side opens one stream and
 * both sides run a SyncSession on it. Relayed (limited) connections never carry sync: the handler
 * refuses them and the topology does not report them.
 */
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  PeerId,
  Startable,
  Stream,
} from '@libp2p/interface'
import type { TypedEventTarget } from 'main-event'
import type { Registrar } from '@libp2p/interface-internal'
import { describeError } from '../errors'
import { serviceLogger } from '../log'
import type { Repo } from '../repo/repo'
import type { TabCert } from '../tab-cert'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import { isUnsupportedProtocol, VersionedProtocol, type Spoken } from '../wire/versions'
import { MAX_SYNC_MESSAGE } from './messages'

/**
 * The largest message before the peer's HELLO (a tab certificate is well under 1 KiB): nobody
 * makes us reassemble a large message before saying who it is.
 */
export const MAX_MESSAGE_BEFORE_HELLO = 16 * 1024
import { REASSEMBLY_BUSY, SyncSession } from './session'
import type { Firewall } from '../firewall/firewall'
import { BusyRetry } from './busy-retry'

export interface SyncServiceInit {
  repo: Repo
  /** issues this tab's certificate for its libp2p peer id (may wait for the identity to load) */
  issueCert: (peerId: string) => TabCert | Promise<TabCert>
  maxMessage?: number
  firewall?: Firewall
  /** the sync majors spoken (default: VERSIONS.sync; tests play other versions) */
  spoken?: Spoken
  /** a remote tab runs another version of Orrery (not a fault: it is reported, never struck) */
  onOtherVersion?: (peer: string, reason: string) => void
}

export interface SyncServiceComponents {
  registrar: Registrar
  peerId: PeerId
  logger: ComponentLogger
  events: TypedEventTarget<Libp2pEvents>
}

export class SyncService implements Startable {
  private readonly sessions = new Set<SyncSession>()
  private readonly log = serviceLogger(this.components.logger, 'sync')
  private offDocKeyed: (() => void) | undefined
  private offFirewall: (() => void) | undefined
  private started = false
  private readonly cert: Promise<TabCert>
  readonly protocol: VersionedProtocol
  /** connections that already have (or are opening) a session */
  private readonly linked = new WeakSet<Connection>()
  /** open connections whose session our firewall refused, with the peer's identity when known */
  private readonly refused = new Map<Connection, string | undefined>()
  /** sessions refused for a full reassembly budget are opened again once it has room */
  private readonly busy: BusyRetry | undefined
  private readonly onConnectionOpen = (e: CustomEvent<Connection>): void => {
    // A direct WebRTC connection is only ever made to another Orrery tab: open the sync stream at
    // once instead of waiting for identify to tell the topology (saves a round trip on join).
    if (e.detail.multiplexer === '/webrtc') void this.dial(e.detail)
  }

  constructor(
    private readonly components: SyncServiceComponents,
    private readonly init: SyncServiceInit,
  ) {
    this.protocol = new VersionedProtocol('sync', init.spoken)
    this.cert = Promise.resolve(init.issueCert(components.peerId.toString()))
    this.cert.catch(() => undefined)
    const firewall = init.firewall
    this.busy =
      firewall === undefined
        ? undefined
        : new BusyRetry({
            firewall,
            open: (c) => this.open(c),
            hasSession: (c) => [...this.sessions].some((s) => s.connectionId === c.id),
            log: this.log,
          })
  }

  readonly [Symbol.toStringTag] = '@orrery/sync'
  readonly [serviceCapabilities] = ['@orrery/sync']
  /** sessions start when identify reports that a peer speaks the protocol (the topology) */
  readonly [serviceDependencies] = ['@libp2p/identify']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(
      this.components.registrar,
      (stream, connection, major) => this.accept(stream, connection, major),
      {
        maxInboundStreams: 2,
        maxOutboundStreams: 2,
        runOnLimitedConnection: false,
      },
    )
    await this.protocol.register(this.components.registrar, {
      notifyOnLimitedConnection: false,
      onConnect: (_peer, connection) => this.dial(connection),
    })
    this.offDocKeyed = this.init.repo.events.on('doc-keyed', ({ id }) => {
      for (const s of this.sessions) s.sendInterest([id])
    })
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.offFirewall = this.init.firewall?.onConfigure(() => this.recheck())
    this.started = true
  }

  /**
   * The firewall's lists changed: sessions with peers it no longer permits end, and connections
   * whose session we refused get a new one from this side once the lists permit the peer again
   * (the other side has no reason to try: it was told goodbye).
   */
  private recheck(): void {
    const firewall = this.init.firewall
    if (firewall === undefined) return
    for (const s of this.sessions) {
      const allowed = firewall.permits(s.remotePeer, s.identity)
      if (allowed.ok) continue
      this.log.info(`closing the session with ${s.short}: ${allowed.error.message}`)
      void s.close('not allowed')
    }
    for (const [connection, identity] of this.refused) {
      if (connection.status !== 'open') {
        this.refused.delete(connection)
        continue
      }
      const peer = connection.remotePeer.toString()
      if (!firewall.permits(peer, identity).ok) continue
      if ([...this.sessions].some((s) => s.connectionId === connection.id)) continue
      this.refused.delete(connection)
      this.log.info(`${peer.slice(-8)} is permitted again: syncing`)
      void this.open(connection)
    }
  }

  async stop(): Promise<void> {
    this.started = false
    this.offDocKeyed?.()
    this.offFirewall?.()
    this.busy?.stop()
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.protocol.unregister(this.components.registrar)
    await this.protocol.unhandle(this.components.registrar)
    await Promise.all([...this.sessions].map((s) => s.close('shutting down')))
    this.sessions.clear()
    this.refused.clear()
  }

  /** Live sessions (one per direct connection to a remote tab). */
  list(): SyncSession[] {
    return [...this.sessions]
  }

  private async dial(connection: Connection): Promise<void> {
    if (
      connection.direction !== 'outbound' ||
      connection.limits !== undefined ||
      this.linked.has(connection)
    )
      return
    return this.open(connection)
  }

  /** Opens a sync stream on `connection` (from either side) and runs a session on it. */
  private async open(connection: Connection): Promise<void> {
    this.linked.add(connection)
    try {
      const { stream, major } = await this.protocol.open(connection, {
        runOnLimitedConnection: false,
      })
      this.run(stream, connection, major)
    } catch (e) {
      // a direct connection is only made to another Orrery tab: one that speaks none of our
      // majors runs another version (reported, never struck)
      if (isUnsupportedProtocol(e)) {
        this.init.onOtherVersion?.(
          connection.remotePeer.toString(),
          `no sync version in common (we offered ${this.protocol.ids.join(', ')})`,
        )
      }
      this.log.debug(
        `could not open sync stream to ${connection.remotePeer.toString().slice(-8)}: ${describeError(e)}`,
      )
    }
  }

  private accept(stream: Stream, connection: Connection, major: number): void {
    if (connection.limits !== undefined) {
      stream.abort(new Error('sync is not allowed over limited connections'))
      return
    }
    this.run(stream, connection, major)
  }

  private run(stream: Stream, connection: Connection, major: number): void {
    this.linked.add(connection)
    const firewall = this.init.firewall
    const peer = connection.remotePeer.toString()
    const cfg = firewall?.config
    // the firewall's limit (maxMessageBytes, and no more than the reassembly budget holds) is the
    // framing's once the peer has said who it is
    const maxMessage = Math.min(
      this.init.maxMessage ?? MAX_SYNC_MESSAGE,
      firewall?.maxSplitMessage ?? Infinity,
    )
    const framed = new FramedStream(
      stream,
      {
        maxFrame: MAX_FRAME,
        maxMessage: Math.min(MAX_MESSAGE_BEFORE_HELLO, maxMessage),
        ...(firewall === undefined || cfg === undefined
          ? {}
          : {
              reassembly: firewall.reassembly(peer),
              partialIdleMs: cfg.partialIdleMs,
              partialMinBytesPerSecond: cfg.partialMinBytesPerSecond,
            }),
      },
      this.log,
      firewall === undefined ? {} : { charge: (bytes) => firewall.charge(peer, bytes) },
    )
    const session = new SyncSession({
      framed,
      maxMessage,
      connection,
      version: major,
      repo: this.init.repo,
      cert: this.cert,
      log: this.log,
      localPeerId: this.components.peerId.toString(),
      ...(this.init.firewall ? { firewall: this.init.firewall } : {}),
      ...(this.init.onOtherVersion ? { onOtherVersion: this.init.onOtherVersion } : {}),
      onClose: (s) => {
        this.sessions.delete(s)
        if (s.closedReason === REASSEMBLY_BUSY) {
          if (this.started) this.busy?.schedule(connection)
          return
        }
        if (s.closedReason !== 'not allowed') return
        // keep only open connections (a tab may refuse many peers over its life)
        for (const c of this.refused.keys()) if (c.status !== 'open') this.refused.delete(c)
        this.refused.set(connection, s.identity)
      },
    })
    this.sessions.add(session)
    session.run().catch((e: unknown) => this.log.error(`sync session failed: ${describeError(e)}`))
  }
}

export function orrerySync(
  init: SyncServiceInit,
): (components: SyncServiceComponents) => SyncService {
  return (components) => new SyncService(components, init)
}
