/**
 * The peer firewall: every peer protects itself from floods, and a misbehaving remote peer never
 * degrades the others. Pure logic (no libp2p), with an injectable clock so tests are exact.
 *
 * - Rates: each remote peer (libp2p peer id, i.e. one remote tab) has two token buckets, writes
 *   (`writesPerSecond`, bursts of `burstWrites`) and bytes (`bytesPerMinute`, bursts of a
 *   minute's worth). `admit()` resolves at once while a peer is within both; beyond them it
 *   resolves after exactly the time the buckets need to refill. The caller awaits it before
 *   reading the next message, so the remote is back-pressured through its own stream and nobody
 *   else waits: buckets are per peer.
 * - Lists: `deny` (identity did:keys and/or peer ids) refuses; `allow`, when set, refuses
 *   everyone not on it. `permits()` answers, with the identity once the peer's HELLO gave it.
 * - Strikes: `strike()` records a protocol violation; after `strikesBeforeBan` strikes the peer
 *   (and its identity, when known) is banned for `banMs`, then starts again from zero strikes.
 *
 * - Memory: split messages being reassembled are reserved in `reassembly(peer)`: at most
 *   `maxSplitMessage` per peer and `maxReassemblyBytes` for all peers together.
 *
 * Wiring (the sync session): `permits(peer)` when the stream opens and `permits(peer, identity)`
 * after HELLO (close on refusal); `charge(peer, bytes)` for every chunk received, before it is
 * decoded; `await admit(peer, { writes, bytes: 0 })` before handling each message;
 * `strike(peer, reason)` on bad input (close when it refuses); `forget(peer)` when the last
 * stream with the peer ends. `maxSplitMessage` is the limit the framing gets after HELLO.
 */
import { createLogger } from '../log'
import { err, ok, OrreryError, ProtocolError, type Result } from '../errors'
import { TokenBucket } from './bucket'
import { ReassemblyBudget, type ReassemblyAccount } from '../wire/reassembly'

const log = createLogger('firewall')

export interface FirewallConfig {
  /** sustained writes per second per peer (Infinity: no limit) */
  writesPerSecond: number
  /** writes a peer may make at once before the rate applies */
  burstWrites: number
  /** bytes per minute per peer; a whole minute's worth may come at once (Infinity: no limit) */
  bytesPerMinute: number
  /** the largest single message: `admit` refuses (and strikes) anything bigger */
  maxMessageBytes: number
  /**
   * the most a message's whole-document chunks may inflate to (their deflated columns): the sync
   * session refuses (and strikes) a message past it before Automerge inflates anything
   */
  maxInflatedBytes: number
  /**
   * split messages being reassembled, all peers together; each peer may hold up to the smaller of
   * this and `maxMessageBytes`, which is also the largest message the framing accepts after HELLO
   */
  maxReassemblyBytes: number
  /** a split message whose next part does not come within this long ends its stream (ms) */
  partialIdleMs: number
  /** and one must be whole within `partialIdleMs` + its size at this rate (bytes a second) */
  partialMinBytesPerSecond: number
  /** identity did:keys and/or peer ids that may never sync */
  deny: string[]
  /** when set, only these identity did:keys and/or peer ids may sync */
  allow?: string[] | undefined
  /** protocol violations before a ban */
  strikesBeforeBan: number
  /** how long a ban lasts */
  banMs: number
  /**
   * what is kept about a peer (buckets, counters, strikes) is dropped this long after its last
   * connection closed: a long-lived tab does not keep every peer it ever met, and a peer that
   * reconnects at once finds its allowance as it left it
   */
  forgetAfterMs: number
}

export const DEFAULT_FIREWALL: Readonly<FirewallConfig> = Object.freeze({
  writesPerSecond: 200,
  burstWrites: 400,
  bytesPerMinute: 64 * 1024 * 1024,
  maxMessageBytes: 64 * 1024 * 1024, // MAX_SYNC_MESSAGE, the sync protocol's own limit
  maxInflatedBytes: 64 * 1024 * 1024, // 64 times the W3 document (10,000 keys, ~1 MiB)
  // Issue 12's target is 64 MiB of victim memory growth; under pinning (npm run bench:attacks) the
  // growth measured about twice the budget plus ~14 MiB (parts are copies; the chunks they came in
  // wait for GC): 105 MiB at 48, 81 at 32, 62 at 24. It also bounds a first sync, which Automerge
  // sends as one message the size of the saved document (17 MB for 20 MiB of values: it fits)
  maxReassemblyBytes: 24 * 1024 * 1024,
  partialIdleMs: 30_000,
  partialMinBytesPerSecond: 64 * 1024,
  deny: [],
  strikesBeforeBan: 5,
  banMs: 10 * 60 * 1000,
  forgetAfterMs: 60 * 1000,
})

/** Time for the firewall: milliseconds, and a way to wait. Tests pass a fake one. */
export interface Clock {
  now(): number
  sleep(ms: number): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  // timers have millisecond resolution: never wake before the buckets have refilled
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.ceil(ms))),
}

export interface AdmitCost {
  /** writes in the message (e.g. changes in a sync message; 1 for one message) */
  writes: number
  /** the message's size */
  bytes: number
  /**
   * the message's size once its whole documents are inflated, when larger: charged to the byte
   * bucket in place of `bytes` (what the message costs us is what Automerge will hold)
   */
  inflated?: number
}

export interface FirewallPeerStats {
  /** the identity given to `permits` for this peer, once known */
  identity?: string
  /** writes and bytes admitted (delayed ones included; bytes as inflated when larger) */
  writes: number
  bytes: number
  /** admits that had to wait, and for how long in total (ms) */
  throttled: number
  throttledMs: number
  /** strikes since the last ban ended */
  strikes: number
  /** the reason given with the latest strike */
  lastStrike?: string
  /** bans so far */
  bans: number
  /** clock time the current ban ends, while banned */
  bannedUntil?: number
}

/** A refusal by the firewall (code FORBIDDEN). */
export class FirewallError extends OrreryError {
  constructor(message: string) {
    super('FORBIDDEN', message)
    this.name = 'FirewallError'
  }
}

interface PeerState {
  writeBucket: TokenBucket
  byteBucket: TokenBucket
  identity: string | undefined
  writes: number
  bytes: number
  throttled: number
  throttledMs: number
  strikes: number
  lastStrike: string | undefined
  bans: number
}

export class Firewall {
  private cfg: FirewallConfig
  private denied: Set<string>
  private allowed: Set<string> | undefined
  private readonly peers = new Map<string, PeerState>()
  /** peer ids and identities → clock time their ban ends */
  private readonly bans = new Map<string, number>()
  private readonly reassemblyBudget: ReassemblyBudget

  constructor(
    config: Partial<FirewallConfig> = {},
    private readonly clock: Clock = systemClock,
  ) {
    this.cfg = resolve({ ...DEFAULT_FIREWALL }, config)
    this.denied = new Set(this.cfg.deny)
    this.allowed = this.cfg.allow === undefined ? undefined : new Set(this.cfg.allow)
    this.reassemblyBudget = new ReassemblyBudget(this.reassemblyLimits())
  }

  private reassemblyLimits(): { maxBytes: number; maxBytesPerPeer: number } {
    return { maxBytes: this.cfg.maxReassemblyBytes, maxBytesPerPeer: this.maxSplitMessage }
  }

  /**
   * The largest message the framing reassembles once the peer said HELLO: one larger could never
   * fit in the budget, so it is refused at its first frame as too large (struck) rather than
   * found "busy" (unstruck, retried) over and over.
   */
  get maxSplitMessage(): number {
    return Math.min(this.cfg.maxMessageBytes, this.cfg.maxReassemblyBytes)
  }

  /** Where a stream with `peer` reserves the parts of split messages it is receiving. */
  reassembly(peer: string): ReassemblyAccount {
    return this.reassemblyBudget.account(peer)
  }

  /** Bytes of split messages held now, the most ever held at once, and per peer. */
  reassemblyStats(): { bytes: number; peak: number; peers: Record<string, number> } {
    return this.reassemblyBudget.stats()
  }

  /**
   * Charges bytes received from `peer` to its byte bucket as they arrive, before they are
   * decoded (a message need not be complete, nor the peer have said who it is). Returns a
   * promise to await when the peer is over its budget, undefined when it may go on at once.
   */
  charge(peer: string, bytes: number): Promise<void> | undefined {
    if (!Number.isFinite(bytes) || bytes < 0)
      throw new RangeError(`charge: bytes must be a finite number >= 0, got ${bytes}`)
    const now = this.clock.now()
    const s = this.state(peer, now)
    const wait = s.byteBucket.reserve(bytes, now)
    s.bytes += bytes
    if (wait <= 0) return undefined
    s.throttled++
    s.throttledMs += wait
    return this.clock.sleep(wait)
  }

  private readonly listeners = new Set<() => void>()

  /** Calls `listener` after every `configure` (open sessions check `permits` again). */
  onConfigure(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** The limits in force (a copy). */
  get config(): FirewallConfig {
    return {
      ...this.cfg,
      deny: [...this.cfg.deny],
      ...(this.cfg.allow === undefined ? {} : { allow: [...this.cfg.allow] }),
    }
  }

  /**
   * Changes limits or lists while running (e.g. the user blocks someone). Buckets keep what they
   * hold; `allow: undefined` leaves allow-list mode. `onConfigure` listeners hear of it: the sync
   * service closes the sessions the new lists no longer permit.
   */
  configure(changes: Partial<FirewallConfig>): void {
    this.cfg = resolve(this.cfg, changes)
    queueMicrotask(() => {
      for (const l of [...this.listeners]) l()
    })
    this.denied = new Set(this.cfg.deny)
    this.allowed = this.cfg.allow === undefined ? undefined : new Set(this.cfg.allow)
    this.reassemblyBudget.setLimits(this.reassemblyLimits())
    const now = this.clock.now()
    for (const s of this.peers.values()) {
      s.writeBucket.reconfigure(this.cfg.writesPerSecond, 1000, this.cfg.burstWrites, now)
      s.byteBucket.reconfigure(this.cfg.bytesPerMinute, 60_000, this.cfg.bytesPerMinute, now)
    }
  }

  /**
   * Resolves as soon as `peer` may send this much: immediately while within its limits,
   * otherwise after exactly the time its buckets need to refill. Rejects with a ProtocolError
   * (MESSAGE_TOO_LARGE), and strikes the peer, when `bytes` exceeds `maxMessageBytes`.
   */
  admit(peer: string, cost: AdmitCost): Promise<void> {
    for (const [k, v] of [
      ['writes', cost.writes],
      ['bytes', cost.bytes],
      ['inflated', cost.inflated ?? 0],
    ] as const) {
      if (!Number.isFinite(v) || v < 0)
        throw new RangeError(`admit: ${k} must be a finite number >= 0, got ${v}`)
    }
    if (cost.bytes > this.cfg.maxMessageBytes) {
      this.strike(peer, `message of ${cost.bytes} bytes`)
      return Promise.reject(
        new ProtocolError(
          'MESSAGE_TOO_LARGE',
          `message of ${cost.bytes} bytes, the limit is ${this.cfg.maxMessageBytes}`,
        ),
      )
    }
    const now = this.clock.now()
    const s = this.state(peer, now)
    const bytes = Math.max(cost.bytes, cost.inflated ?? 0)
    const wait = Math.max(s.writeBucket.reserve(cost.writes, now), s.byteBucket.reserve(bytes, now))
    s.writes += cost.writes
    s.bytes += bytes
    if (wait <= 0) return Promise.resolve()
    s.throttled++
    s.throttledMs += wait
    return this.clock.sleep(wait)
  }

  /**
   * May `peer` (with `identity`, once known) sync with us? Refused while banned, when either is
   * on the deny list, and in allow-list mode when neither is on the allow list (so without the
   * identity only peer ids on the allow list pass: ask again after HELLO).
   */
  permits(peer: string, identity?: string): Result<void, FirewallError> {
    const now = this.clock.now()
    for (const who of identity === undefined ? [peer] : [peer, identity]) {
      const until = this.bannedUntil(who, now)
      if (until !== undefined) {
        return err(
          new FirewallError(`${label(who)} is banned for ${Math.ceil((until - now) / 1000)} s`),
        )
      }
      if (this.denied.has(who)) return err(new FirewallError(`${label(who)} is denied`))
    }
    if (
      this.allowed !== undefined &&
      !this.allowed.has(peer) &&
      (identity === undefined || !this.allowed.has(identity))
    ) {
      return err(
        new FirewallError(
          `${label(identity ?? peer)} is not on the allow list${identity === undefined ? ' (identity not known yet)' : ''}`,
        ),
      )
    }
    if (identity !== undefined) this.state(peer, now).identity = identity
    return ok(undefined)
  }

  /**
   * Records a protocol violation. After `strikesBeforeBan` of them the peer, and its identity
   * when `permits` was told it, are banned for `banMs`. Refuses (like `permits`) when the peer
   * is banned after this strike: close its streams.
   */
  strike(peer: string, reason: string): Result<void, FirewallError> {
    const now = this.clock.now()
    const s = this.state(peer, now)
    const until = this.bannedUntil(peer, now) // first: an expired ban resets the strikes
    s.strikes++
    s.lastStrike = reason
    if (until !== undefined) return err(new FirewallError(`${label(peer)} is banned`))
    if (s.strikes < this.cfg.strikesBeforeBan) return ok(undefined)
    const end = now + this.cfg.banMs
    this.bans.set(peer, end)
    if (s.identity !== undefined) this.bans.set(s.identity, end)
    s.bans++
    log.warn(
      `banned ${label(peer)}${s.identity === undefined ? '' : ` (${label(s.identity)})`} for ${Math.round(this.cfg.banMs / 1000)} s after ${s.strikes} strikes, the last: ${reason}`,
    )
    return err(new FirewallError(`${label(peer)} is banned after ${s.strikes} strikes`))
  }

  /** Per remote peer: what was admitted, how long it was throttled, strikes and bans. */
  stats(): Record<string, FirewallPeerStats> {
    const now = this.clock.now()
    const out: Record<string, FirewallPeerStats> = {}
    for (const [peer, s] of this.peers) {
      const until = this.bannedUntil(peer, now)
      out[peer] = {
        ...(s.identity === undefined ? {} : { identity: s.identity }),
        writes: s.writes,
        bytes: s.bytes,
        throttled: s.throttled,
        throttledMs: s.throttledMs,
        strikes: s.strikes,
        ...(s.lastStrike === undefined ? {} : { lastStrike: s.lastStrike }),
        bans: s.bans,
        ...(until === undefined ? {} : { bannedUntil: until }),
      }
    }
    return out
  }

  /**
   * Drops what is kept about a peer whose streams have all ended (its buckets and counters), so
   * a long-lived tab does not accumulate every peer it ever met. A ban is kept until it expires.
   */
  forget(peer: string): void {
    if (this.bannedUntil(peer, this.clock.now()) === undefined) this.peers.delete(peer)
  }

  private state(peer: string, now: number): PeerState {
    let s = this.peers.get(peer)
    if (s === undefined) {
      s = {
        writeBucket: new TokenBucket(this.cfg.writesPerSecond, 1000, this.cfg.burstWrites, now),
        byteBucket: new TokenBucket(this.cfg.bytesPerMinute, 60_000, this.cfg.bytesPerMinute, now),
        identity: undefined,
        writes: 0,
        bytes: 0,
        throttled: 0,
        throttledMs: 0,
        strikes: 0,
        lastStrike: undefined,
        bans: 0,
      }
      this.peers.set(peer, s)
    }
    return s
  }

  /** The end of `who`'s ban, or undefined; an expired ban is removed and its strikes reset. */
  private bannedUntil(who: string, now: number): number | undefined {
    const until = this.bans.get(who)
    if (until === undefined) return undefined
    if (until > now) return until
    this.bans.delete(who)
    const s = this.peers.get(who)
    if (s !== undefined) s.strikes = 0
    return undefined
  }
}

function resolve(base: FirewallConfig, changes: Partial<FirewallConfig>): FirewallConfig {
  const c: FirewallConfig = { ...base }
  for (const [k, v] of Object.entries(changes)) {
    if (v !== undefined || k === 'allow') (c as unknown as Record<string, unknown>)[k] = v
  }
  const positive = (name: keyof FirewallConfig, integer: boolean): void => {
    const v = c[name] as number
    if (typeof v !== 'number' || !(v > 0) || (integer && v !== Infinity && !Number.isInteger(v)))
      throw new RangeError(`firewall: ${name} must be a positive number, got ${String(v)}`)
  }
  positive('writesPerSecond', false)
  positive('burstWrites', false)
  positive('bytesPerMinute', false)
  positive('maxMessageBytes', false)
  positive('maxInflatedBytes', false)
  positive('maxReassemblyBytes', false)
  positive('partialIdleMs', false)
  positive('partialMinBytesPerSecond', false)
  positive('strikesBeforeBan', true)
  positive('banMs', false)
  positive('forgetAfterMs', false)
  if (!Array.isArray(c.deny)) throw new RangeError('firewall: deny must be an array')
  if (c.allow !== undefined && !Array.isArray(c.allow))
    throw new RangeError('firewall: allow must be an array or undefined')
  c.deny = [...c.deny]
  if (c.allow !== undefined) c.allow = [...c.allow]
  return c
}

const label = (who: string): string =>
  who.startsWith('did:key:') ? `identity …${who.slice(-8)}` : `peer …${who.slice(-8)}`
