/**
 * The retry schedule of the outbox (outbox-store.ts): exponential backoff after failed delivery
 * attempts, with jitter (the shared helper, ../backoff.ts).
 */
import { backoffWait } from '../backoff'

export const BACKOFF = { baseMs: 1000, maxMs: 5 * 60 * 1000, jitter: 0.2 }

/**
 * The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s … capped at 5 min, shortened by
 * up to `BACKOFF.jitter` at random (so senders that failed together do not retry together).
 */
export function backoffDelay(attempts: number, random: () => number = Math.random): number {
  const { baseMs, maxMs, jitter } = BACKOFF
  return backoffWait({ firstMs: baseMs, maxMs, jitter }, attempts - 1, random)
}
