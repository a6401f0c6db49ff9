/**
 * WebSocket upgrades on the public HTTP port, handed byte for byte to the libp2p listener on its
 * loopback port. Each upgrade counts against its client's limits first (429 when refused); Vite's
 * own hot-reload socket is left to Vite.
 */
import type http from 'node:http'
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import type { ClientLimits } from './client-limits'

/** What went through the forward since start. */
export interface ForwardTraffic {
  in: number
  out: number
  upgrades: number
}

export function forwardUpgrades(
  server: http.Server,
  opts: {
    /** the libp2p WebSockets listener's loopback port */
    port: number
    limits: ClientLimits
    /** every open socket, destroyed when the relay stops */
    sockets: Set<net.Socket | Duplex>
  },
): ForwardTraffic {
  const { port, limits, sockets } = opts
  const traffic: ForwardTraffic = { in: 0, out: 0, upgrades: 0 }
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
    traffic.upgrades++
    forwardUpgrade(req, socket, head, port, sockets, traffic)
  })
  return traffic
}

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
