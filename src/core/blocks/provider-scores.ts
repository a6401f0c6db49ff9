/**
 * Provider tracking: a score per provider peer, raised for every good block and lowered for
 * wrong blocks, protocol violations and stalls (capped above, unbounded below). Fetches skip
 * providers scoring below the limit, and never ask this peer itself.
 */

/** score changes: a wrong block drops a provider below `minScore` at once */
export const SCORE = { goodBlock: 1, max: 20, wrongBlock: -100, violation: -50, stall: -5 }

export class ProviderScores {
  private readonly scores = new Map<string, number>()

  /** a provider's score; providers start at 0 */
  get(peer: string): number {
    return this.scores.get(peer) ?? 0
  }

  adjust(peer: string, delta: number): void {
    this.scores.set(peer, Math.min(SCORE.max, this.get(peer) + delta))
  }

  /** The distinct providers worth asking: neither `self` nor scoring below `minScore`. */
  usable(providers: string[], self: string, minScore: number): string[] {
    return [...new Set(providers)].filter((p) => p !== self && this.get(p) >= minScore)
  }

  toRecord(): Record<string, number> {
    return Object.fromEntries(this.scores)
  }
}
