/**
 * One side of a mirror stream (protocol.ts): one framed message sent and the writable end closed
 * (`sendOne`); the other side's whole half read, which must be exactly one framed message
 * (`readOne`). The mirror and its clients both use these, so both read with the same strictness.
 */
import type { Stream } from '@libp2p/interface'
import { describeError, OrreryError, ProtocolError, type Result, err, ok } from '../errors'
import { encodeMessage, MAX_FRAME, MessageDecoder, ReassemblyBusyError } from '../wire/framing'
import type { ReassemblyAccount } from '../wire/reassembly'

export interface ReadOneOptions {
  /** the largest message taken (framing.ts refuses more before buffering it) */
  maxMessage: number
  /** when it fires, the stream is aborted and the read answers PEER_UNREACHABLE */
  signal: AbortSignal
  /** where the parts of a split message are reserved (the mirror's budget for its peers) */
  reassembly?: ReassemblyAccount
  /** who is on the other side, for messages ('the mirror', 'the client') */
  remote: string
}

/**
 * Reads the remote's half of `stream` to its end: exactly one framed message. Never throws.
 *
 * - bytes that break the framing, a message over `maxMessage`, a second message or an end
 *   inside a message: a ProtocolError, as soon as it is seen (the rest is left unread, the
 *   stream still open: the caller may answer before it closes it);
 * - the reassembly budget of every peer full: NOT_READY (nobody's fault; try again later);
 * - the stream reset or failed, or `signal` fired (the stream is then aborted): PEER_UNREACHABLE;
 * - an end with no message at all: PROTOCOL_VIOLATION.
 */
export async function readOne(
  stream: Stream,
  options: ReadOneOptions,
): Promise<Result<Uint8Array, OrreryError>> {
  const { signal, remote } = options
  const decoder = new MessageDecoder({
    maxFrame: MAX_FRAME,
    maxMessage: options.maxMessage,
    ...(options.reassembly === undefined ? {} : { reassembly: options.reassembly }),
  })
  const late = (): Result<never, OrreryError> =>
    err(new OrreryError('PEER_UNREACHABLE', `${remote} did not finish in time`))
  const onAbort = (): void => stream.abort(new OrreryError('ABORTED', 'the deadline passed'))
  if (signal.aborted) return late()
  signal.addEventListener('abort', onAbort, { once: true })
  let message: Uint8Array | undefined
  try {
    for await (const chunk of stream) {
      decoder.append(chunk)
      for (;;) {
        const got = decoder.next()
        if (!got.ok) return refused(got.error)
        if (got.value === undefined) break
        if (message !== undefined)
          return err(new ProtocolError('PROTOCOL_VIOLATION', `${remote} sent a second message`))
        message = got.value
      }
    }
    // the remote's half ended cleanly; a reset that came after it does not undo the message
    if (signal.aborted) return late()
    const end = decoder.end()
    if (!end.ok) return err(end.error)
    if (message !== undefined) return ok(message)
    if (stream.status === 'reset' || stream.status === 'aborted')
      return err(new OrreryError('PEER_UNREACHABLE', `the stream to ${remote} was reset`))
    return err(new ProtocolError('PROTOCOL_VIOLATION', `${remote} closed the stream empty`))
  } catch (e) {
    if (signal.aborted) return late()
    return err(
      new OrreryError('PEER_UNREACHABLE', `the stream to ${remote} failed: ${describeError(e)}`, {
        cause: e,
      }),
    )
  } finally {
    signal.removeEventListener('abort', onAbort)
    decoder.fail(new ProtocolError('PROTOCOL_VIOLATION', 'read ended')) // frees a split message
  }
}

function refused(e: ProtocolError): Result<never, OrreryError> {
  if (e instanceof ReassemblyBusyError)
    return err(new OrreryError('NOT_READY', 'the mirror is busy receiving: try again later'))
  return err(e)
}

/**
 * Sends `message` framed, waiting for the stream to drain between frames, then closes our
 * writable end. Never throws: answers the error that stopped it (a reset, `signal`), if any.
 */
export async function sendOne(
  stream: Stream,
  message: Uint8Array,
  signal: AbortSignal,
): Promise<Error | undefined> {
  try {
    for (const frame of encodeMessage(message, MAX_FRAME))
      if (!stream.send(frame)) await stream.onDrain({ signal })
    await stream.close({ signal })
    return undefined
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e))
  }
}
