/**
 * The retry schedule of the outbox (outbox-store.ts): exponential backoff after failed delivery
 * attempts, with jitter.
 */

export const BACKOFF = { baseMs: 1000, maxMs: 5 * 60 * 1000, jitter: 0.2 }

/**
 * The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s … capped at 5 min, shortened by
 * up to `BACKOFF.jitter` at random (so senders that failed together do not retry together).
 */
export function backoffDelay(attempts: number, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(attempts, 1) - 1, 30)
  const base = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** exp)
  return Math.round(base * (1 - BACKOFF.jitter * Math.min(Math.max(random(), 0), 1)))
}
