/**
 * Finding recipients for the outbox service (service.ts): every tab joins its own identity topic
 * (topic.ts) at the relay; while the outbox holds queued messages for a person, this tab joins
 * that person's topic too, so discovery connects it to their tabs. It leaves when nothing is
 * queued for them any more. When the recipient's tabs are known but not connected (a connection
 * dropped), it leaves and re-joins their topic so discovery dials them again.
 */
import { isDirect } from '../discovery/dialer'
import type { Logger } from '../log'
import type { Outbox } from './outbox-store'
import { short, type OutboxLimits, type OutboxServiceComponents } from './service-options'
import { identityTopic } from './topic'

export interface RecipientTopicsContext {
  /** the outbox service's libp2p components (the discovery client among them) */
  components: Pick<OutboxServiceComponents, 'discovery' | 'connectionManager'>
  outbox: Outbox
  limits: OutboxLimits
  log: Logger
}

export class RecipientTopics {
  /** recipients whose topics we joined */
  private readonly joined = new Set<string>()
  private ownTopic: Uint8Array | undefined
  private readonly lastRejoin = new Map<string, number>()

  constructor(private readonly ctx: RecipientTopicsContext) {}

  /** how many recipients' topics are joined (our own not counted) */
  get count(): number {
    return this.joined.size
  }

  /** Joins this tab's own identity topic, where senders find it. */
  joinOwn(myId: string): void {
    this.ownTopic = identityTopic(myId)
    this.ctx.components.discovery.addTopic(this.ownTopic)
  }

  /** Forgets every topic joined (the service stopped). */
  reset(): void {
    this.joined.clear()
    this.ownTopic = undefined
  }

  /** Joins the topics of the people we have queued messages for; leaves the others. */
  update(myId: string | undefined): void {
    const d = this.ctx.components.discovery
    const want = new Set<string>()
    for (const e of this.ctx.outbox.pending()) {
      if (want.size >= this.ctx.limits.maxRecipientTopics) break
      if (e.to !== myId) want.add(e.to)
    }
    for (const to of want) {
      if (this.joined.has(to)) continue
      this.joined.add(to)
      d.addTopic(identityTopic(to))
    }
    for (const to of [...this.joined]) {
      if (want.has(to)) continue
      this.joined.delete(to)
      this.lastRejoin.delete(to)
      d.removeTopic(identityTopic(to))
    }
  }

  /**
   * The relay named tabs of `to` but none is connected (a connection dropped after the join):
   * leave and re-join their topic, so discovery is told about them again and dials.
   */
  rejoinIfStranded(to: string, now: number): void {
    const d = this.ctx.components.discovery
    if (!this.joined.has(to)) return
    if (now - (this.lastRejoin.get(to) ?? 0) < this.ctx.limits.rejoinMs) return
    const topic = identityTopic(to)
    const members = new Set(d.peersIn(topic))
    if (members.size === 0) return
    const connected = this.ctx.components.connectionManager
      .getConnections()
      .some((c) => isDirect(c) && members.has(c.remotePeer.toString()))
    if (connected) return
    this.lastRejoin.set(to, now)
    this.ctx.log.debug(`re-joining the topic of ${short(to)}: its tabs are known but not connected`)
    d.removeTopic(topic)
    d.addTopic(topic)
  }
}
