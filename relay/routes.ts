/**
 * The relay's HTTP requests: its own endpoints (/orrery/relay.json, /orrery/apps.json, /metrics,
 * /health, and /orrery/dev.json in dev), then the app: through Vite in dev, else the built files.
 * Requests count against the client's rate (429 when refused); in dev only the relay's own
 * endpoints do, as Vite serves the app as hundreds of modules.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createLogger } from '../src/core/log'
import { MIRROR_HTTP_PATH } from '../src/core/mirror/http'
import { spokenIds } from '../src/core/wire/versions'
import type { ClientLimits } from './client-limits'
import type { RelayConfig } from './config'
import type { DevServing } from './dev-server'
import type { FileBlockStore } from './file-blocks'
import type { RelayMetrics } from './metrics'
import { serveMirrorRead } from './mirror/http-reads'
import type { RelayNode } from './node'

const log = createLogger('relay')

/** The relay's own HTTP endpoints (rate-limited in --dev too). */
const OWN_ENDPOINTS = new Set([
  '/orrery/relay.json',
  '/orrery/apps.json',
  '/orrery/dev.json',
  '/metrics',
  '/health',
  MIRROR_HTTP_PATH,
])

/** The relay as pages see it (/orrery/relay.json, and a meta tag in the app's HTML). */
export function describeRelay(
  peerId: string,
  config: Pick<RelayConfig, 'iceServers' | 'mirror'>,
): string {
  return JSON.stringify({
    peerId,
    path: '/',
    iceServers: config.iceServers,
    // tabs upload their documents' envelopes here and pull them back (relay/mirror/)
    mirror: config.mirror !== false,
    // what this relay speaks besides circuit relay, identify and ping (informational)
    protocols: [...spokenIds('discovery'), ...spokenIds('blocks'), ...spokenIds('releases')],
  })
}

/** The app's HTML with the relay's description in a meta tag. */
export function injectRelay(html: string, description: string): string {
  return html.replace(
    '</head>',
    `<meta name="orrery-relay" content="${escapeAttr(description)}" />\n</head>`,
  )
}

export interface RouteContext {
  config: Pick<RelayConfig, 'seed'>
  node: RelayNode
  blocks: FileBlockStore
  limits: ClientLimits
  metrics: RelayMetrics
  /** describeRelay's answer */
  description: string
  /** when the relay started (ms since the epoch), for /health */
  started: number
  /** the built app; false when it has no such file */
  serveStatic: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>
  /** Vite, in dev */
  dev: () => DevServing | undefined
}

export function relayRoutes(
  ctx: RouteContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, node, blocks, limits, metrics } = ctx
  const json = (res: ServerResponse, body: string, cache: string): void => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': cache }).end(body)
  }
  return (req, res) => {
    const url = req.url ?? '/'
    const dev = ctx.dev()
    if ((dev === undefined || OWN_ENDPOINTS.has(url)) && !limits.request(req)) {
      res
        .writeHead(429, {
          'content-type': 'text/plain',
          'retry-after': String(limits.retryAfterSeconds),
          'cache-control': 'no-store',
        })
        .end('too many requests')
      return
    }
    if (url === '/orrery/relay.json') return json(res, ctx.description, 'no-cache')
    if (url === MIRROR_HTTP_PATH) return serveMirrorRead(node.services.mirror, req, res)
    if (url === '/orrery/apps.json') {
      blocks.apps().then(
        (apps) => json(res, JSON.stringify({ seeding: config.seed, apps }), 'no-cache'),
        () => res.writeHead(500).end('{}'),
      )
      return
    }
    if (url === '/metrics') {
      metrics.text().then(
        (text) =>
          res
            .writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' })
            .end(text),
        (e: unknown) => {
          log.error('metrics error', e)
          res.writeHead(500).end('internal error')
        },
      )
      return
    }
    if (url === '/health') {
      const health = {
        status: 'ok',
        peerId: node.peerId.toString(),
        uptimeSeconds: Math.round((Date.now() - ctx.started) / 1000),
        connections: node.getConnections().length,
        reservations: node.services.relay.reservations.size,
        discovery: node.services.discovery.stats(),
      }
      return json(res, JSON.stringify(health), 'no-store')
    }
    if (dev !== undefined) {
      if (url === '/orrery/dev.json') return json(res, JSON.stringify(dev.status()), 'no-store')
      // the development service worker is a module under /src/sw/ that serves the whole origin
      if (url.startsWith('/src/sw/')) res.setHeader('service-worker-allowed', '/')
      dev.middlewares(req, res, () => res.writeHead(404).end('not found'))
      return
    }
    ctx.serveStatic(req, res).then(
      (done) => {
        if (!done) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      },
      (e: unknown) => {
        log.error('static file error', e)
        if (!res.headersSent) res.writeHead(500).end('internal error')
      },
    )
  }
}

const escapeAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')
