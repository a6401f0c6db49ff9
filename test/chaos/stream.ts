/**
 * One end of a model connection, in place of the `FramedStream` a `SyncSession` reads and writes
 * (the session, the repo and the firewall above it are the real ones). Messages sent by one end
 * wait in the other end's `inbox` until the schedule delivers, drops, duplicates or reorders
 * them. Like `FramedStream.read`, an end hands the session one message at a time and, when the
 * session returns a promise (the firewall making the peer wait), delivers nothing more until it
 * settles.
 */
import type { ProtocolError } from '../../src/core/errors'

type Handler = (m: Uint8Array) => void | Promise<void>

export class ModelStream {
  /** messages sent to this end, not delivered yet */
  inbox: Uint8Array[] = []
  remote!: ModelStream
  /** a message's handler is still waiting (the firewall's back-pressure) */
  busy = false
  /** this side will send no more (closed or reset) */
  closed = false
  /** reading has finished: nothing more reaches the session */
  ended = false
  private handler: Handler | undefined
  private done: ((e: ProtocolError | undefined) => void) | undefined

  static pair(): [ModelStream, ModelStream] {
    const a = new ModelStream()
    const b = new ModelStream()
    a.remote = b
    b.remote = a
    return [a, b]
  }

  readonly needsDrain = false

  get isOpen(): boolean {
    return !this.closed
  }

  /** the session raises the limit after HELLO; model messages are never too large */
  setMaxMessage(_bytes: number): void {}

  drained(): Promise<void> {
    return Promise.resolve()
  }

  send(m: Uint8Array): boolean {
    if (this.closed || this.remote.ended) return false
    this.remote.inbox.push(m)
    return true
  }

  /** FramedStream sends these in one write; the model keeps them as separate messages, in order */
  sendAll(ms: readonly Uint8Array[]): boolean {
    let more = true
    for (const m of ms) more = this.send(m)
    return more
  }

  read(h: Handler): Promise<ProtocolError | undefined> {
    this.handler = h
    return new Promise((r) => {
      this.done = r
      if (this.ended) r(undefined)
    })
  }

  /** A protocol error: the stream is reset, both ends stop at once. */
  abort(e: ProtocolError): ProtocolError {
    this.closed = true
    this.finish(e)
    this.remote.reset()
    return e
  }

  /** Our side is done; the remote reads what is in flight and then sees the end. */
  async close(): Promise<void> {
    this.closed = true
    this.finish(undefined)
  }

  /** The connection broke: what was in flight is lost. */
  reset(): void {
    this.closed = true
    this.finish(undefined)
  }

  private finish(e: ProtocolError | undefined): void {
    if (this.ended) return
    this.ended = true
    this.inbox = []
    this.done?.(e)
  }

  /** Ends reading once the remote closed and everything it sent was delivered. */
  tidy(): void {
    if (!this.ended && this.remote.closed && this.inbox.length === 0 && !this.busy)
      this.finish(undefined)
  }

  get deliverable(): boolean {
    return !this.ended && !this.busy && this.handler !== undefined && this.inbox.length > 0
  }

  /** Hands the message at `index` (0: the next in order) to the session. */
  deliver(index = 0): Uint8Array | undefined {
    if (!this.deliverable) return undefined
    const [m] = this.inbox.splice(index, 1)
    if (m === undefined) return undefined
    let pending: void | Promise<void>
    try {
      pending = (this.handler as Handler)(m)
    } catch {
      this.finish(undefined)
      return m
    }
    if (pending !== undefined) {
      this.busy = true
      pending.then(
        () => (this.busy = false),
        () => {
          // FramedStream.read ends when a handler rejects (a message over the size limit)
          this.busy = false
          this.finish(undefined)
        },
      )
    }
    return m
  }
}
