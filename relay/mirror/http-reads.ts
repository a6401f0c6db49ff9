/**
 * `POST /orrery/mirror`: the mirror's reads over HTTP (src/core/mirror/http.ts says why). The
 * body is one mirror request of at most MAX_MIRROR_HTTP_REQUEST bytes, read within
 * BODY_TIMEOUT_MS; the answer is one mirror answer (an ERROR answer for a refused request, as
 * over a stream). A relay without a mirror answers 404; a body too large, 413; one too slow, 408.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describeError } from '../../src/core/errors'
import { createLogger } from '../../src/core/log'
import { MAX_MIRROR_HTTP_REQUEST } from '../../src/core/mirror/http'
import type { MirrorService } from './service'

const log = createLogger('mirror-http')

/** a request body must arrive within this (ms) */
const BODY_TIMEOUT_MS = 10_000

export function serveMirrorRead(
  mirror: MirrorService | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const plain = (status: number, text: string): void => {
    if (!res.headersSent)
      res.writeHead(status, { 'content-type': 'text/plain', 'cache-control': 'no-store' })
    res.end(text)
  }
  if (mirror === undefined || !mirror.isStarted()) return plain(404, 'this relay keeps no mirror')
  if (req.method !== 'POST') {
    res.setHeader('allow', 'POST')
    return plain(405, 'a mirror read is a POST')
  }
  const declared = Number(req.headers['content-length'] ?? NaN)
  if (declared > MAX_MIRROR_HTTP_REQUEST) {
    plain(413, 'a mirror read is a few bytes')
    req.destroy()
    return
  }
  const parts: Buffer[] = []
  let size = 0
  let over = false
  const timer = setTimeout(() => {
    over = true
    plain(408, 'the request did not arrive in time')
    req.destroy()
  }, BODY_TIMEOUT_MS)
  req.on('data', (chunk: Buffer) => {
    if (over) return
    size += chunk.length
    if (size > MAX_MIRROR_HTTP_REQUEST) {
      over = true
      clearTimeout(timer)
      plain(413, 'a mirror read is a few bytes')
      req.destroy()
      return
    }
    parts.push(chunk)
  })
  req.on('error', () => clearTimeout(timer))
  req.on('end', () => {
    clearTimeout(timer)
    if (over) return
    const who = `http ${req.socket.remoteAddress ?? '?'}`
    mirror.read(new Uint8Array(Buffer.concat(parts)), who).then(
      (answer) =>
        res
          .writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': String(answer.length),
            'cache-control': 'no-store',
          })
          .end(answer),
      (e: unknown) => {
        log.error(`a mirror read failed: ${describeError(e)}`)
        plain(500, 'internal error')
      },
    )
  })
}
