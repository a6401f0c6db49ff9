/**
 * Receiving for the outbox service (service.ts): the accepting side of outbox streams.
 *
 * Only over direct connections. It sends a HELLO with this tab's certificate first, then for each
 * MESSAGE: verify the signature with the `from` key, check `to` is our identity (else ACK
 * not-me), store through `inbox.accept` (persisted before the ACK) and ACK accepted, duplicates
 * included (the sender resends after a lost ACK). Bad signatures, old messages and storage
 * failures get ACK rejected. Malformed input closes that stream with a log line and nothing else.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { describeError, OrreryError, type ProtocolError } from '../errors'
import type { Identity } from '../identity'
import type { Logger } from '../log'
import { issueTabCert, type TabCert } from '../tab-cert'
import { FramedStream } from '../wire/framed-stream'
import { helloVersion } from '../wire/versions'
import type { Inbox } from './inbox-store'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  OUTBOX_FRAMING,
  verifyMessage,
  type AckStatus,
  type OutboxMessage,
} from './messages'
import {
  short,
  violation,
  type Counters,
  type OutboxLimits,
  type OutboxServiceInit,
} from './service-options'

export interface ReceivingContext {
  /** its `issueCert` is read on each new certificate */
  init: OutboxServiceInit
  inbox: Inbox
  identity: Promise<Identity>
  /** both stores loaded */
  ready: Promise<void>
  limits: OutboxLimits
  counters: Counters
  peerId: PeerId
  log: Logger
}

export class Receiving {
  private readonly receivers = new Set<FramedStream>()
  private cert: { value: Promise<TabCert>; at: number } | undefined

  constructor(private readonly ctx: ReceivingContext) {}

  /** Aborts every outbox stream this side accepted (the service stopped). */
  abortStreams(why: string): void {
    for (const f of [...this.receivers]) f.stream.abort(new Error(why))
    this.receivers.clear()
  }

  /** Takes an inbound outbox stream (the protocol handler). */
  accept(stream: Stream, connection: Connection, major: number): void {
    if (connection.limits !== undefined) {
      stream.abort(new Error('outbox messages are not taken over limited connections'))
      return
    }
    const framed = new FramedStream(stream, OUTBOX_FRAMING, this.ctx.log)
    this.receivers.add(framed)
    this.serve(framed, major)
      .catch((e: unknown) => {
        this.ctx.log.warn(
          `outbox stream from ${short(connection.remotePeer.toString())}: ${describeError(e)}`,
        )
        framed.stream.abort(e instanceof Error ? e : new Error(String(e)))
      })
      .finally(() => this.receivers.delete(framed))
  }

  private tabCert(): Promise<TabCert> {
    // a certificate is valid for days; a fresh one every hour keeps it far from expiry
    if (this.cert === undefined || Date.now() - this.cert.at > 3600_000) {
      const peerId = this.ctx.peerId.toString()
      const issue =
        this.ctx.init.issueCert ??
        (async (p: string) => issueTabCert(await this.ctx.identity, p, 'outbox'))
      this.cert = { value: Promise.resolve(issue(peerId)), at: Date.now() }
    }
    return this.cert.value
  }

  private async serve(framed: FramedStream, major: number): Promise<void> {
    const [me, cert] = await Promise.all([this.ctx.identity, this.tabCert(), this.ctx.ready])
    if (!framed.isOpen) return
    const version = helloVersion('outbox', major)
    framed.send(encodeOutboxFrame({ type: 'hello', version, cert }))
    let chain = Promise.resolve()
    let pending = 0
    const fault = (e: ProtocolError): void => {
      this.ctx.counters.protocolErrors++
      framed.abort(e)
    }
    const error = await framed.read((bytes) => {
      const decoded = decodeOutboxFrame(bytes)
      if (!decoded.ok) return fault(decoded.error)
      const f = decoded.value
      if (f.type !== 'message') return fault(violation(`${f.type} from the sending side`))
      if (++pending > this.ctx.limits.maxPendingInbound) {
        return fault(violation(`more than ${this.ctx.limits.maxPendingInbound} unacknowledged`))
      }
      chain = chain.then(async () => {
        const status = await this.receive(f.message, me)
        pending--
        if (framed.isOpen) framed.send(encodeOutboxFrame({ type: 'ack', id: f.message.id, status }))
      })
    })
    if (error !== undefined) this.ctx.counters.protocolErrors++
    await chain
    // the sender ended its side: end ours too (a no-op when it was aborted)
    const stream = framed.stream
    if (stream.writeStatus === 'writable') {
      await stream.close().catch(() => stream.abort(new Error('close failed')))
    }
  }

  private async receive(m: OutboxMessage, me: Identity): Promise<AckStatus> {
    this.ctx.counters.received++
    if (!verifyMessage(m)) {
      this.ctx.counters.rejected++
      this.ctx.log.warn(`refused message ${m.id}: not signed by ${short(m.from)}`)
      return 'rejected'
    }
    if (m.to !== me.id) {
      this.ctx.counters.notMe++
      return 'not-me'
    }
    try {
      if ((await this.ctx.inbox.accept(m)) === 'duplicate') this.ctx.counters.duplicates++
      return 'accepted'
    } catch (e) {
      this.ctx.counters.rejected++
      const level = e instanceof OrreryError && e.code === 'FORBIDDEN' ? 'info' : 'warn'
      this.ctx.log[level](`refused message ${m.id} from ${short(m.from)}: ${describeError(e)}`)
      return 'rejected'
    }
  }
}
