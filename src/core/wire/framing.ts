/**
 * Message framing for Orrery's libp2p protocols. A frame is `varint(length) flag payload`:
 *   flag 0: a whole message
 *   flag 1: the first part of a large message: varint(totalLength) then data
 *   flag 2: a following part
 * Frames are at most `maxFrame` bytes (256 KiB: no frame exceeds what one data-channel message
 * may carry, whatever the transport does underneath); a message may be up to `maxMessage`.
 * The decoder refuses an oversized length prefix before buffering it, so a peer cannot make us
 * hold more than one frame of garbage. Split messages are the one place a peer makes us hold
 * memory across frames: each part is reserved in a `ReassemblyAccount` (per peer and in total,
 * reassembly.ts) when one is given, and the stream (framed-stream.ts) puts deadlines on them.
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { ProtocolError, type Result, ok, err } from '../errors'
import { Reader, Writer } from './codec'
import type { ReassemblyAccount } from './reassembly'

export const MAX_FRAME = 256 * 1024
/** a split message whose next part does not come within this long ends the stream */
export const PARTIAL_IDLE_MS = 30_000
/** and one must be whole within PARTIAL_IDLE_MS + its size at this rate (bytes a second) */
export const PARTIAL_MIN_BYTES_PER_SECOND = 64 * 1024

export interface FramingLimits {
  maxFrame: number
  maxMessage: number
  /** where the parts of split messages are reserved (none: only `maxMessage` bounds them) */
  reassembly?: ReassemblyAccount
  /** deadlines on split messages (defaults above) */
  partialIdleMs?: number
  partialMinBytesPerSecond?: number
}

/** A split message being received. */
export interface PartialInfo {
  total: number
  size: number
  /** Date.now() when its first part came */
  startedAt: number
}

/** A refusal that is not the peer's fault: every peer's partial messages together fill the budget. */
export class ReassemblyBusyError extends ProtocolError {
  constructor(message: string) {
    super('MESSAGE_TOO_LARGE', message)
    this.name = 'ReassemblyBusyError'
  }
}

export function encodeMessage(message: Uint8Array, maxFrame = MAX_FRAME): Uint8Array[] {
  const headroom = 16
  if (message.length + 1 + headroom <= maxFrame) {
    return [
      new Writer()
        .varint(message.length + 1)
        .u8(0)
        .raw(message)
        .finish(),
    ]
  }
  const frames: Uint8Array[] = []
  const partSize = maxFrame - headroom - 10
  // a part must carry at least one byte, or the loop below would never end
  if (!(partSize >= 1)) throw new RangeError(`maxFrame ${maxFrame} is too small to split messages`)
  for (let at = 0; at < message.length; at += partSize) {
    const chunk = message.subarray(at, Math.min(at + partSize, message.length))
    const body =
      at === 0
        ? new Writer().u8(1).varint(message.length).raw(chunk).finish()
        : new Writer().u8(2).raw(chunk).finish()
    frames.push(new Writer().varint(body.length).raw(body).finish())
  }
  return frames
}

interface PartialMessage extends PartialInfo {
  parts: Uint8Array[]
}

/**
 * A part as kept until its message is complete. The frame is a view into whatever chunk the
 * transport delivered, or a fresh copy when it spanned chunks: a copy is kept as it is (copying it
 * again doubled the memory a split message costs while the first copy waited for GC), a view is
 * copied so that a small part never pins a large chunk beyond what the budget reserved for it.
 */
function own(data: Uint8Array, frame: Uint8Array): Uint8Array {
  return frame.byteOffset === 0 && frame.buffer.byteLength === frame.byteLength
    ? data
    : new Uint8Array(data) // (a copy: in Node, frames are Buffers, whose slice() is a view)
}

/** Turns a byte stream into messages; after the first error it stays failed. */
export class MessageDecoder {
  private readonly buf = new Uint8ArrayList()
  private partial: PartialMessage | undefined
  private failed: ProtocolError | undefined
  private maxMessage: number

  constructor(private readonly limits: FramingLimits) {
    this.maxMessage = limits.maxMessage
  }

  /**
   * Changes the largest message accepted from the next frame on (a protocol raises it once the
   * peer has said who it is). Frames already buffered but not yet taken by `next` are judged by
   * the new limit.
   */
  setMaxMessage(n: number): void {
    this.maxMessage = n
  }

  /** Feeds bytes; returns the complete messages, or the error that ended the stream. */
  push(chunk: Uint8Array | Uint8ArrayList): Result<Uint8Array[], ProtocolError> {
    this.append(chunk)
    const out: Uint8Array[] = []
    for (;;) {
      const got = this.next()
      if (!got.ok) return got
      if (got.value === undefined) return ok(out)
      out.push(got.value)
    }
  }

  /** Buffers bytes (at most one frame of them stays buffered after `next` has run dry). */
  append(chunk: Uint8Array | Uint8ArrayList): void {
    if (this.failed === undefined) this.buf.append(chunk)
  }

  /** The next complete message, undefined when more bytes are needed, or the error. */
  next(): Result<Uint8Array | undefined, ProtocolError> {
    if (this.failed !== undefined) return err(this.failed)
    for (;;) {
      const header = this.readLength()
      if (header === 'need-more') return ok(undefined)
      if (!header.ok) return this.fail(header.error)
      const { length, headerSize } = header.value
      if (this.buf.length < headerSize + length) return ok(undefined)
      const frame = this.buf.subarray(headerSize, headerSize + length)
      this.buf.consume(headerSize + length)
      const msg = this.onFrame(frame)
      if (!msg.ok) return this.fail(msg.error)
      if (msg.value !== undefined) return ok(msg.value)
    }
  }

  /** The split message being received, if any. */
  get pending(): PartialInfo | undefined {
    const p = this.partial
    return p === undefined ? undefined : { total: p.total, size: p.size, startedAt: p.startedAt }
  }

  /** Called when the stream ended: a half-received frame or message is an error. */
  end(): Result<void, ProtocolError> {
    if (this.failed !== undefined) return err(this.failed)
    if (this.buf.length > 0 || this.partial !== undefined) {
      return this.fail(new ProtocolError('MALFORMED_MESSAGE', 'stream ended inside a message'))
    }
    return ok(undefined)
  }

  /** Ends decoding with `e` (e.g. a deadline passed): buffers and reservations are released. */
  fail(e: ProtocolError): Result<never, ProtocolError> {
    this.failed ??= e
    this.buf.consume(this.buf.length)
    this.dropPartial()
    return err(this.failed)
  }

  private dropPartial(): void {
    if (this.partial !== undefined) this.limits.reassembly?.release(this.partial.size)
    this.partial = undefined
  }

  /** Reserves a part's bytes, or the error that refuses it. */
  private reserve(bytes: number): ProtocolError | undefined {
    const refused = this.limits.reassembly?.reserve(bytes)
    if (refused === undefined) return undefined
    if (refused === 'total')
      return new ReassemblyBusyError('split messages of all peers fill the reassembly budget')
    return new ProtocolError('MESSAGE_TOO_LARGE', "split messages over this peer's budget")
  }

  private readLength():
    Result<{ length: number; headerSize: number }, ProtocolError> | 'need-more' {
    let length = 0
    let mul = 1
    for (let i = 0; i < 5; i++) {
      if (i >= this.buf.length) return 'need-more'
      const b = this.buf.get(i)
      length += (b & 0x7f) * mul
      if ((b & 0x80) === 0) {
        if (length > this.limits.maxFrame) {
          return err(
            new ProtocolError(
              'MESSAGE_TOO_LARGE',
              `frame of ${length} bytes exceeds ${this.limits.maxFrame}`,
            ),
          )
        }
        if (length === 0) return err(new ProtocolError('MALFORMED_MESSAGE', 'empty frame'))
        return ok({ length, headerSize: i + 1 })
      }
      mul *= 0x80
    }
    return err(new ProtocolError('MALFORMED_MESSAGE', 'frame length prefix too long'))
  }

  private onFrame(frame: Uint8Array): Result<Uint8Array | undefined, ProtocolError> {
    const r = new Reader(frame)
    const flag = r.u8()
    if (flag === 0) {
      if (this.partial !== undefined)
        return err(new ProtocolError('PROTOCOL_VIOLATION', 'whole message inside a split one'))
      if (frame.length - 1 > this.maxMessage) {
        return err(new ProtocolError('MESSAGE_TOO_LARGE', 'message exceeds the limit'))
      }
      return ok(frame.slice(1))
    }
    if (flag === 1) {
      if (this.partial !== undefined)
        return err(
          new ProtocolError('PROTOCOL_VIOLATION', 'new split message before the last ended'),
        )
      const total = r.varint(this.maxMessage)
      if (r.error !== undefined) {
        return err(new ProtocolError('MESSAGE_TOO_LARGE', `split message: ${r.error}`))
      }
      const data = r.rest()
      if (data.length === 0 || data.length > total)
        return err(new ProtocolError('MALFORMED_MESSAGE', 'bad first part'))
      const refused = this.reserve(data.length)
      if (refused !== undefined) return err(refused)
      this.partial = { total, parts: [own(data, frame)], size: data.length, startedAt: Date.now() }
    } else if (flag === 2) {
      if (this.partial === undefined)
        return err(new ProtocolError('PROTOCOL_VIOLATION', 'continuation without a first part'))
      const data = r.rest()
      if (data.length === 0 || this.partial.size + data.length > this.partial.total) {
        return err(new ProtocolError('MALFORMED_MESSAGE', 'parts longer than announced'))
      }
      const refused = this.reserve(data.length)
      if (refused !== undefined) return err(refused)
      this.partial.parts.push(own(data, frame))
      this.partial.size += data.length
    } else {
      return err(new ProtocolError('MALFORMED_MESSAGE', `unknown frame flag ${flag}`))
    }
    const p = this.partial
    if (p.size < p.total) return ok(undefined)
    this.dropPartial() // (the parts stay alive until the copy below is made)
    const out = new Uint8Array(p.total)
    let at = 0
    for (const part of p.parts) {
      out.set(part, at)
      at += part.length
    }
    return ok(out)
  }
}
