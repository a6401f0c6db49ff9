/**
 * The per-client-IP limits of the relay's HTTP port (see config.ts): a request rate and a cap on
 * open WebSocket connections. libp2p cannot do this itself: it sees every browser through the
 * loopback forward, from one address.
 */
import type { IncomingMessage } from 'node:http'
import net from 'node:net'
import type { Duplex } from 'node:stream'
import { TokenBucket } from '../src/core/firewall/bucket'
import type { RelayConfig } from './config'

/**
 * Per-client-IP limits: a request rate (token bucket per IP, idle buckets dropped) and a cap on
 * open WebSocket connections. IPv6 clients are counted per /64 (one host usually has a whole
 * /64 to pick addresses from).
 */
export class ClientLimits {
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
