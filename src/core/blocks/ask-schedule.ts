/**
 * When to ask for blocks again while nobody reachable has them, and what to tell the user. An
 * install never gives up on its own (unless given a deadline): it asks the providers it reaches
 * (the seeding relay, the app topic's members connected directly), and when none of them has the
 * blocks it says so ("waiting for someone who has this app") and asks again: at once when a new
 * provider appears, otherwise after a backoff (a relay may start seeding, a peer may finish its
 * own install). Pure: the caller passes the clock.
 */
import { backoffWait } from '../backoff'

export interface AskPolicy {
  /** with nobody to ask at all, "finding" turns into "waiting" after this (ms) */
  findMs: number
  /** the same providers are asked again after this, doubling up to `maxRetryMs` (ms) */
  minRetryMs: number
  maxRetryMs: number
}

export const DEFAULT_ASK_POLICY: AskPolicy = {
  findMs: 2_000,
  minRetryMs: 1_000,
  maxRetryMs: 15_000,
}

export type AskPhase = 'finding' | 'waiting'

export class AskSchedule {
  private asked = new Set<string>()
  private lastAsk: number | undefined
  /** asks of the same providers that found nothing: the backoff grows with them */
  private refusals = 0
  private refused = false

  constructor(
    private readonly start: number,
    private readonly policy: AskPolicy = DEFAULT_ASK_POLICY,
  ) {}

  /**
   * Ask these providers now? Yes the first time, when one of them was not asked before (or left
   * and came back), and when the backoff is over.
   */
  shouldAsk(providers: readonly string[], now: number): boolean {
    for (const p of this.asked) if (!providers.includes(p)) this.asked.delete(p)
    if (providers.length === 0) return false
    if (this.lastAsk === undefined) return true
    if (providers.some((p) => !this.asked.has(p))) return true
    return now - this.lastAsk >= this.retryMs()
  }

  /** The providers are being asked now. */
  asking(providers: readonly string[], now: number): void {
    for (const p of providers) this.asked.add(p)
    this.lastAsk = now
  }

  /** None of those providers had every block: wait longer before asking them again. */
  unavailable(): void {
    this.refused = true
    this.refusals++
  }

  private retryMs(): number {
    const { minRetryMs: firstMs, maxRetryMs: maxMs } = this.policy
    return backoffWait({ firstMs, maxMs }, this.refusals)
  }

  /** finding: still looking; waiting: nobody reachable has it (asked and refused, or nobody to ask). */
  phase(now: number, providers: number): AskPhase {
    if (this.refused) return 'waiting'
    return providers === 0 && now - this.start >= this.policy.findMs ? 'waiting' : 'finding'
  }
}
