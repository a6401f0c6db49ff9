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
import { FileBlockStore } from './file-blocks'
import { prometheus, RelayMetrics } from './metrics'

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
  const blocks = new FileBlockStore(config.seedDirs)
  const metrics = new RelayMetrics()
  const proxied = { in: 0, out: 0, upgrades: 0 }
  const node = await createRelayNode({
    blocks,
    seed: config.seed,
    metrics,
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

  const metricsText = (): string => {
    const conns = node.getConnections()
    const byKind = new Map<string, number>()
    for (const c of conns) {
      const kind =
        c.limits !== undefined
          ? 'relayed'
          : c.remoteAddr.toString().includes('/ws')
            ? 'websockets'
            : 'other'
      byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
    }
    const d = node.services.discovery.stats()
    const b = node.services.blocks.stats()
    return prometheus([
      {
        name: 'orrery_relay_connections',
        help: 'Open libp2p connections',
        type: 'gauge',
        values: [...byKind].map(([k, v]) => ({ labels: { kind: k }, value: v })),
      },
      {
        name: 'orrery_relay_connections_opened_total',
        help: 'Connections opened since start',
        type: 'counter',
        values: [{ value: metrics.connectionsOpened }],
      },
      {
        name: 'orrery_relay_reservations',
        help: 'Circuit relay reservations held',
        type: 'gauge',
        values: [{ value: node.services.relay.reservations.size }],
      },
      {
        name: 'orrery_relay_relayed_bytes_total',
        help: 'Bytes carried over relayed (circuit) connections',
        type: 'counter',
        values: [{ value: metrics.relayedBytes }],
      },
      {
        name: 'orrery_relay_relayed_streams_total',
        help: 'Circuit relay streams',
        type: 'counter',
        values: [{ value: metrics.relayedStreams }],
      },
      {
        name: 'orrery_relay_websocket_bytes_total',
        help: 'Bytes through the WebSocket forward',
        type: 'counter',
        values: [
          { labels: { direction: 'in' }, value: proxied.in },
          { labels: { direction: 'out' }, value: proxied.out },
        ],
      },
      {
        name: 'orrery_relay_discovery_peers',
        help: 'Peers with a discovery stream',
        type: 'gauge',
        values: [{ value: d.peers }],
      },
      {
        name: 'orrery_relay_discovery_topics',
        help: 'Topics with members',
        type: 'gauge',
        values: [{ value: d.topics }],
      },
      {
        name: 'orrery_relay_protocol_errors_total',
        help: 'Streams closed for bad input',
        type: 'counter',
        values: [
          { labels: { protocol: 'discovery' }, value: d.protocolErrors },
          { labels: { protocol: 'blocks' }, value: b.protocolErrors ?? 0 },
        ],
      },
      {
        name: 'orrery_relay_blocks_served_total',
        help: 'App blocks served to peers',
        type: 'counter',
        values: [{ value: b.servedBlocks ?? 0 }],
      },
    ])
  }

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
    if (url === '/orrery/apps.json') {
      blocks.apps().then(
        (apps) =>
          res
            .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' })
            .end(JSON.stringify({ seeding: config.seed, apps })),
        () => res.writeHead(500).end('{}'),
      )
      return
    }
    if (url === '/metrics') {
      res
        .writeHead(200, {
          'content-type': 'text/plain; version=0.0.4',
          'cache-control': 'no-store',
        })
        .end(metricsText())
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
    proxied.upgrades++
    forwardUpgrade(req, socket, head, internalPort, sockets, proxied)
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
  counted: { in: number; out: number },
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
    socket.on('data', (d: Buffer) => (counted.in += d.length))
    upstream.on('data', (d: Buffer) => (counted.out += d.length))
    socket.pipe(upstream).pipe(socket)
  })
  upstream.on('error', () => socket.destroy())
  socket.on('error', () => upstream.destroy())
}
