/**
 * A libp2p stream carrying framed messages (see framing.ts): sends with backpressure, reads
 * with limits, and closes the stream (logged) at the first malformed or oversized input.
 */
import type { Stream } from '@libp2p/interface'
import { describeError, ProtocolError } from '../errors'
import type { Logger } from '../log'
import { trace } from '../timings'
import { encodeMessage, MessageDecoder, type FramingLimits } from './framing'

export class FramedStream {
  private readonly decoder: MessageDecoder
  private closed = false
  private aborted = false

  constructor(
    readonly stream: Stream,
    private readonly limits: FramingLimits,
    private readonly log: Logger,
  ) {
    this.decoder = new MessageDecoder(limits)
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
    if (!this.isOpen) return false
    let more = true
    for (const frame of encodeMessage(message, this.limits.maxFrame)) more = this.stream.send(frame)
    return more
  }

  /** Reads messages until the stream ends; a protocol error aborts the stream and is returned. */
  /**
   * A handler that returns a promise is awaited before the next message is read: the firewall
   * throttles a peer this way, and the pause back-pressures the sender through the stream.
   */
  async read(
    onMessage: (m: Uint8Array) => void | Promise<void>,
  ): Promise<ProtocolError | undefined> {
    try {
      for await (const chunk of this.stream) {
        if (this.aborted) return undefined
        // after our own close() the rest is drained unread: a stream whose remote end is never
        // consumed stays open, and libp2p counts it against the connection's stream limits
        if (this.closed) continue
        trace(`chunk ${chunk.byteLength}`)
        const got = this.decoder.push(chunk)
        if (!got.ok) return this.abort(got.error)
        for (const m of got.value) {
          const pending = onMessage(m)
          if (pending !== undefined) await pending
          if (this.aborted) return undefined
          if (this.closed) break
        }
      }
      const end = this.closed ? { ok: true as const } : this.decoder.end()
      if (!end.ok) return this.abort(end.error)
    } catch (e) {
      if (!this.closed) this.log.debug(`stream ended: ${describeError(e)}`)
    }
    // The remote ended its side. Ours stays open until close(): marking it closed here made the
    // close() that follows a read a no-op, so the stream was never closed and piled up against
    // the connection's stream limits.
    return undefined
  }

  abort(error: ProtocolError): ProtocolError {
    if (!this.aborted) {
      this.aborted = true
      this.closed = true
      this.log.warn(`closing ${this.stream.protocol} stream: ${error.code}: ${error.message}`)
      this.stream.abort(error)
    }
    return error
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    try {
      await this.stream.close()
    } catch {
      this.stream.abort(new Error('close failed'))
    }
  }
}
