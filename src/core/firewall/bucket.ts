/**
 * A token bucket on an injected time base (milliseconds), shared by the peer firewall (which
 * delays: `reserve`) and the relay's HTTP limits (which refuse: `tryTake`).
 *
 * The bucket holds at most `capacity` tokens and gains `amount` tokens every `perMs`
 * milliseconds (e.g. 200 per 1000 ms, or 64 MiB per 60,000 ms). Rates are kept as that pair, not
 * as a per-millisecond float, so waits come out exact for round numbers. An `amount` of Infinity
 * turns the bucket off (always full).
 */
export class TokenBucket {
  private tokens: number
  private last: number

  constructor(
    private amount: number,
    private perMs: number,
    private capacity: number,
    now: number,
  ) {
    checkLimits(amount, perMs, capacity)
    this.tokens = capacity
    this.last = now
  }

  /** Tokens available at `now` (negative while in debt after `reserve`). */
  available(now: number): number {
    this.refill(now)
    return this.tokens
  }

  /**
   * Takes `cost` tokens at once, going into debt if there are not enough, and returns how long
   * (ms) the caller must wait for the debt to be paid back: 0 while within limits. Concurrent
   * callers queue naturally: each one sees the debt of those before it.
   */
  reserve(cost: number, now: number): number {
    this.refill(now)
    if (this.amount === Infinity) return 0
    this.tokens -= cost
    return this.tokens >= 0 ? 0 : (-this.tokens * this.perMs) / this.amount
  }

  /** Takes `cost` tokens if they are there (true), otherwise takes nothing (false). */
  tryTake(cost: number, now: number): boolean {
    this.refill(now)
    if (this.amount === Infinity) return true
    if (this.tokens < cost) return false
    this.tokens -= cost
    return true
  }

  /** Full again: nothing to remember about this bucket (callers drop idle buckets). */
  isFull(now: number): boolean {
    this.refill(now)
    return this.tokens >= this.capacity
  }

  /** New limits; the tokens held are kept (down to the new capacity). */
  reconfigure(amount: number, perMs: number, capacity: number, now: number): void {
    checkLimits(amount, perMs, capacity)
    this.refill(now)
    this.amount = amount
    this.perMs = perMs
    this.capacity = capacity
    this.tokens = Math.min(this.tokens, capacity)
  }

  private refill(now: number): void {
    if (this.amount === Infinity) {
      this.tokens = this.capacity
    } else {
      const elapsed = now - this.last
      // a clock that went backwards adds nothing (and does not freeze the bucket either)
      if (elapsed > 0)
        this.tokens = Math.min(this.capacity, this.tokens + (elapsed * this.amount) / this.perMs)
    }
    this.last = now
  }
}

function checkLimits(amount: number, perMs: number, capacity: number): void {
  if (!(amount > 0)) throw new RangeError(`a rate must be positive, got ${amount}`)
  if (!(perMs > 0) || !Number.isFinite(perMs))
    throw new RangeError(`a rate period must be a positive number of ms, got ${perMs}`)
  if (!(capacity > 0)) throw new RangeError(`a burst must be positive, got ${capacity}`)
}
