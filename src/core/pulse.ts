/**
 * The network's pulse: every `intervalMs` this peer pings each peer it is connected to and keeps
 * the round-trip time and when it last answered. A peer that misses `lateAfter` pings in a row
 * is marked late; one that has not answered for `dropAfterMs` is hung up on (its tabs reconnect
 * through discovery if they are still there).
 *
 * Pings go over a given open, unlimited connection and never dial. (They used to go through
 * libp2p's `ping(peerId)`, which opens a connection when there is no unlimited one: pinging a
 * peer known only over its relayed signalling connection joined the WebRTC dial in flight to
 * that peer and kept a stalled attempt alive after the discovery client had given up on it.)
 */
import type { Connection } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { randomBytes } from './bytes'
import { describeError, OrreryError } from './errors'
import { createLogger } from './log'

const log = createLogger('pulse')

/** libp2p's ping protocol: the remote echoes 32 bytes. */
export const PING_PROTOCOL = '/ipfs/ping/1.0.0'
const PING_BYTES = 32

export interface PeerPulse {
  peer: string
  rttMs: number | undefined
  lastSeen: number | undefined
  /** when pinging this peer started */
  since: number
  misses: number
  state: 'ok' | 'late'
}

export interface PulseOptions {
  intervalMs?: number
  timeoutMs?: number
  lateAfter?: number
  dropAfterMs?: number
}

/** A connection the pulse pings: open and not limited (relayed signalling connections are not). */
const pingable = (c: Connection): boolean => c.status === 'open' && c.limits === undefined

/** One ping over `c` (ms); rejects when `signal` aborts first. Never opens a connection. */
export async function pingOver(c: Connection, signal: AbortSignal): Promise<number> {
  const stream = await c.newStream(PING_PROTOCOL, { signal })
  const sent = randomBytes(PING_BYTES)
  const got = new Uint8ArrayList()
  const start = performance.now()
  const onAbort = (): void => stream.abort(new OrreryError('ABORTED', 'ping timed out'))
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    stream.send(sent)
    for await (const chunk of stream) {
      got.append(chunk)
      if (got.byteLength >= PING_BYTES) break
    }
    signal.throwIfAborted()
    const echo = got.subarray(0, PING_BYTES)
    if (got.byteLength < PING_BYTES || echo.some((b, i) => b !== sent[i]))
      throw new OrreryError('PROTOCOL_VIOLATION', 'the ping came back wrong')
    return performance.now() - start
  } finally {
    signal.removeEventListener('abort', onAbort)
    await stream.close().catch(() => stream.abort(new Error('ping stream close failed')))
  }
}

export class Pulse {
  private readonly peers = new Map<string, PeerPulse>()
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly interval: number
  private readonly timeout: number
  private readonly lateAfter: number
  private readonly dropAfter: number
  /** pings answered and missed since start (the mesh's pulse in the UI) */
  readonly totals = { answered: 0, missed: 0, dropped: 0 }

  constructor(
    private readonly node: Libp2p,
    opts: PulseOptions = {},
  ) {
    this.interval = opts.intervalMs ?? 5000
    this.timeout = opts.timeoutMs ?? 3000
    this.lateAfter = opts.lateAfter ?? 2
    this.dropAfter = opts.dropAfterMs ?? 30_000
  }

  start(): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => void this.beat(), this.interval)
    this.node.addEventListener('peer:disconnect', (e) => this.peers.delete(e.detail.toString()))
    this.node.addEventListener('connection:open', (e) => {
      if (pingable(e.detail)) void this.pingOne(e.detail)
    })
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  get(peer: string): PeerPulse | undefined {
    return this.peers.get(peer)
  }

  all(): PeerPulse[] {
    return [...this.peers.values()]
  }

  async beat(): Promise<void> {
    const seen = new Set<string>()
    const conns = this.node.getConnections().filter((c) => {
      const p = c.remotePeer.toString()
      if (seen.has(p) || !pingable(c)) return false
      seen.add(p)
      return true
    })
    await Promise.all(conns.map((c) => this.pingOne(c)))
  }

  private async pingOne(c: Connection): Promise<void> {
    const peer = c.remotePeer.toString()
    const entry = this.peers.get(peer) ?? {
      peer,
      rttMs: undefined,
      lastSeen: undefined,
      since: Date.now(),
      misses: 0,
      state: 'ok' as const,
    }
    this.peers.set(peer, entry)
    try {
      const rtt = await pingOver(c, AbortSignal.timeout(this.timeout))
      entry.rttMs = rtt
      entry.lastSeen = Date.now()
      entry.misses = 0
      entry.state = 'ok'
      this.totals.answered++
    } catch (e) {
      entry.misses++
      this.totals.missed++
      if (entry.misses >= this.lateAfter) entry.state = 'late'
      const silentFor = Date.now() - (entry.lastSeen ?? entry.since)
      if (entry.misses >= this.lateAfter && silentFor > this.dropAfter) {
        log.info(`dropping ${peer.slice(-8)}: no answer for ${Math.round(silentFor / 1000)} s`)
        this.totals.dropped++
        this.peers.delete(peer)
        await this.node.hangUp(c.remotePeer).catch(() => undefined)
        return
      }
      log.debug(`ping ${peer.slice(-8)} failed: ${describeError(e)}`)
    }
  }
}
