/**
 * The relay process: one HTTP port serving the app (built, or through Vite in dev), the relay's
 * description for pages (/orrery/relay.json), /health, and WebSocket upgrades forwarded to the
 * libp2p listener. Vite's own hot-reload socket is left to Vite.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { createLogger } from '../src/core/log'
import type { RelayConfig } from './config'
import { loadOrCreateKey } from './key'
import { createRelayNode, wsPort, type RelayNode } from './node'
import { staticFiles } from './static'

const log = createLogger('relay')

export interface RunningRelay {
  url: string
  peerId: string
  node: RelayNode
  stop(): Promise<void>
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void

export async function startRelay(config: RelayConfig): Promise<RunningRelay> {
  const privateKey = await loadOrCreateKey(config.dataDir)
  const node = await createRelayNode({
    privateKey,
    maxReservations: config.maxReservations,
    maxConnections: config.maxConnections,
  })
  const internalPort = wsPort(node)
  const peerId = node.peerId.toString()
  const started = Date.now()
  const sockets = new Set<net.Socket | Duplex>()

  const describe = (): string =>
    JSON.stringify({
      peerId,
      path: '/',
      iceServers: config.iceServers,
      protocols: ['/orrery/sync/1.0.0', '/orrery/discovery/1.0.0'],
    })

  const health = (): string =>
    JSON.stringify({
      status: 'ok',
      peerId,
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      connections: node.getConnections().length,
      reservations: node.services.relay.reservations.size,
      discovery: node.services.discovery.stats(),
    })

  let vite: { middlewares: Middleware; close(): Promise<void> } | undefined
  const injectRelay = (html: string): string =>
    html.replace(
      '</head>',
      `<meta name="orrery-relay" content="${escapeAttr(describe())}" />\n</head>`,
    )
  const serveStatic = staticFiles(config.distDir, injectRelay)

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/'
    if (url === '/orrery/relay.json') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' })
        .end(describe())
      return
    }
    if (url === '/health') {
      res
        .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
        .end(health())
      return
    }
    if (vite !== undefined) {
      vite.middlewares(req, res, () => res.writeHead(404).end('not found'))
      return
    }
    serveStatic(req, res).then(
      (done) => {
        if (!done) res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      },
      (e: unknown) => {
        log.error('static file error', e)
        if (!res.headersSent) res.writeHead(500).end('internal error')
      },
    )
  })

  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (String(req.headers['sec-websocket-protocol'] ?? '').includes('vite-hmr')) return // Vite's
    forwardUpgrade(req, socket, head, internalPort, sockets)
  })

  if (config.dev) {
    const { createServer } = await import('vite')
    vite = await createServer({
      server: { middlewareMode: true, ws: { server } },
      appType: 'spa',
      plugins: [{ name: 'orrery-relay-meta', transformIndexHtml: injectRelay }],
    })
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, () => resolve())
  })
  const addr = server.address() as net.AddressInfo
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${addr.port}`

  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      server.close()
      for (const s of sockets) s.destroy()
      await vite?.close()
      await node.stop()
    })()
    return stopping
  }
  return { url, peerId, node, stop }
}

const escapeAttr = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

/** Hands a WebSocket upgrade to the libp2p listener on its loopback port, byte for byte. */
function forwardUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  port: number,
  sockets: Set<net.Socket | Duplex>,
): void {
  const upstream = net.connect(port, '127.0.0.1')
  sockets.add(upstream)
  upstream.on('close', () => sockets.delete(upstream))
  upstream.on('connect', () => {
    let raw = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1\r\n`
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`
    upstream.write(raw + '\r\n')
    if (head.length > 0) upstream.write(head)
    socket.pipe(upstream).pipe(socket)
  })
  upstream.on('error', () => socket.destroy())
  socket.on('error', () => upstream.destroy())
}
