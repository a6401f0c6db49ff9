/**
 * One data-channel message per libp2p frame. @libp2p/webrtc sends each stream frame as two
 * `RTCDataChannel.send` calls, the varint length prefix (1-5 bytes) and then the protobuf body,
 * in one synchronous loop. Each becomes its own SCTP message: two packets, two message events
 * (two main-thread tasks) at the receiver, and the body waiting behind the prefix. Measured on
 * W1 (bench/profile-w1.ts --trace), a frame took 2-5 ms from send to arrival against ~0.5 ms
 * for a raw data channel. Held here: a send of at most PREFIX_MAX bytes is kept and put in
 * front of the next send, or sent alone at the end of the current task (a queued microtask) if
 * nothing follows. The receiver reads the channel as a byte stream (it length-prefix-decodes
 * across messages), so where message boundaries fall does not matter to it.
 */

/** the longest varint length prefix libp2p writes (a frame under 2^35 bytes) */
const PREFIX_MAX = 5

type SendArg = string | Blob | ArrayBuffer | ArrayBufferView<ArrayBuffer>

function bytesOf(data: SendArg): Uint8Array<ArrayBuffer> | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return undefined
}

/** Makes `channel.send` coalesce a short send with the next one (see above). */
export function coalesceSends(channel: RTCDataChannel): RTCDataChannel {
  const send = channel.send.bind(channel) as (data: SendArg) => void
  let held: Uint8Array<ArrayBuffer> | undefined
  const release = (): void => {
    const h = held
    held = undefined
    if (h === undefined || channel.readyState !== 'open') return
    send(h)
  }
  const coalescing = (data: SendArg): void => {
    const bytes = bytesOf(data)
    if (bytes === undefined) {
      release()
      send(data)
      return
    }
    if (held === undefined) {
      if (bytes.byteLength <= PREFIX_MAX) {
        held = bytes.slice() // the caller may reuse its buffer
        queueMicrotask(release)
        return
      }
      send(data)
      return
    }
    const joined = new Uint8Array(held.byteLength + bytes.byteLength)
    joined.set(held, 0)
    joined.set(bytes, held.byteLength)
    held = undefined
    send(joined)
  }
  channel.send = coalescing as RTCDataChannel['send']
  return channel
}
