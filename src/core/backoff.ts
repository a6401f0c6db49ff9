/**
 * The one exponential backoff: first, 2 × first, 4 × first … capped, optionally shortened by up
 * to `jitter` (a fraction) at random, so peers that failed together do not retry together. Used
 * by the outbox's delivery retries, the relay redial, the busy-session retry and block asks.
 */
export interface Backoff {
  firstMs: number
  maxMs: number
  /** 0 … 1: the largest fraction a wait is shortened by at random (default none) */
  jitter?: number
}

/** The wait before retry number `retry` (0 = the first retry). */
export function backoffWait(b: Backoff, retry: number, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(retry, 0), 30)
  const base = Math.min(b.maxMs, b.firstMs * 2 ** exp)
  const jitter = b.jitter ?? 0
  if (jitter === 0) return base
  return Math.round(base * (1 - jitter * Math.min(Math.max(random(), 0), 1)))
}
