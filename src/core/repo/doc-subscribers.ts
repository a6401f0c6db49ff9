/**
 * The subscribers of one open document: who hears of which patches, now (in the flush that
 * applied them) or deferred (in an ordinary task after it, one value for several flushes: views,
 * whose reads must not hold up a round trip).
 */
import type { Patch } from '../automerge'
import { trace } from '../timings'
import { SubscriptionTree, type Listener, type SubscribeOptions } from '../subscriptions'

export interface SubscriberHost {
  /** the value at `keys` for subscribers, after anything pending was committed */
  read(keys: readonly string[]): unknown
  closed(): boolean
}

export class DocSubscribers {
  private readonly subs = new SubscriptionTree()
  /** paths whose deferred subscribers get their value in the next task */
  private readonly due = new Map<string, string[]>()

  constructor(private readonly host: SubscriberHost) {}

  add(keys: readonly string[], listener: Listener, opts?: SubscribeOptions): () => void {
    return this.subs.add(keys, listener, opts)
  }

  /** Tells the subscribers these patches touch: the immediate ones now, the deferred ones later. */
  notify(patches: readonly Patch[]): void {
    trace('notify')
    for (const { keys, listeners, deferred } of this.subs.affected(patches)) {
      if (deferred) this.deferLater(keys)
      if (listeners.length === 0) continue
      const value = this.host.read(keys) // read each time: an earlier listener may have written
      for (const l of listeners) SubscriptionTree.call(l, value)
    }
  }

  private deferLater(keys: string[]): void {
    const first = this.due.size === 0
    this.due.set(keys.join('\u0000'), keys)
    if (!first) return
    // an ordinary task: behind the network's and the edits' (scheduleTask runs ahead of them)
    setTimeout(() => {
      const due = [...this.due.values()]
      this.due.clear()
      for (const at of due) {
        const listeners = this.subs.deferredAt(at)
        if (this.host.closed() || listeners.length === 0) continue
        const value = this.host.read(at)
        for (const l of listeners) SubscriptionTree.call(l, value)
      }
    }, 0)
  }
}
