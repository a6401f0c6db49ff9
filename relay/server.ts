/**
 * The relay process: one HTTP port serving the app (built, or through Vite in dev), the relay's
 * description for pages (/orrery/relay.json), /health, and WebSocket upgrades forwarded to the
 * libp2p listener. Vite's own hot-reload socket is left to Vite.
 *
 * Limits per client IP (see config.ts): an HTTP request rate (token bucket; WebSocket upgrades
 * count as requests) and a cap on open WebSocket connections. Both answer 429 and are counted in
 * /metrics (orrery_relay_refused_total). libp2p cannot do this itself: it sees every browser
 * through the loopback forward, from one address.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { createLogger } from '../src/core/log'
import { spokenIds } from '../src/core/wire/versions'
import type { RelayConfig } from './config'
import { loadOrCreateKey } from './key'
import { createRelayNode, wsPort, type RelayNode } from './node'
import { staticFiles } from './static'
import { FileBlockStore } from './file-blocks'
import { prometheus, RelayMetrics } from './metrics'
import { TokenBucket } from '../src/core/firewall/bucket'
import { LivePublisher, SeedAnnouncer } from './live-publish'
import { devApps } from './dev-apps'

const log = createLogger('relay')

export interface RunningRelay {
  url: string
  peerId: string
  node: RelayNode
  stop(): Promise<void>
}

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void

export interface RelayOptions {
  /** the clock of the per-IP HTTP limits, in ms (tests pass their own) */
  now?: () => number
}

export async function startRelay(
  config: RelayConfig,
  options: RelayOptions = {},
): Promise<RunningRelay> {
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
    relayDataLimit: config.relayDataLimit,
    relayDurationLimit: config.relayDurationLimit,
    reservationTtl: config.reservationTtl,
  })
  const announcer = new SeedAnnouncer(blocks, node.services.releases, config.seedDirs[0] as string)
  await announcer.start()
  const limits = new ClientLimits(config, options.now ?? Date.now)
  const internalPort = wsPort(node)
  const peerId = node.peerId.toString()
  const started = Date.now()
  const sockets = new Set<net.Socket | Duplex>()

  const describe = (): string =>
    JSON.stringify({
      peerId,
      path: '/',
      iceServers: config.iceServers,
      // what this relay speaks besides circuit relay, identify and ping (informational)
      protocols: [...spokenIds('discovery'), ...spokenIds('blocks'), ...spokenIds('releases')],
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
      {
        name: 'orrery_relay_websocket_connections',
        help: 'Open WebSocket connections forwarded to libp2p',
        type: 'gauge',
        values: [{ value: limits.openSockets }],
      },
      {
        name: 'orrery_relay_refused_total',
        help: 'HTTP requests and WebSocket upgrades refused (429) by the per-IP limits',
        type: 'counter',
        values: Object.entries(limits.refused).map(([reason, value]) => ({
          labels: { reason },
          value,
        })),
      },
      {
        name: 'orrery_relay_limit',
        help: 'Configured limits',
        type: 'gauge',
        values: Object.entries({
          max_connections: config.maxConnections,
          max_connections_per_ip: config.maxConnectionsPerIp,
          http_rate: config.httpRate,
          http_burst: config.httpBurst,
          max_reservations: config.maxReservations,
          relay_data_limit_bytes: config.relayDataLimit,
          relay_duration_limit_seconds: config.relayDurationLimit,
          reservation_ttl_seconds: config.reservationTtl,
        }).map(([limit, value]) => ({ labels: { limit }, value })),
      },
    ])
  }

  let vite: { middlewares: Middleware; close(): Promise<void> } | undefined
  let live: LivePublisher | undefined
  const injectRelay = (html: string): string =>
    html.replace(
      '</head>',
      `<meta name="orrery-relay" content="${escapeAttr(describe())}" />\n</head>`,
    )
  const serveStatic = staticFiles(config.distDir, injectRelay)

  const server = http.createServer((req, res) => {
    const url = req.url ?? '/'
    // in --dev, Vite serves the app as hundreds of modules: only the relay's own endpoints count
    if ((vite === undefined || OWN_ENDPOINTS.has(url)) && !limits.request(req)) {
      res
        .writeHead(429, {
          'content-type': 'text/plain',
          'retry-after': String(limits.retryAfterSeconds),
          'cache-control': 'no-store',
        })
        .end('too many requests')
      return
    }
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
      if (url === '/orrery/dev.json') {
        res
          .writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify({ apps: devApps(), publishing: live?.describe() }))
        return
      }
      // the development service worker is a module under /src/sw/ that serves the whole origin
      if (url.startsWith('/src/sw/')) res.setHeader('service-worker-allowed', '/')
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
    socket.on('error', () => socket.destroy())
    const refused = limits.upgrade(req, socket)
    if (refused !== undefined) {
      socket.end(
        'HTTP/1.1 429 Too Many Requests\r\nconnection: close\r\ncontent-type: text/plain\r\n' +
          `retry-after: ${limits.retryAfterSeconds}\r\ncontent-length: ${refused.length}\r\n\r\n${refused}`,
      )
      return
    }
    proxied.upgrades++
    forwardUpgrade(req, socket, head, internalPort, sockets, proxied)
  })

  if (config.dev) {
    // Vite decides development or production from NODE_ENV, not from its mode: a shell (or a
    // parent process that ran a Vite build) with NODE_ENV=production would get a dev server that
    // serves production code (import.meta.env.DEV false: it registers /sw.js, which dev lacks)
    process.env.NODE_ENV = 'development'
    const { createServer } = await import('vite')
    const dev = await createServer({
      server: { middlewareMode: true, ws: { server } },
      appType: 'spa',
      plugins: [{ name: 'orrery-relay-meta', transformIndexHtml: injectRelay }],
    })
    vite = dev
    if (config.publish.length > 0) {
      const { loadPublisher } = await import('../scripts/app-build')
      const publisher = new LivePublisher({
        dirs: config.publish,
        seedDir: config.seedDirs[0] as string,
        identity: loadPublisher(config.publisherFile),
        releases: announcer,
        // the editing tab hears of each version too (it shows the address it can share)
        onPublished: (v) => dev.ws.send({ type: 'custom', event: 'orrery:published', data: v }),
        onFailed: (f) => dev.ws.send({ type: 'custom', event: 'orrery:publish-failed', data: f }),
      })
      live = publisher
      dev.watcher.on('change', (f) => publisher.changed(f))
      dev.watcher.on('add', (f) => publisher.changed(f))
      await Promise.all(config.publish.map((d) => publisher.publish(d)))
    }
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
      announcer.stop()
      await vite?.close()
      await node.stop()
    })()
    return stopping
  }
  return { url, peerId, node, stop }
}

/** The relay's own HTTP endpoints (rate-limited in --dev too). */
const OWN_ENDPOINTS = new Set([
  '/orrery/relay.json',
  '/orrery/apps.json',
  '/orrery/dev.json',
  '/metrics',
  '/health',
])

/**
 * Per-client-IP limits: a request rate (token bucket per IP, idle buckets dropped) and a cap on
 * open WebSocket connections. IPv6 clients are counted per /64 (one host usually has a whole
 * /64 to pick addresses from).
 */
class ClientLimits {
  readonly refused = { connections_per_ip: 0, http_rate: 0 }
  openSockets = 0
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly open = new Map<string, number>()
  private lastSweep: number

  constructor(
    private readonly config: Pick<
      RelayConfig,
      'httpRate' | 'httpBurst' | 'maxConnectionsPerIp' | 'trustProxy'
    >,
    private readonly now: () => number,
  ) {
    this.lastSweep = now()
  }

  /** Whole seconds until one more request is allowed from a drained bucket (Retry-After). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(1 / this.config.httpRate))
  }

  /** Counts a request against its IP's rate: false when it must be refused. */
  request(req: IncomingMessage): boolean {
    if (this.take(clientKey(req, this.config.trustProxy))) return true
    this.refused.http_rate++
    return false
  }

  /**
   * Admits a WebSocket upgrade (counted as a request, then against the open connections of its
   * IP until the socket closes), or returns the reason it is refused.
   */
  upgrade(req: IncomingMessage, socket: Duplex): string | undefined {
    const key = clientKey(req, this.config.trustProxy)
    if (!this.take(key)) {
      this.refused.http_rate++
      return 'too many requests'
    }
    const n = this.open.get(key) ?? 0
    if (n >= this.config.maxConnectionsPerIp) {
      this.refused.connections_per_ip++
      return 'too many connections from this address'
    }
    this.open.set(key, n + 1)
    this.openSockets++
    let released = false
    socket.once('close', () => {
      if (released) return
      released = true
      this.openSockets--
      const left = (this.open.get(key) ?? 1) - 1
      if (left <= 0) this.open.delete(key)
      else this.open.set(key, left)
    })
    return undefined
  }

  private take(key: string): boolean {
    const now = this.now()
    if (now - this.lastSweep > 10_000) {
      this.lastSweep = now
      for (const [k, b] of this.buckets) if (b.isFull(now)) this.buckets.delete(k)
    }
    let bucket = this.buckets.get(key)
    if (bucket === undefined) {
      bucket = new TokenBucket(this.config.httpRate, 1000, this.config.httpBurst, now)
      this.buckets.set(key, bucket)
    }
    return bucket.tryTake(1, now)
  }
}

/**
 * The client's address: the TCP peer, or behind a trusted proxy the last X-Forwarded-For entry
 * (the one the proxy added; entries before it are whatever the client claimed).
 */
function clientKey(req: IncomingMessage, trustProxy: boolean): string {
  let ip = req.socket.remoteAddress ?? 'unknown'
  if (trustProxy) {
    const header = req.headers['x-forwarded-for']
    const last = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== '')
      .pop()
    if (last !== undefined && net.isIP(last) !== 0) ip = last
  }
  return ipKey(ip)
}

/** IPv4 as it is (IPv4-mapped IPv6 included), IPv6 reduced to its /64. */
function ipKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped !== null) return mapped[1]!
  if (net.isIPv6(ip.split('%')[0]!)) {
    const bare = ip.split('%')[0]!.toLowerCase()
    const [head = '', tail] = bare.split('::')
    const groups = (s: string | undefined): string[] =>
      s === undefined || s === ''
        ? []
        : s.split(':').flatMap((g) => (g.includes('.') ? ['x', 'x'] : [g]))
    const h = groups(head)
    const t = groups(tail)
    const all =
      tail === undefined
        ? h
        : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t]
    return `${all
      .slice(0, 4)
      .map((g) => g.replace(/^0+(?=.)/, ''))
      .join(':')}::/64`
  }
  return ip
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
  // A client that keeps its half of a finished connection open still counts against its IP's
  // cap: give it a moment to close, then close it.
  upstream.on('close', () => setTimeout(() => socket.destroy(), 5000).unref())
  socket.on('close', () => upstream.destroy())
}
