/**
 * How the discovery client dials a peer it was told about: its own attempts through the
 * transports, not libp2p's dial queue, so that no dial waits on a stuck attempt.
 *
 * libp2p's dial queue runs one job per peer and hands every later dial of that peer the same
 * job; the job ends only when every caller has given up, and it tries a peer's addresses one
 * after the other, each for up to 6 s. A WebRTC attempt that stalled (see
 * src/browser/webrtc/init-channel.ts for the one we found) therefore held every retry until that
 * per-address timeout. Here each attempt is independent: when the latest attempt has made no
 * progress (libp2p's dial progress events: relay hop, noise, signalling, SDP, candidates) for
 * `hedgeMs`, a second one starts next to it (on the peer's next address when it has several);
 * the first to connect wins and the other is aborted, and an attempt that has not connected after
 * `attemptMs` is aborted and the next one starts. A slow attempt that keeps progressing is left
 * alone. A direct connection the peer opens to us meanwhile ends the dial as well.
 */
import type { Connection, ConnectionGater, Libp2pEvents, PeerId } from '@libp2p/interface'
import type { TransportManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { TypedEventTarget } from 'main-event'
import { describeError, OrreryError } from '../errors'
import type { Logger } from '../log'
import { trace } from '../timings'

export interface DialerComponents {
  transportManager: TransportManager
  connectionGater: ConnectionGater
  events: TypedEventTarget<Libp2pEvents>
}

export interface DialerInit {
  /** a second attempt starts when the latest has made no progress for this long (ms) */
  hedgeMs?: number
  /** an attempt that has not connected after this long is aborted (ms) */
  attemptMs?: number
  /** most attempts of one dial running at once */
  maxParallel?: number
  /** most attempts of one dial in all */
  maxAttempts?: number
}

/** a relayed WebRTC dial here moves on every 10-400 ms until it connects (loopback, loaded) */
export const HEDGE_MS = 600
const ATTEMPT_MS = 5_000
const MAX_PARALLEL = 2
const MAX_ATTEMPTS = 3

/** A connection that is not relayed (a WebRTC one, or a plain transport in tests). */
export const isDirect = (c: Connection): boolean => c.limits === undefined && c.status === 'open'

export class DialError extends OrreryError {
  constructor(message: string, cause?: unknown) {
    super('PEER_UNREACHABLE', message, { cause })
    this.name = 'DialError'
  }
}

export class Dialer {
  constructor(
    private readonly components: DialerComponents,
    private readonly init: DialerInit,
    private readonly log: Logger,
  ) {}

  /**
   * A direct connection to `peer` over one of `addrs` (tried in order, one per attempt), or the
   * one `peer` opens to us meanwhile. Rejects with a DialError when every attempt failed, or
   * when `signal` aborts first.
   */
  async dial(peer: PeerId, addrs: Multiaddr[], signal: AbortSignal): Promise<Connection> {
    if (addrs.length === 0) throw new DialError(`no address to dial ${peer.toString()}`)
    const gater = this.components.connectionGater
    if ((await untilAborted(gater.denyDialPeer?.(peer), signal)) === true)
      throw new DialError(`the connection gater refuses ${peer.toString()}`)
    const allowed: Multiaddr[] = []
    for (const a of addrs)
      if ((await untilAborted(gater.denyDialMultiaddr?.(a), signal)) !== true) allowed.push(a)
    if (allowed.length === 0) throw new DialError('the connection gater refuses every address')
    return new DialRun(this.components, this.init, this.log, peer, allowed, signal).result
  }
}

/** `value`, unless `signal` aborts first (a gater's answer can be a promise that never settles). */
async function untilAborted<T>(value: T | Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw new DialError('the dial was aborted', signal.reason)
  if (!(value instanceof Promise)) return value
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([
      value,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(new DialError('the dial was aborted', signal.reason))
        signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}

/** One dial: its attempts, the hedge timer, and the first connection to come. */
class DialRun {
  readonly result: Promise<Connection>
  private resolve!: (c: Connection) => void
  private reject!: (e: unknown) => void
  private readonly attempts = new Set<AbortController>()
  private readonly errors: unknown[] = []
  private started = 0
  private done = false
  /** the connection this dial resolved with */
  private winner: Connection | undefined
  private hedge: ReturnType<typeof setTimeout> | undefined
  private readonly who: string
  private readonly maxParallel: number
  private readonly maxAttempts: number

  constructor(
    private readonly components: DialerComponents,
    private readonly init: DialerInit,
    private readonly log: Logger,
    private readonly peer: PeerId,
    private readonly addrs: Multiaddr[],
    private readonly signal: AbortSignal,
  ) {
    this.who = peer.toString().slice(-8)
    this.maxParallel = init.maxParallel ?? MAX_PARALLEL
    this.maxAttempts = init.maxAttempts ?? MAX_ATTEMPTS
    this.result = new Promise<Connection>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    if (signal.aborted) {
      this.finish(new DialError(`dialling ${this.who} was aborted`, signal.reason))
      return
    }
    signal.addEventListener('abort', this.onAbort)
    components.events.addEventListener('connection:open', this.onOpen)
    this.next()
  }

  private readonly onAbort = (): void =>
    this.finish(new DialError(`dialling ${this.who} was aborted`, this.signal.reason))

  /** Any direct connection to the peer will do: ours, or one the peer opened to us meanwhile. */
  private readonly onOpen = (e: CustomEvent<Connection>): void => {
    const c = e.detail
    if (c.remotePeer.equals(this.peer) && isDirect(c)) this.finish(c)
  }

  /** Starts the next attempt, and arms the hedge for the one after. */
  private next(): void {
    if (this.done || this.started >= this.maxAttempts) return
    if (this.attempts.size >= this.maxParallel) return
    const n = this.started++
    const addr = this.addrs[n % this.addrs.length]!
    const controller = new AbortController()
    this.attempts.add(controller)
    this.armHedge()
    trace(`dial attempt ${this.who} ${n}`)
    this.components.transportManager
      .dial(addr, {
        signal: AbortSignal.any([
          this.signal,
          controller.signal,
          AbortSignal.timeout(this.init.attemptMs ?? ATTEMPT_MS),
        ]),
        onProgress: (e: { type: string }) => {
          trace(`dial ${this.who} ${n} ${e.type}`)
          if (n === this.started - 1) this.armHedge() // the latest attempt moved on
        },
      })
      .then(
        (c) => {
          this.attempts.delete(controller)
          if (this.done) {
            // another attempt (or the peer's own dial) won: one connection per pair is enough
            if (c !== this.winner) void c.close().catch(() => undefined)
            return
          }
          trace(`dial attempt ${this.who} ${n} connected`)
          this.finish(c)
        },
        (e: unknown) => {
          this.attempts.delete(controller)
          if (this.done) return
          trace(`dial attempt ${this.who} ${n} failed`)
          this.log.debug(`attempt ${n} to ${this.who} failed: ${describeError(e)}`)
          this.errors.push(e)
          if (this.started < this.maxAttempts) this.next()
          else if (this.attempts.size === 0)
            this.finish(
              new DialError(
                `${this.started} attempts to dial ${this.who} failed: ${describeError(e)}`,
                new AggregateError(this.errors),
              ),
            )
        },
      )
  }

  private armHedge(): void {
    clearTimeout(this.hedge)
    if (!this.done && this.started < this.maxAttempts)
      this.hedge = setTimeout(() => this.next(), this.init.hedgeMs ?? HEDGE_MS)
  }

  private finish(outcome: Connection | DialError): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.hedge)
    this.signal.removeEventListener('abort', this.onAbort)
    this.components.events.removeEventListener('connection:open', this.onOpen)
    for (const a of this.attempts) a.abort(new DialError('another attempt won'))
    this.attempts.clear()
    if (outcome instanceof DialError) this.reject(outcome)
    else {
      this.winner = outcome
      this.resolve(outcome)
    }
  }
}
