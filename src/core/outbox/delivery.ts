/**
 * Delivering queued messages for the outbox service (service.ts), one run per connection.
 *
 * Each direct (non-limited) connection is probed once by opening an outbox stream: the receiving
 * side answers with a HELLO carrying its tab certificate (sender-link.ts), so the sender knows
 * which person is behind that tab before it sends anything (a stranger who joins someone's topic
 * learns nothing and cannot acknowledge in their place). On a connection certified for the
 * recipient, every queued message for them is sent at once (a new connection is news: backoff
 * does not apply), later only those whose retry is due. ACK accepted marks an entry delivered;
 * not-me, rejected, a timeout or a broken stream schedules a retry with backoff.
 */
import type { Connection, Stream } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { isDirect } from '../discovery/dialer'
import { describeError } from '../errors'
import type { Logger } from '../log'
import { verifyTabCert } from '../tab-cert'
import { FramedStream } from '../wire/framed-stream'
import { isUnsupportedProtocol, type VersionedProtocol } from '../wire/versions'
import { OUTBOX_FRAMING, type AckStatus, type OutboxMessage } from './messages'
import type { Outbox } from './outbox-store'
import { SenderLink } from './sender-link'
import {
  short,
  violation,
  type Counters,
  type OutboxLimits,
  type OutboxServiceInit,
} from './service-options'

export interface DeliveryContext {
  /** its `onOtherVersion` is read on each use */
  init: OutboxServiceInit
  outbox: Outbox
  limits: OutboxLimits
  counters: Counters
  protocol: VersionedProtocol
  connectionManager: ConnectionManager
  log: Logger
  /** whether the service runs: runs stop sending once it stops */
  isStarted: () => boolean
  /** aborted when the service stops: streams still being opened give up at once */
  lifetime: () => AbortSignal
  /** asks the service for another pass (a connection's run ended while more was asked of it) */
  schedule: () => void
}

export class Delivery {
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

  constructor(private readonly ctx: DeliveryContext) {}

  /**
   * Starts a delivery run on every direct connection that may take queued messages: those not
   * probed yet, and those certified for a recipient in `waiting` that were not served yet or have
   * messages `due`.
   */
  startRuns(waiting: Set<string>, due: Set<string>, now: number): void {
    for (const c of this.ctx.connectionManager.getConnections()) {
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
  }

  /** Aborts every outbox stream this side opened (the service stopped). */
  abortStreams(why: string): void {
    for (const f of [...this.senders]) f.stream.abort(new Error(why))
    this.senders.clear()
  }

  /** Resolves once every run has ended. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running.values()])
  }

  private startRun(c: Connection): void {
    const run = this.run(c)
      .catch((e: unknown) => this.ctx.log.warn(`outbox run failed: ${describeError(e)}`))
      .finally(() => {
        this.running.delete(c)
        if (this.rerun.delete(c)) this.ctx.schedule()
      })
    this.running.set(c, run)
  }

  /** One outbox stream on one connection: learn who is behind it, deliver what is theirs. */
  private async run(c: Connection): Promise<void> {
    const peer = c.remotePeer.toString()
    let stream: Stream
    let major: number
    try {
      ;({ stream, major } = await this.ctx.protocol.open(c, {
        runOnLimitedConnection: false,
        signal: AbortSignal.any([
          this.ctx.lifetime(),
          AbortSignal.timeout(this.ctx.limits.helloTimeoutMs),
        ]),
      }))
    } catch (e) {
      // no outbox major in common: a relay, or a tab of another version (identify tells which)
      const unsupported = isUnsupportedProtocol(e)
      this.quietUntil.set(c, unsupported ? Infinity : Date.now() + 5000)
      if (!unsupported)
        this.ctx.log.debug(`no outbox stream to ${short(peer)}: ${describeError(e)}`)
      return
    }
    const framed = new FramedStream(stream, OUTBOX_FRAMING, this.ctx.log)
    this.senders.add(framed)
    const link = new SenderLink(framed, this.ctx.counters, major)
    const reading = link.read()
    try {
      const cert = await link.hello(this.ctx.limits.helloTimeoutMs)
      if (cert === undefined) {
        const other = link.otherVersion
        if (other !== undefined) this.ctx.init.onOtherVersion?.(peer, other)
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
      if (this.ctx.outbox.pending(who).length > 0) this.served.add(c)
      await this.deliver(link, who, first)
    } finally {
      await framed.close()
      // the receiver closes its side once it has answered; do not wait for ever
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<'late'>(
        (r) => (timer = setTimeout(r, this.ctx.limits.ackTimeoutMs, 'late')),
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
    while (this.ctx.isStarted() && link.open) {
      const now = Date.now()
      const batch = this.ctx.outbox
        .pending(who)
        .filter(
          (e) =>
            !this.inflight.has(e.id) && !tried.has(e.id) && (everything || e.nextAttemptAt <= now),
        )
        .slice(0, this.ctx.limits.window)
      if (batch.length === 0) return
      for (const e of batch) {
        this.inflight.add(e.id)
        tried.add(e.id)
      }
      try {
        const outcomes = await link.send(
          batch.map((e) => this.ctx.outbox.message(e.id) as OutboxMessage),
          this.ctx.limits.ackTimeoutMs,
        )
        if (!this.ctx.isStarted()) return
        for (const [i, e] of batch.entries()) {
          const outcome = outcomes[i] as AckStatus | Error
          if (outcome === 'accepted') {
            this.ctx.counters.acked++
            await this.ctx.outbox.markDelivered(e.id).catch((err: unknown) => {
              this.ctx.log.warn(`storing delivery of ${e.id}: ${describeError(err)}`)
            })
          } else {
            this.ctx.counters.failed++
            const why = outcome instanceof Error ? outcome.message : `recipient answered ${outcome}`
            this.ctx.log.debug(`delivery of ${e.id} to ${short(who)} failed: ${why}`)
            await this.ctx.outbox
              .markFailed(e.id, why, outcome === 'rejected')
              .catch((err: unknown) => {
                this.ctx.log.warn(`storing a failed attempt of ${e.id}: ${describeError(err)}`)
              })
          }
        }
        if (outcomes.some((o) => o instanceof Error)) return // timed out or broken: stop here
      } finally {
        for (const e of batch) this.inflight.delete(e.id)
      }
    }
  }
}
