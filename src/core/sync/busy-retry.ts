/**
 * Sessions refused because every peer's split messages together filled the reassembly budget
 * (`ReassemblyBusyError`: not the peer's fault, never struck) are opened again from this side
 * once the budget has room. Without it an honest peer whose large message (a first sync) came
 * while attackers held the budget was cut off for as long as the connection lived: its side saw
 * the stream reset and had no reason to open another.
 *
 * Retries back off (1 s, doubling, at most 30 s) and wait while the budget is more than half
 * full, so peers that keep filling it cannot make us churn streams.
 */
import type { Connection } from '@libp2p/interface'
import { backoffWait } from '../backoff'
import type { Firewall } from '../firewall/firewall'
import type { Logger } from '../log'

export const BUSY_RETRY_FIRST_MS = 1000
export const BUSY_RETRY_MAX_MS = 30_000

export interface BusyRetryInit {
  firewall: Firewall
  /** opens a new sync session on the connection */
  open: (connection: Connection) => Promise<void>
  /** whether the connection has a live session already (e.g. the other side opened one) */
  hasSession: (connection: Connection) => boolean
  log: Logger
}

export class BusyRetry {
  /** connections waiting for a retry: their timer and how many times they waited */
  private readonly pending = new Map<
    Connection,
    { timer: ReturnType<typeof setTimeout>; tries: number }
  >()
  /** tries so far, kept while the connection is open (a session busy again backs off further) */
  private readonly tries = new WeakMap<Connection, number>()

  constructor(private readonly init: BusyRetryInit) {}

  /** The session on `connection` was refused for a full budget: open another later. */
  schedule(connection: Connection): void {
    if (this.pending.has(connection) || connection.status !== 'open') return
    const tries = this.tries.get(connection) ?? 0
    this.tries.set(connection, tries + 1)
    const ms = backoffWait({ firstMs: BUSY_RETRY_FIRST_MS, maxMs: BUSY_RETRY_MAX_MS }, tries)
    const timer = setTimeout(() => this.fire(connection), ms)
    this.pending.set(connection, { timer, tries })
  }

  private fire(connection: Connection): void {
    this.pending.delete(connection)
    if (connection.status !== 'open' || this.init.hasSession(connection)) return
    const { bytes } = this.init.firewall.reassemblyStats()
    if (bytes > this.init.firewall.config.maxReassemblyBytes / 2) {
      this.schedule(connection) // still crowded: wait longer
      return
    }
    this.init.log.info(
      `reassembly budget has room: syncing with ${connection.remotePeer.toString().slice(-8)} again`,
    )
    void this.init.open(connection)
  }

  /** Number of connections waiting for a retry (status and tests). */
  get size(): number {
    return this.pending.size
  }

  stop(): void {
    for (const { timer } of this.pending.values()) clearTimeout(timer)
    this.pending.clear()
  }
}
