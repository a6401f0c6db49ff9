/**
 * A libp2p stream carrying framed messages (see framing.ts): sends with backpressure, reads
 * with limits, and closes the stream (logged) at the first malformed or oversized input.
 *
 * A split message being received has deadlines: its next part must come within
 * `partialIdleMs`, and the whole within `partialIdleMs` + its size at `partialMinBytesPerSecond`;
 * otherwise the stream is aborted and its parts released. Time spent handling messages or
 * waiting on `charge` (our own throttling) counts against neither deadline.
 */
import type { Stream } from '@libp2p/interface'
import { concatBytes } from '../bytes'
import { describeError, ProtocolError } from '../errors'
import type { Logger } from '../log'
import { trace } from '../timings'
import {
  encodeMessage,
  MessageDecoder,
  PARTIAL_IDLE_MS,
  PARTIAL_MIN_BYTES_PER_SECOND,
  type FramingLimits,
} from './framing'

export interface FramedStreamOptions {
  /**
   * Called with the size of every chunk received, before it is decoded: a returned promise is
   * awaited first (the firewall charges a peer's bytes as they arrive, whole messages or not).
   */
  charge?: (bytes: number) => void | Promise<void>
}

export class FramedStream {
  private readonly decoder: MessageDecoder
  private closed = false
  private aborted = false
  private deadline: ReturnType<typeof setTimeout> | undefined
  /** the error of an abort by a deadline (read() returns it) */
  private expired: ProtocolError | undefined
  /** time spent waiting on `charge` and on handlers: our own doing, not the sender's */
  private waitedMs = 0
  /** the split message the deadlines are for, and `waitedMs` when it began */
  private partialMark: { startedAt: number; waited: number } | undefined

  constructor(
    readonly stream: Stream,
    private readonly limits: FramingLimits,
    private readonly log: Logger,
    private readonly options: FramedStreamOptions = {},
  ) {
    this.decoder = new MessageDecoder(limits)
  }

  /** The largest message accepted from the next frame on (see MessageDecoder.setMaxMessage). */
  setMaxMessage(n: number): void {
    this.decoder.setMaxMessage(n)
  }

  get isOpen(): boolean {
    return !this.closed && this.stream.status === 'open' && this.stream.writeStatus === 'writable'
  }

  /** True when the transport buffer is full: wait for `drained()` before sending more. */
  get needsDrain(): boolean {
    return this.stream.writableNeedsDrain
  }

  drained(): Promise<void> {
    return this.stream.onDrain()
  }

  /** Queues a message; returns false when the caller should wait for `drained()`. */
  send(message: Uint8Array): boolean {
    return this.sendAll([message])
  }

  /**
   * Queues messages as one write to the stream (one data-channel message over WebRTC, when they
   * fit in it: the receiver reads them all in one task).
   */
  sendAll(messages: readonly Uint8Array[]): boolean {
    if (!this.isOpen) return false
    const frames = messages.flatMap((m) => encodeMessage(m, this.limits.maxFrame))
    if (frames.length === 1) return this.stream.send(frames[0]!)
    let more = true
    let bytes = 0
    for (const f of frames) bytes += f.length
    if (bytes <= this.limits.maxFrame) return this.stream.send(concatBytes(frames))
    for (const frame of frames) more = this.stream.send(frame)
    return more
  }

  /**
   * Reads messages until the stream ends; a protocol error aborts the stream and is returned.
   * A handler that returns a promise is awaited before the next message is read: the firewall
   * throttles a peer this way. The stream is paused meanwhile (see `waiting`).
   */
  async read(
    onMessage: (m: Uint8Array) => void | Promise<void>,
  ): Promise<ProtocolError | undefined> {
    try {
      for await (const chunk of this.stream) {
        this.disarm()
        if (this.aborted) return this.expired
        // after our own close() the rest is drained unread: a stream whose remote end is never
        // consumed stays open, and libp2p counts it against the connection's stream limits
        if (this.closed) continue
        trace(`chunk ${chunk.byteLength}`)
        const charged = this.options.charge?.(chunk.byteLength)
        if (charged !== undefined) await this.waiting(charged)
        if (this.aborted) return this.expired
        this.decoder.append(chunk)
        for (;;) {
          const got = this.decoder.next()
          if (!got.ok) return this.abort(got.error)
          if (got.value === undefined) break
          const pending = onMessage(got.value)
          if (pending !== undefined) await this.waiting(pending)
          if (this.aborted) return this.expired
          if (this.closed) break
        }
        this.arm()
      }
      const end = this.closed ? { ok: true as const } : this.decoder.end()
      if (!end.ok) return this.abort(end.error)
    } catch (e) {
      if (!this.closed) this.log.debug(`stream ended: ${describeError(e)}`)
    } finally {
      this.disarm()
      this.decoder.fail(new ProtocolError('PROTOCOL_VIOLATION', 'stream ended')) // frees the parts
    }
    // The remote ended its side. Ours stays open until close(): marking it closed here made the
    // close() that follows a read a no-op, so the stream was never closed and piled up against
    // the connection's stream limits.
    return this.expired
  }

  /**
   * Waits on our own work or throttling with the stream paused. libp2p's stream iterator queues
   * whatever arrives, without limit, while we are not reading: a throttled peer could pile up any
   * amount of memory. Paused, yamux stops granting the sender window (it stalls), and a transport
   * without receive back-pressure (WebRTC) buffers at most the stream's `maxReadBufferLength`
   * (4 MiB) before libp2p aborts the stream.
   */
  private async waiting(p: Promise<void>): Promise<void> {
    const since = Date.now()
    const paused = this.stream.readStatus === 'readable'
    if (paused) this.stream.pause()
    try {
      await p
    } finally {
      this.waitedMs += Date.now() - since
      if (paused && this.stream.readStatus === 'paused') this.stream.resume()
    }
  }

  /**
   * While a split message is pending and we wait for bytes, its deadlines run. The whole
   * message's deadline is moved by the time we spent throttling the peer or handling messages
   * since it began: a peer we slow down must not miss it for that.
   */
  private arm(): void {
    const p = this.decoder.pending
    if (p === undefined || this.closed) return
    if (this.partialMark?.startedAt !== p.startedAt)
      this.partialMark = { startedAt: p.startedAt, waited: this.waitedMs }
    const idle = this.limits.partialIdleMs ?? PARTIAL_IDLE_MS
    const rate = this.limits.partialMinBytesPerSecond ?? PARTIAL_MIN_BYTES_PER_SECOND
    const ours = this.waitedMs - this.partialMark.waited
    const whole = p.startedAt + idle + (p.total * 1000) / rate + ours
    const now = Date.now()
    const ms = Math.max(0, Math.min(idle, whole - now))
    const late = now + idle > whole
    this.deadline = setTimeout(() => {
      this.deadline = undefined
      const what = late ? 'did not arrive in time' : `stalled for ${idle} ms`
      this.expired = new ProtocolError(
        'PROTOCOL_VIOLATION',
        `a split message of ${p.total} bytes ${what} (${this.decoder.pending?.size ?? p.size} received)`,
      )
      this.decoder.fail(this.expired)
      this.abort(this.expired)
    }, ms)
  }

  private disarm(): void {
    if (this.deadline !== undefined) clearTimeout(this.deadline)
    this.deadline = undefined
  }

  abort(error: ProtocolError): ProtocolError {
    if (!this.aborted) {
      this.aborted = true
      this.closed = true
      this.disarm()
      this.decoder.fail(error)
      this.log.warn(`closing ${this.stream.protocol} stream: ${error.code}: ${error.message}`)
      this.stream.abort(error)
    }
    return error
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.disarm()
    try {
      await this.stream.close()
    } catch {
      this.stream.abort(new Error('close failed'))
    }
  }
}
