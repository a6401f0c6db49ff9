/**
 * Memory held by split messages still being reassembled (framing.ts), accounted per remote peer
 * and in total. Each part is reserved as it arrives and the whole is released when the message is
 * complete or the stream ends, so no peer, and no crowd of fresh peer ids, can make us hold more
 * than these limits in half-received messages. Pure bookkeeping: the framing asks before it keeps
 * a part and ends the stream when refused.
 */
export interface ReassemblyLimits {
  /** bytes of partial messages held for all peers together */
  maxBytes: number
  /** bytes of partial messages held for one peer (all its streams together) */
  maxBytesPerPeer: number
}

/** Why a reservation was refused: the peer's own share, or everyone's total. */
export type Refusal = 'peer' | 'total'

/** One peer's view of the budget, as handed to a stream's decoder. */
export interface ReassemblyAccount {
  reserve(bytes: number): Refusal | undefined
  release(bytes: number): void
}

export class ReassemblyBudget {
  private used = 0
  private peak = 0
  private readonly byPeer = new Map<string, number>()

  constructor(private limits: ReassemblyLimits) {}

  setLimits(limits: ReassemblyLimits): void {
    this.limits = { ...limits }
  }

  /** Takes `bytes` for `peer`, or nothing and the reason when a limit would be passed. */
  reserve(peer: string, bytes: number): Refusal | undefined {
    const mine = this.byPeer.get(peer) ?? 0
    if (mine + bytes > this.limits.maxBytesPerPeer) return 'peer'
    if (this.used + bytes > this.limits.maxBytes) return 'total'
    this.byPeer.set(peer, mine + bytes)
    this.used += bytes
    this.peak = Math.max(this.peak, this.used)
    return undefined
  }

  release(peer: string, bytes: number): void {
    const mine = (this.byPeer.get(peer) ?? 0) - bytes
    if (mine > 0) this.byPeer.set(peer, mine)
    else this.byPeer.delete(peer)
    this.used = Math.max(0, this.used - bytes)
  }

  account(peer: string): ReassemblyAccount {
    return {
      reserve: (bytes) => this.reserve(peer, bytes),
      release: (bytes) => this.release(peer, bytes),
    }
  }

  /** Bytes held now (in total and per peer) and the most ever held at once. */
  stats(): { bytes: number; peak: number; peers: Record<string, number> } {
    return { bytes: this.used, peak: this.peak, peers: Object.fromEntries(this.byPeer) }
  }
}
