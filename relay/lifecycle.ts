/**
 * The relay's HTTP server coming up and going down: listening (and the URL it prints), and the
 * open sockets (browsers' and the forward's loopback ones), destroyed when the relay stops so
 * server.close() does not wait for idle keep-alive connections.
 */
import type http from 'node:http'
import type net from 'node:net'
import type { Duplex } from 'node:stream'

/** Every socket the server has open; the set empties as they close. */
export function trackSockets(server: http.Server): Set<net.Socket | Duplex> {
  const sockets = new Set<net.Socket | Duplex>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  return sockets
}

/** Listens on host:port and answers the server's URL (a wildcard host shown as localhost). */
export async function listen(server: http.Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const addr = server.address() as net.AddressInfo
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host
  return `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${addr.port}`
}

/** A stop that runs once however often it is called. */
export function once(stop: () => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined
  return () => (stopping ??= stop())
}
