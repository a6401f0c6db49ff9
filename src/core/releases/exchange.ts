/**
 * The streams of the releases protocol (messages.ts), one per exchange, each bounded by a
 * timeout:
 *   query:   we open, send QUERY, read ANNOUNCE* (at most one per key asked) until DONE, close.
 *   push:    we open, send the releases queued for that peer (in order) and DONE, read until the
 *            peer closes, close. One push at a time per peer, so versions arrive in order.
 *   inbound: QUERY (subscribes the peer; answered with our latest and DONE), ANNOUNCE (a push),
 *            DONE (we close). Every QUERY and ANNOUNCE takes a token from the peer's bucket.
 * Malformed input closes the stream and is a strike; what an announcement means is decided by
 * the service (`receive`), which returns false for a bad manifest: that closes the stream too.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { appKey } from '../apps/topic'
import { fromUtf8 } from '../bytes'
import { describeError, ProtocolError } from '../errors'
import type { Logger } from '../log'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import type { VersionedProtocol } from '../wire/versions'
import {
  decodeReleasesMessage,
  encodeReleasesMessage,
  MAX_KEYS_PER_QUERY,
  MAX_RELEASES_MESSAGE,
  type ReleaseKey,
} from './messages'
import type { PeerBook, Release } from './peer-book'

export interface ReleaseCounters {
  /** ANNOUNCE messages received (answers and pushes) */
  announcesIn: number
  /** ANNOUNCE messages sent */
  announcesOut: number
  /** announcements refused: bad signature, malformed manifest, another publisher's key */
  refused: number
  /** releases streams closed for malformed input (either side) */
  protocolErrors: number
  /** inbound streams closed because the peer sent faster than its bucket allows */
  throttled: number
}

export interface ExchangeHost {
  log: Logger
  limits: { timeoutMs: number; announceBurst: number; announcesPerSecond: number }
  /** the releases majors spoken */
  protocol: VersionedProtocol
  book: PeerBook
  counters: ReleaseCounters
  latest(key: string): Release | undefined
  /** false: a bad manifest (refused, struck): close the stream */
  receive(bytes: Uint8Array, from: string): boolean
  strike(peer: string, why: string): void
  connections(): Connection[]
}

/** releases sent on one push stream (the receiver's burst allows more) */
const MAX_PER_PUSH = 16

export const short = (peer: string): string => peer.slice(-8)
const violation = (why: string): ProtocolError => new ProtocolError('PROTOCOL_VIOLATION', why)
const announce = (r: Release): Uint8Array =>
  encodeReleasesMessage({ type: 'announce', manifest: r.bytes })
const DONE = encodeReleasesMessage({ type: 'done' })

/** Publisher and name of a manifest that did not verify, as far as they can be read (for logs). */
export function peek(bytes: Uint8Array): { publisher: string; name: string } {
  try {
    const v = JSON.parse(fromUtf8(bytes)) as unknown
    if (typeof v !== 'object' || v === null) return { publisher: '', name: '' }
    const { publisher, name } = v as { publisher?: unknown; name?: unknown }
    return {
      publisher: typeof publisher === 'string' ? publisher.slice(0, 128) : '',
      name: typeof name === 'string' ? name.slice(0, 100) : '',
    }
  } catch {
    return { publisher: '', name: '' }
  }
}

export class Exchange {
  private readonly streams = new Set<FramedStream>()
  private controller = new AbortController()

  constructor(private readonly host: ExchangeHost) {}

  /** aborted by `stop`: streams being opened give up */
  get lifetime(): AbortSignal {
    return this.controller.signal
  }

  restart(): void {
    this.controller = new AbortController()
  }

  stop(): void {
    this.controller.abort()
    for (const f of this.streams) f.stream.abort(new Error('the releases service stopped'))
    this.streams.clear()
  }

  accept(stream: Stream, connection: Connection): void {
    const peer = connection.remotePeer.toString()
    if (connection.limits !== undefined) {
      stream.abort(new Error('releases are not exchanged over limited connections'))
      return
    }
    if (this.host.book.isIgnored(peer, Date.now())) {
      this.host.log.debug(`refusing a releases stream from ${short(peer)}: ignored for a while`)
      stream.abort(new Error('ignored for a while'))
      return
    }
    this.run(stream, async (framed) => {
      const error = await framed.read((m) => this.onInbound(framed, peer, m))
      if (error !== undefined) this.faulted(peer, error)
      // the remote ended its side: end ours too (a no-op when it was aborted)
      if (stream.writeStatus === 'writable') await framed.close()
    }).catch((e: unknown) => this.host.log.debug(`releases stream: ${describeError(e)}`))
  }

  /** Asks a peer for its latest of `keys` (and subscribes to them there). */
  async query(peer: string, keys: ReleaseKey[], connection?: Connection): Promise<void> {
    for (let i = 0; i < keys.length; i += MAX_KEYS_PER_QUERY) {
      if (this.lifetime.aborted || this.host.book.isIgnored(peer, Date.now())) return
      const chunk = keys.slice(i, i + MAX_KEYS_PER_QUERY)
      const stream = await this.open(peer, connection)
      if (stream === undefined) return
      await this.run(stream, async (framed) => {
        framed.send(encodeReleasesMessage({ type: 'query', keys: chunk }))
        let answers = 0
        const error = await framed.read((bytes) => {
          const m = decodeReleasesMessage(bytes)
          if (!m.ok) return this.fault(framed, peer, m.error)
          const msg = m.value
          if (msg.type === 'done') {
            void framed.close()
          } else if (msg.type === 'query') {
            this.fault(framed, peer, violation('a QUERY in an answer'))
          } else if (++answers > chunk.length) {
            this.fault(framed, peer, violation(`more announcements than the ${chunk.length} asked`))
          } else {
            this.host.counters.announcesIn++
            if (!this.host.receive(msg.manifest, peer)) framed.abort(violation('a bad manifest'))
          }
        })
        if (error !== undefined) this.faulted(peer, error)
        await framed.close()
      }).catch((e: unknown) => this.host.log.debug(`query to ${short(peer)}: ${describeError(e)}`))
    }
  }

  /** Sends the peer what is queued for it; returns at once when a push is already running. */
  async push(peer: string): Promise<void> {
    const p = this.host.book.get(peer)
    if (p === undefined || p.pushing) return
    p.pushing = true
    try {
      while (p.queue.length > 0 && !this.lifetime.aborted) {
        const stream = await this.open(peer)
        if (stream === undefined || this.host.book.isIgnored(peer, Date.now())) {
          stream?.abort(new Error('not pushing'))
          p.queue.length = 0
          break
        }
        const batch = p.queue.splice(0, MAX_PER_PUSH)
        await this.run(stream, async (framed) => {
          for (const r of batch) {
            if (framed.needsDrain) await framed.drained()
            if (!framed.isOpen) return
            framed.send(announce(r))
            this.host.counters.announcesOut++
          }
          framed.send(DONE)
          const error = await framed.read(() =>
            this.fault(framed, peer, violation('a message in answer to a push')),
          )
          if (error !== undefined) this.faulted(peer, error)
          await framed.close()
        })
      }
    } catch (e) {
      this.host.log.debug(`push to ${short(peer)} stopped: ${describeError(e)}`)
    } finally {
      p.pushing = false
    }
  }

  private onInbound(framed: FramedStream, peer: string, bytes: Uint8Array): void | Promise<void> {
    const m = decodeReleasesMessage(bytes)
    if (!m.ok) return this.fault(framed, peer, m.error)
    const msg = m.value
    if (msg.type === 'done') {
      void framed.close()
      return
    }
    if (!this.host.book.take(peer, Date.now())) {
      this.host.counters.throttled++
      const { announceBurst, announcesPerSecond } = this.host.limits
      const limit = `${announceBurst} at once, ${announcesPerSecond}/s`
      framed.abort(violation(`${short(peer)} sends more than ${limit}`))
      return
    }
    if (msg.type === 'announce') {
      this.host.counters.announcesIn++
      if (!this.host.receive(msg.manifest, peer)) framed.abort(violation('a bad manifest'))
      return
    }
    const over = this.host.book.subscribe(peer, msg.keys.map(appKey))
    if (over > 0) this.host.log.debug(`${short(peer)}: ${over} subscriptions over the limit`)
    return this.answer(framed, msg.keys)
  }

  private async answer(framed: FramedStream, keys: ReleaseKey[]): Promise<void> {
    for (const k of keys) {
      const r = this.host.latest(appKey(k))
      if (r === undefined) continue
      if (framed.needsDrain) await framed.drained()
      if (!framed.isOpen) return
      framed.send(announce(r))
      this.host.counters.announcesOut++
    }
    framed.send(DONE)
  }

  /** A new releases stream on a direct connection (undefined, logged, when there is none). */
  private async open(peer: string, connection?: Connection): Promise<Stream | undefined> {
    const usable = (c: Connection): boolean => c.status === 'open' && c.limits === undefined
    const c =
      connection !== undefined && usable(connection)
        ? connection
        : this.host.connections().find((c) => c.remotePeer.toString() === peer && usable(c))
    if (c === undefined) return undefined
    try {
      const { stream } = await this.host.protocol.open(c, {
        runOnLimitedConnection: false,
        signal: AbortSignal.any([this.lifetime, AbortSignal.timeout(this.host.limits.timeoutMs)]),
      })
      return stream
    } catch (e) {
      this.host.log.debug(`no releases stream to ${short(peer)}: ${describeError(e)}`)
      return undefined
    }
  }

  /** Runs one exchange on a stream: tracked (for `stop`) and aborted after the timeout. */
  private async run(stream: Stream, body: (framed: FramedStream) => Promise<void>): Promise<void> {
    const limits = { maxFrame: MAX_FRAME, maxMessage: MAX_RELEASES_MESSAGE }
    const framed = new FramedStream(stream, limits, this.host.log)
    if (this.lifetime.aborted) {
      stream.abort(new Error('the releases service stopped'))
      return
    }
    this.streams.add(framed)
    const timer = setTimeout(() => {
      this.host.log.debug(`releases exchange on ${stream.id} timed out`)
      stream.abort(new Error('the releases exchange timed out'))
    }, this.host.limits.timeoutMs)
    try {
      await body(framed)
    } finally {
      clearTimeout(timer)
      this.streams.delete(framed)
    }
  }

  /** Bad input: a protocol error and a strike against the peer. */
  private faulted(peer: string, error: ProtocolError): void {
    this.host.counters.protocolErrors++
    this.host.strike(peer, `${error.code}: ${error.message}`)
  }

  private fault(framed: FramedStream, peer: string, error: ProtocolError): void {
    this.faulted(peer, error)
    framed.abort(error)
  }
}
