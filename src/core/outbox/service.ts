/**
 * Identity-addressed messages as a libp2p service (a factory taking libp2p components, Startable):
 * the outbox and inbox of store.ts, delivered over `/orrery/outbox/<major>.0.0` (messages.ts;
 * the majors spoken: wire/versions.ts).
 *
 * Finding the recipient: every tab joins its own identity topic (topic.ts) at the relay; while
 * the outbox holds queued messages for a person, this tab joins that person's topic too, so
 * discovery connects it to their tabs. It leaves when nothing is queued for them any more.
 *
 * Delivering: whenever something is queued, each direct (non-limited) connection is probed once
 * by opening an outbox stream: the receiving side answers with a HELLO carrying its tab
 * certificate, so the sender knows which person is behind that tab before it sends anything (a
 * stranger who joins someone's topic learns nothing and cannot acknowledge in their place). On a
 * connection certified for the recipient, every queued message for them is sent at once (a new
 * connection is news: backoff does not apply), later only those whose retry is due. ACK accepted
 * marks an entry delivered; not-me, rejected, a timeout or a broken stream schedules a retry
 * with backoff. Runs are started by new connections, by `connection:open`, by enqueueing, and by
 * a timer for due retries. When the recipient's tabs are known but not connected (a connection
 * dropped), the tab leaves and re-joins their topic so discovery dials them again.
 *
 * Receiving: only over direct connections. Verify the signature with the `from` key, check `to`
 * is our identity (else ACK not-me), store through `inbox.accept` (persisted before the ACK) and
 * ACK accepted, duplicates included (the sender resends after a lost ACK). Bad signatures, old
 * messages and storage failures get ACK rejected. Malformed input closes that stream with a log
 * line and nothing else.
 */
import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  PeerId,
  Startable,
  Stream,
} from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { TypedEventTarget } from 'main-event'
import { describeError, OrreryError, ProtocolError } from '../errors'
import type { Identity } from '../identity'
import { createLogger } from '../log'
import type { StorageAdapter } from '../storage/types'
import { issueTabCert, verifyTabCert, type TabCert } from '../tab-cert'
import type { JsonValue } from '../values'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import {
  helloVersion,
  isUnsupportedProtocol,
  protocolId,
  VersionedProtocol,
  type Spoken,
} from '../wire/versions'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  MAX_OUTBOX_MESSAGE,
  verifyMessage,
  type AckStatus,
  type OutboxFrame,
  type OutboxMessage,
} from './messages'
import { Inbox, Outbox, type OutboxEntry } from './store'
import { identityTopic } from './topic'

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
  /**
   * The rendezvous client, or a getter for it (read at start and on use: the peer hands in the
   * discovery service that libp2p builds next to this one). Without it, only connections that
   * exist for other reasons carry messages.
   */
  discovery?: TopicDirectory | (() => TopicDirectory | undefined)
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

type Counters = Omit<OutboxStats, 'queued' | 'delivered' | 'inbox' | 'recipientTopics'>

const short = (id: string): string => id.slice(-8)
const violation = (why: string): ProtocolError => new ProtocolError('PROTOCOL_VIOLATION', why)

export class OutboxService implements Startable {
  readonly outbox: Outbox
  readonly inbox: Inbox
  readonly limits: OutboxLimits
  /** both stores loaded from storage */
  readonly ready: Promise<void>
  private readonly log = createLogger('outbox')
  private readonly identity: Promise<Identity>
  private me: Identity | undefined
  private started = false
  private readonly counters: Counters = {
    sent: 0,
    acked: 0,
    failed: 0,
    received: 0,
    duplicates: 0,
    notMe: 0,
    rejected: 0,
    protocolErrors: 0,
  }
  /** the person behind each probed connection, from its tab certificate */
  private readonly identityOf = new WeakMap<Connection, string>()
  /** connections that had a run with messages for their person (later runs: due retries only) */
  private readonly served = new WeakSet<Connection>()
  /** connections not to probe again before this time (no protocol, no hello) */
  private readonly quietUntil = new WeakMap<Connection, number>()
  private readonly running = new Map<Connection, Promise<void>>()
  private readonly rerun = new Set<Connection>()
  /** entries on the wire right now (one connection at a time per entry) */
  private readonly inflight = new Set<string>()
  private readonly senders = new Set<FramedStream>()
  private readonly receivers = new Set<FramedStream>()
  /** recipients whose topics we joined */
  private readonly joined = new Set<string>()
  private ownTopic: Uint8Array | undefined
  private readonly lastRejoin = new Map<string, number>()
  private cert: { value: Promise<TabCert>; at: number } | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  /** aborted by stop(): streams still being opened give up at once */
  private lifetime = new AbortController()
  private passScheduled = false
  private lastRefresh = 0
  private readonly protocol: VersionedProtocol
  private offChanged: (() => void) | undefined
  private readonly onConnectionOpen = (): void => this.schedule()

  constructor(
    private readonly components: OutboxServiceComponents,
    private readonly init: OutboxServiceInit,
  ) {
    this.limits = { ...DEFAULT_OUTBOX_LIMITS, ...init.limits }
    this.protocol = new VersionedProtocol('outbox', init.spoken)
    this.identity = Promise.resolve(init.identity)
    this.identity.then(
      (i) => (this.me = i),
      () => undefined,
    )
    this.outbox = new Outbox({ storage: init.storage, identity: this.identity })
    this.inbox = new Inbox({ storage: init.storage })
    this.ready = Promise.all([this.outbox.ready, this.inbox.ready]).then(() => undefined)
    this.ready.catch((e: unknown) => this.log.error(`loading the outbox: ${describeError(e)}`))
  }

  readonly [Symbol.toStringTag] = '@orrery/outbox'

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(this.components.registrar, (s, c, v) => this.accept(s, c, v), {
      maxInboundStreams: 4,
      maxOutboundStreams: 4,
      runOnLimitedConnection: false,
    })
    await this.protocol.register(this.components.registrar, {
      notifyOnLimitedConnection: false,
      onConnect: () => this.schedule(),
    })
    this.components.events.addEventListener('connection:open', this.onConnectionOpen)
    this.offChanged = this.outbox.events.on('changed', () => {
      this.updateTopics()
      this.schedule()
    })
    this.started = true
    this.lifetime = new AbortController()
    this.timer = setInterval(() => this.tick(), this.limits.tickMs)
    this.identity.then(
      (me) => {
        if (!this.started) return
        this.ownTopic = identityTopic(me.id)
        this.directory()?.addTopic(this.ownTopic)
      },
      (e: unknown) => this.log.warn(`no identity, no identity topic: ${describeError(e)}`),
    )
    this.ready.then(
      () => {
        if (!this.started) return
        const before = Date.now() - this.limits.keepDeliveredMs
        this.outbox.prune(before).catch((e: unknown) => this.log.warn(describeError(e)))
        this.updateTopics()
        this.schedule()
      },
      () => undefined,
    )
  }

  async stop(): Promise<void> {
    this.started = false
    this.lifetime.abort()
    clearInterval(this.timer)
    this.offChanged?.()
    this.components.events.removeEventListener('connection:open', this.onConnectionOpen)
    this.protocol.unregister(this.components.registrar)
    await this.protocol.unhandle(this.components.registrar)
    for (const f of [...this.senders, ...this.receivers])
      f.stream.abort(new Error('the outbox service stopped'))
    this.senders.clear()
    this.receivers.clear()
    await Promise.allSettled([...this.running.values()])
    this.joined.clear()
    this.ownTopic = undefined
  }

  /**
   * Queues a message for a person (their did:key) and resolves once it is signed and stored; it
   * is then delivered whenever one of their tabs is reachable, across reloads. A message to our
   * own identity goes straight into our inbox.
   */
  async send(to: string, kind: string, payload: JsonValue): Promise<OutboxEntry> {
    await this.ready
    const entry = await this.outbox.enqueue(to, kind, payload)
    if (to === (await this.identity).id) {
      const message = this.outbox.message(entry.id) as OutboxMessage
      await this.inbox.accept(message)
      await this.outbox.markDelivered(entry.id)
      return this.outbox.get(entry.id) ?? entry
    }
    return entry
  }

  stats(): OutboxStats {
    const all = this.outbox.list()
    const queued = all.filter((e) => e.status === 'queued').length
    return {
      queued,
      delivered: all.length - queued,
      inbox: this.inbox.list().length,
      ...this.counters,
      recipientTopics: this.joined.size,
    }
  }

  // ---- finding recipients ----------------------------------------------------------------------

  private directory(): TopicDirectory | undefined {
    const d = this.init.discovery
    return typeof d === 'function' ? d() : d
  }

  /** Joins the topics of the people we have queued messages for; leaves the others. */
  private updateTopics(): void {
    if (!this.started) return
    const d = this.directory()
    if (d === undefined) return
    const want = new Set<string>()
    for (const e of this.outbox.pending()) {
      if (want.size >= this.limits.maxRecipientTopics) break
      if (e.to !== this.me?.id) want.add(e.to)
    }
    for (const to of want) {
      if (this.joined.has(to)) continue
      this.joined.add(to)
      d.addTopic(identityTopic(to))
    }
    for (const to of [...this.joined]) {
      if (want.has(to)) continue
      this.joined.delete(to)
      this.lastRejoin.delete(to)
      d.removeTopic(identityTopic(to))
    }
  }

  /**
   * The relay named tabs of `to` but none is connected (a connection dropped after the join):
   * leave and re-join their topic, so discovery is told about them again and dials.
   */
  private rejoinIfStranded(to: string, now: number): void {
    const d = this.directory()
    if (d === undefined || !this.joined.has(to)) return
    if (now - (this.lastRejoin.get(to) ?? 0) < this.limits.rejoinMs) return
    const topic = identityTopic(to)
    const members = new Set(d.peersIn(topic))
    if (members.size === 0) return
    const connected = this.components.connectionManager
      .getConnections()
      .some((c) => isDirect(c) && members.has(c.remotePeer.toString()))
    if (connected) return
    this.lastRejoin.set(to, now)
    this.log.debug(`re-joining the topic of ${short(to)}: its tabs are known but not connected`)
    d.removeTopic(topic)
    d.addTopic(topic)
  }

  // ---- sending ---------------------------------------------------------------------------------

  private tick(): void {
    if (!this.started) return
    const now = Date.now()
    if (now - this.lastRefresh >= this.limits.refreshMs) {
      this.lastRefresh = now
      this.outbox.refresh().catch((e: unknown) => this.log.warn(describeError(e)))
    }
    this.pass()
  }

  /** Runs a pass soon (several triggers in one task give one pass). */
  private schedule(): void {
    if (this.passScheduled || !this.started) return
    this.passScheduled = true
    setTimeout(() => {
      this.passScheduled = false
      this.pass()
    }, 0)
  }

  /** Starts a delivery run on every connection that may take queued messages. */
  private pass(): void {
    if (!this.started) return
    const pending = this.outbox.pending()
    if (pending.length === 0) return
    const now = Date.now()
    const due = new Set<string>()
    for (const e of pending) if (e.nextAttemptAt <= now && e.to !== this.me?.id) due.add(e.to)
    const waiting = new Set(pending.map((e) => e.to))
    for (const c of this.components.connectionManager.getConnections()) {
      if (!isDirect(c)) continue
      if (this.running.has(c)) {
        this.rerun.add(c)
        continue
      }
      if ((this.quietUntil.get(c) ?? 0) > now) continue
      const who = this.identityOf.get(c)
      if (who === undefined || (waiting.has(who) && (due.has(who) || !this.served.has(c)))) {
        this.startRun(c)
      }
    }
    for (const to of due) this.rejoinIfStranded(to, now)
  }

  private startRun(c: Connection): void {
    const run = this.run(c)
      .catch((e: unknown) => this.log.warn(`outbox run failed: ${describeError(e)}`))
      .finally(() => {
        this.running.delete(c)
        if (this.rerun.delete(c)) this.schedule()
      })
    this.running.set(c, run)
  }

  /** One outbox stream on one connection: learn who is behind it, deliver what is theirs. */
  private async run(c: Connection): Promise<void> {
    const peer = c.remotePeer.toString()
    let stream: Stream
    let major: number
    try {
      ;({ stream, major } = await this.protocol.open(c, {
        runOnLimitedConnection: false,
        signal: AbortSignal.any([
          this.lifetime.signal,
          AbortSignal.timeout(this.limits.helloTimeoutMs),
        ]),
      }))
    } catch (e) {
      // no outbox major in common: a relay, or a tab of another version (identify tells which)
      const unsupported = isUnsupportedProtocol(e)
      this.quietUntil.set(c, unsupported ? Infinity : Date.now() + 5000)
      if (!unsupported) this.log.debug(`no outbox stream to ${short(peer)}: ${describeError(e)}`)
      return
    }
    const framed = new FramedStream(
      stream,
      { maxFrame: MAX_FRAME, maxMessage: MAX_OUTBOX_MESSAGE },
      this.log,
    )
    this.senders.add(framed)
    const link = new SenderLink(framed, this.counters, major)
    const reading = link.read()
    try {
      const cert = await link.hello(this.limits.helloTimeoutMs)
      if (cert === undefined) {
        const other = link.otherVersion
        if (other !== undefined) this.init.onOtherVersion?.(peer, other)
        this.quietUntil.set(c, other === undefined ? Date.now() + 5000 : Infinity)
        return
      }
      const checked = verifyTabCert(cert, peer)
      if (!checked.ok) {
        link.fault(violation(`hello: ${checked.error.message}`))
        this.quietUntil.set(c, Infinity)
        return
      }
      const who = checked.value
      this.identityOf.set(c, who)
      const first = !this.served.has(c)
      if (this.outbox.pending(who).length > 0) this.served.add(c)
      await this.deliver(link, who, first)
    } finally {
      await framed.close()
      // the receiver closes its side once it has answered; do not wait for ever
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<'late'>(
        (r) => (timer = setTimeout(r, this.limits.ackTimeoutMs, 'late')),
      )
      if ((await Promise.race([reading, late])) === 'late') stream.abort(new Error('no close'))
      clearTimeout(timer)
      await reading
      this.senders.delete(framed)
    }
  }

  /** Sends `who`'s messages in windows until none is left to send on this stream. */
  private async deliver(link: SenderLink, who: string, everything: boolean): Promise<void> {
    const tried = new Set<string>()
    while (this.started && link.open) {
      const now = Date.now()
      const batch = this.outbox
        .pending(who)
        .filter(
          (e) =>
            !this.inflight.has(e.id) && !tried.has(e.id) && (everything || e.nextAttemptAt <= now),
        )
        .slice(0, this.limits.window)
      if (batch.length === 0) return
      for (const e of batch) {
        this.inflight.add(e.id)
        tried.add(e.id)
      }
      try {
        const outcomes = await link.send(
          batch.map((e) => this.outbox.message(e.id) as OutboxMessage),
          this.limits.ackTimeoutMs,
        )
        if (!this.started) return
        for (const [i, e] of batch.entries()) {
          const outcome = outcomes[i] as AckStatus | Error
          if (outcome === 'accepted') {
            this.counters.acked++
            await this.outbox.markDelivered(e.id).catch((err: unknown) => {
              this.log.warn(`storing delivery of ${e.id}: ${describeError(err)}`)
            })
          } else {
            this.counters.failed++
            const why = outcome instanceof Error ? outcome.message : `recipient answered ${outcome}`
            this.log.debug(`delivery of ${e.id} to ${short(who)} failed: ${why}`)
            await this.outbox
              .markFailed(e.id, why, outcome === 'rejected')
              .catch((err: unknown) => {
                this.log.warn(`storing a failed attempt of ${e.id}: ${describeError(err)}`)
              })
          }
        }
        if (outcomes.some((o) => o instanceof Error)) return // timed out or broken: stop here
      } finally {
        for (const e of batch) this.inflight.delete(e.id)
      }
    }
  }

  // ---- receiving -------------------------------------------------------------------------------

  private accept(stream: Stream, connection: Connection, major: number): void {
    if (connection.limits !== undefined) {
      stream.abort(new Error('outbox messages are not taken over limited connections'))
      return
    }
    const framed = new FramedStream(
      stream,
      { maxFrame: MAX_FRAME, maxMessage: MAX_OUTBOX_MESSAGE },
      this.log,
    )
    this.receivers.add(framed)
    this.serve(framed, major)
      .catch((e: unknown) => {
        this.log.warn(
          `outbox stream from ${short(connection.remotePeer.toString())}: ${describeError(e)}`,
        )
        framed.stream.abort(e instanceof Error ? e : new Error(String(e)))
      })
      .finally(() => this.receivers.delete(framed))
  }

  private tabCert(): Promise<TabCert> {
    // a certificate is valid for days; a fresh one every hour keeps it far from expiry
    if (this.cert === undefined || Date.now() - this.cert.at > 3600_000) {
      const peerId = this.components.peerId.toString()
      const issue =
        this.init.issueCert ?? (async (p: string) => issueTabCert(await this.identity, p, 'outbox'))
      this.cert = { value: Promise.resolve(issue(peerId)), at: Date.now() }
    }
    return this.cert.value
  }

  private async serve(framed: FramedStream, major: number): Promise<void> {
    const [me, cert] = await Promise.all([this.identity, this.tabCert(), this.ready])
    if (!framed.isOpen) return
    const version = helloVersion('outbox', major)
    framed.send(encodeOutboxFrame({ type: 'hello', version, cert }))
    let chain = Promise.resolve()
    let pending = 0
    const fault = (e: ProtocolError): void => {
      this.counters.protocolErrors++
      framed.abort(e)
    }
    const error = await framed.read((bytes) => {
      const decoded = decodeOutboxFrame(bytes)
      if (!decoded.ok) return fault(decoded.error)
      const f = decoded.value
      if (f.type !== 'message') return fault(violation(`${f.type} from the sending side`))
      if (++pending > this.limits.maxPendingInbound) {
        return fault(violation(`more than ${this.limits.maxPendingInbound} unacknowledged`))
      }
      chain = chain.then(async () => {
        const status = await this.receive(f.message, me)
        pending--
        if (framed.isOpen) framed.send(encodeOutboxFrame({ type: 'ack', id: f.message.id, status }))
      })
    })
    if (error !== undefined) this.counters.protocolErrors++
    await chain
    // the sender ended its side: end ours too (a no-op when it was aborted)
    const stream = framed.stream
    if (stream.writeStatus === 'writable') {
      await stream.close().catch(() => stream.abort(new Error('close failed')))
    }
  }

  private async receive(m: OutboxMessage, me: Identity): Promise<AckStatus> {
    this.counters.received++
    if (!verifyMessage(m)) {
      this.counters.rejected++
      this.log.warn(`refused message ${m.id}: not signed by ${short(m.from)}`)
      return 'rejected'
    }
    if (m.to !== me.id) {
      this.counters.notMe++
      return 'not-me'
    }
    try {
      if ((await this.inbox.accept(m)) === 'duplicate') this.counters.duplicates++
      return 'accepted'
    } catch (e) {
      this.counters.rejected++
      const level = e instanceof OrreryError && e.code === 'FORBIDDEN' ? 'info' : 'warn'
      this.log[level](`refused message ${m.id} from ${short(m.from)}: ${describeError(e)}`)
      return 'rejected'
    }
  }
}

const isDirect = (c: Connection): boolean => c.status === 'open' && c.limits === undefined

/** The sending side of one outbox stream: waits for HELLO, then matches ACKs to messages. */
class SenderLink {
  private cert: TabCert | undefined
  private helloWaiter: ((cert: TabCert | undefined) => void) | undefined
  private readonly acks = new Map<string, (outcome: AckStatus | Error) => void>()
  private ended = false
  /** why the receiver runs another version, when its HELLO said so */
  otherVersion: string | undefined

  constructor(
    private readonly framed: FramedStream,
    private readonly counters: Counters,
    /** the outbox major negotiated for this stream */
    private readonly major: number,
  ) {}

  get open(): boolean {
    return !this.ended && this.framed.isOpen
  }

  /** Reads until the stream ends; then every waiter gets its answer (an error). */
  async read(): Promise<void> {
    const error = await this.framed.read((bytes) => this.onFrame(bytes))
    if (error !== undefined) this.counters.protocolErrors++
    this.ended = true
    this.helloWaiter?.(undefined)
    for (const w of this.acks.values()) w(new Error('the stream closed before the ack'))
    this.acks.clear()
  }

  /** The receiver's certificate, or undefined when it sent none in time. */
  hello(timeoutMs: number): Promise<TabCert | undefined> {
    if (this.cert !== undefined || this.ended || this.otherVersion !== undefined)
      return Promise.resolve(this.cert)
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs)
      const done = (cert: TabCert | undefined): void => {
        clearTimeout(timer)
        this.helloWaiter = undefined
        resolve(cert)
      }
      this.helloWaiter = done
    })
  }

  /** Sends messages and resolves with each one's ACK status, or an Error (timeout, closed). */
  async send(messages: OutboxMessage[], timeoutMs: number): Promise<(AckStatus | Error)[]> {
    const answers = messages.map(
      (m) =>
        new Promise<AckStatus | Error>((resolve) => {
          if (this.ended) return resolve(new Error('the stream closed'))
          this.acks.set(m.id, resolve)
        }),
    )
    const timer = setTimeout(() => {
      for (const w of this.acks.values()) w(new Error('no ack in time'))
      this.acks.clear()
      this.framed.stream.abort(new Error('no ack in time'))
    }, timeoutMs)
    try {
      for (const m of messages) {
        if (!this.open) break
        if (this.framed.needsDrain) await this.framed.drained()
        this.framed.send(encodeOutboxFrame({ type: 'message', message: m }))
        this.counters.sent++
      }
      return await Promise.all(answers)
    } finally {
      clearTimeout(timer)
    }
  }

  fault(e: ProtocolError): void {
    this.counters.protocolErrors++
    this.framed.abort(e)
  }

  private onFrame(bytes: Uint8Array): void {
    const decoded = decodeOutboxFrame(bytes)
    if (!decoded.ok) return this.fault(decoded.error)
    const f: OutboxFrame = decoded.value
    if (this.cert === undefined) {
      if (f.type !== 'hello') return this.fault(violation(`${f.type} before hello`))
      const expected = helloVersion('outbox', this.major)
      if (f.version !== expected) {
        // another version of Orrery that kept the id: not a fault, nothing more to say to it
        this.otherVersion = `its HELLO says outbox v${f.version} on ${protocolId('outbox', this.major)} (v${expected} expected)`
        this.helloWaiter?.(undefined)
        void this.framed.close()
        return
      }
      this.cert = f.cert
      this.helloWaiter?.(f.cert)
      return
    }
    if (f.type !== 'ack') return this.fault(violation(`${f.type} from the receiving side`))
    const waiter = this.acks.get(f.id)
    if (waiter === undefined) return this.fault(violation('an ack for no message sent'))
    this.acks.delete(f.id)
    waiter(f.status)
  }
}

export function orreryOutbox(
  init: OutboxServiceInit,
): (components: OutboxServiceComponents) => OutboxService {
  return (components) => new OutboxService(components, init)
}
