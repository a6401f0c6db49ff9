/**
 * The mirror's reads over HTTP, from the relay that served the page (`POST /orrery/mirror`).
 * A link opened in a fresh browser asks for its document's envelopes at once, long before
 * libp2p is up and the relay dialled: the page has its envelopes by the time Automerge has
 * loaded. The body is one mirror request (protocol.ts, unframed), the answer one mirror answer;
 * the relay takes only reads this way (SINCE, ROSTER_GET), uploads go over libp2p. What comes
 * back is checked as strictly as over a stream (MirrorClient), and nothing here throws.
 */
import { describeError, OrreryError, ProtocolError, type Result, err, ok } from '../errors'
import type { MirrorExchange } from './client'

/** where the relay answers mirror reads */
export const MIRROR_HTTP_PATH = '/orrery/mirror'

/** the largest request the relay reads over HTTP (a SINCE or a ROSTER_GET is under 100 bytes) */
export const MAX_MIRROR_HTTP_REQUEST = 4096

export type Fetch = (url: string, init: RequestInit) => Promise<Response>

/** Exchanges over HTTP with the mirror at `url` (a page's own relay: MIRROR_HTTP_PATH). */
export function httpExchange(url: string, fetcher: Fetch = (u, i) => fetch(u, i)): MirrorExchange {
  return async (request, maxAnswer, signal) => {
    const unreachable = (why: string, cause?: unknown): Result<never, OrreryError> =>
      err(new OrreryError('PEER_UNREACHABLE', `the mirror over HTTP: ${why}`, { cause }))
    let res: Response
    try {
      res = await fetcher(url, {
        method: 'POST',
        body: request as Uint8Array<ArrayBuffer>,
        headers: { 'content-type': 'application/octet-stream' },
        cache: 'no-store',
        signal,
      })
    } catch (e) {
      return unreachable(signal.aborted ? 'no answer in time' : describeError(e), e)
    }
    // a relay without a mirror (404), one that refuses this client for now (429), or a proxy in
    // the way: the caller reads over libp2p instead
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined)
      return unreachable(`answered HTTP ${res.status}`)
    }
    return readCapped(res, maxAnswer, signal)
  }
}

/** The answer's body, refused as soon as it passes `max` bytes. */
async function readCapped(
  res: Response,
  max: number,
  signal: AbortSignal,
): Promise<Result<Uint8Array, OrreryError>> {
  const tooLarge = (n: number): Result<never, OrreryError> =>
    err(new ProtocolError('MESSAGE_TOO_LARGE', `the mirror sent ${n} bytes (at most ${max})`))
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > max) {
    await res.body?.cancel().catch(() => undefined)
    return tooLarge(declared)
  }
  const reader = res.body?.getReader()
  if (reader === undefined) return ok(new Uint8Array(0))
  const parts: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.length
      if (size > max) {
        await reader.cancel().catch(() => undefined)
        return tooLarge(size)
      }
      parts.push(value)
    }
  } catch (e) {
    const why = signal.aborted ? 'no answer in time' : `the answer broke off: ${describeError(e)}`
    return err(new OrreryError('PEER_UNREACHABLE', `the mirror over HTTP: ${why}`, { cause: e }))
  }
  const body = new Uint8Array(size)
  let at = 0
  for (const p of parts) {
    body.set(p, at)
    at += p.length
  }
  return ok(body)
}
