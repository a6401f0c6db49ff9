/**
 * Identity-addressed messages as a libp2p service (a factory taking libp2p components, Startable):
 * the outbox and inbox of store.ts, delivered over `/orrery/outbox/<major>.0.0` (messages.ts;
 * the majors spoken: wire/versions.ts).
 *
 * This module holds the service's lifecycle and decides when delivery runs happen; its parts:
 *   recipient-topics.ts  finding recipients: joining their identity topics at the relay
 *   delivery.ts          delivering: one run per direct connection (sender-link.ts per stream)
 *   receiving.ts         receiving: the accepting side, storing into the inbox and ACKing
 *   service-options.ts   the options, limits and statistics (re-exported here)
 *
 * Runs are started by new connections, by `connection:open`, by enqueueing, and by a timer for
 * due retries (which also re-reads storage now and then for what other tabs queued).
 */
import { serviceCapabilities, serviceDependencies } from '@libp2p/interface'
import type { Startable } from '@libp2p/interface'
import { describeError } from '../errors'
import type { Identity } from '../identity'
import { serviceLogger } from '../log'
import type { JsonValue } from '../values'
import { VersionedProtocol } from '../wire/versions'
import type { OutboxMessage } from './messages'
import { Delivery } from './delivery'
import { Inbox } from './inbox-store'
import { Outbox, type OutboxEntry } from './outbox-store'
import { Receiving } from './receiving'
import { RecipientTopics } from './recipient-topics'
import {
  DEFAULT_OUTBOX_LIMITS,
  type Counters,
  type OutboxLimits,
  type OutboxServiceComponents,
  type OutboxServiceInit,
  type OutboxStats,
} from './service-options'

export {
  DEFAULT_OUTBOX_LIMITS,
  type OutboxLimits,
  type OutboxServiceComponents,
  type OutboxServiceInit,
  type OutboxStats,
  type TopicDirectory,
} from './service-options'

export class OutboxService implements Startable {
  readonly outbox: Outbox
  readonly inbox: Inbox
  readonly limits: OutboxLimits
  /** both stores loaded from storage */
  readonly ready: Promise<void>
  private readonly log = serviceLogger(this.components.logger, 'outbox')
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
  private readonly topics: RecipientTopics
  private readonly delivery: Delivery
  private readonly receiving: Receiving
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
    this.outbox = new Outbox({ storage: init.storage, identity: this.identity, log: this.log })
    this.inbox = new Inbox({ storage: init.storage, log: this.log })
    this.ready = Promise.all([this.outbox.ready, this.inbox.ready]).then(() => undefined)
    this.ready.catch((e: unknown) => this.log.error(`loading the outbox: ${describeError(e)}`))
    const { connectionManager } = components
    const { outbox, inbox, limits, counters, log, protocol } = this
    this.topics = new RecipientTopics({ components, outbox, limits, log })
    this.delivery = new Delivery({
      init,
      outbox,
      limits,
      counters,
      protocol,
      connectionManager,
      log,
      isStarted: () => this.started,
      lifetime: () => this.lifetime.signal,
      schedule: () => this.schedule(),
    })
    this.receiving = new Receiving({
      init,
      inbox,
      identity: this.identity,
      ready: this.ready,
      limits,
      counters,
      peerId: components.peerId,
      log,
    })
  }

  readonly [Symbol.toStringTag] = '@orrery/outbox'
  readonly [serviceCapabilities] = ['@orrery/outbox']
  /** recipients are found through the discovery client; streams open when identify says so */
  readonly [serviceDependencies] = ['@orrery/discovery-client', '@libp2p/identify']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(
      this.components.registrar,
      (s, c, v) => this.receiving.accept(s, c, v),
      { maxInboundStreams: 4, maxOutboundStreams: 4, runOnLimitedConnection: false },
    )
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
        this.topics.joinOwn(me.id)
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
    this.delivery.abortStreams('the outbox service stopped')
    this.receiving.abortStreams('the outbox service stopped')
    await this.delivery.settled()
    this.topics.reset()
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
      recipientTopics: this.topics.count,
    }
  }

  /** Joins the topics of the people we have queued messages for; leaves the others. */
  private updateTopics(): void {
    if (!this.started) return
    this.topics.update(this.me?.id)
  }

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
    this.delivery.startRuns(waiting, due, now)
    for (const to of due) this.topics.rejoinIfStranded(to, now)
  }
}

export function orreryOutbox(
  init: OutboxServiceInit,
): (components: OutboxServiceComponents) => OutboxService {
  return (components) => new OutboxService(components, init)
}
