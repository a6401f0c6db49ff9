/**
 * Subscriptions of one document, kept in a trie by key path so a batch of patches finds the
 * affected subscriptions without scanning all of them: a subscription fires when something at,
 * below or above its path changed.
 */
import type { Patch } from './automerge'
import { createLogger } from './log'

const log = createLogger('subscriptions')

export type Listener = (value: unknown) => void

export interface SubscribeOptions {
  /**
   * The value comes in a later task, after the change went out to peers and to the other
   * subscribers, and several changes in a row come as one value: for views, which render on
   * animation frames and must not hold up a round trip. (Default: in the flush that applied it.)
   */
  deferred?: boolean
}

interface Node {
  children: Map<string, Node>
  listeners: Set<Listener>
  deferred: Set<Listener>
  parent: Node | undefined
  key: string
}

const newNode = (parent: Node | undefined, key: string): Node => ({
  children: new Map(),
  listeners: new Set(),
  deferred: new Set(),
  parent,
  key,
})

const listened = (n: Node): boolean => n.listeners.size > 0 || n.deferred.size > 0

export class SubscriptionTree {
  private readonly root = newNode(undefined, '')
  private count = 0

  get size(): number {
    return this.count
  }

  add(keys: readonly string[], listener: Listener, opts: SubscribeOptions = {}): () => void {
    let node = this.root
    for (const k of keys) {
      let next = node.children.get(k)
      if (next === undefined) {
        next = newNode(node, k)
        node.children.set(k, next)
      }
      node = next
    }
    const wrapped: Listener = (v) => listener(v) // distinct identity per subscription
    const set = opts.deferred === true ? node.deferred : node.listeners
    set.add(wrapped)
    this.count++
    let active = true
    return () => {
      if (!active) return
      active = false
      set.delete(wrapped)
      this.count--
      this.prune(node)
    }
  }

  private prune(node: Node): void {
    let n: Node | undefined = node
    while (n?.parent !== undefined && !listened(n) && n.children.size === 0) {
      n.parent.children.delete(n.key)
      n = n.parent
    }
  }

  /**
   * Paths whose listeners must hear about these patches: with the listeners to call now, and
   * whether deferred listeners wait there too (read them with `deferredAt` when their turn comes).
   */
  affected(
    patches: readonly Patch[],
  ): { keys: string[]; listeners: Listener[]; deferred: boolean }[] {
    if (this.count === 0 || patches.length === 0) return []
    const hit = new Set<Node>()
    const addSubtree = (n: Node): void => {
      if (listened(n)) hit.add(n)
      for (const c of n.children.values()) addSubtree(c)
    }
    for (const patch of patches) {
      const path = changedPath(patch)
      let node: Node | undefined = this.root
      if (listened(node)) hit.add(node)
      for (const p of path) {
        node = node.children.get(String(p))
        if (node === undefined) break
        if (listened(node)) hit.add(node)
      }
      if (node !== undefined) addSubtree(node)
    }
    return [...hit].map((n) => ({
      keys: keysOf(n),
      listeners: [...n.listeners],
      deferred: n.deferred.size > 0,
    }))
  }

  /** The deferred listeners subscribed at `keys` now (none once they all unsubscribed). */
  deferredAt(keys: readonly string[]): Listener[] {
    let node: Node | undefined = this.root
    for (const k of keys) node = node?.children.get(k)
    return node === undefined ? [] : [...node.deferred]
  }

  static call(listener: Listener, value: unknown): void {
    try {
      listener(value)
    } catch (e) {
      log.error('a subscriber threw', e)
    }
  }
}

/** Where a patch changes the document; list inserts and deletes move every later element. */
function changedPath(patch: Patch): readonly (string | number)[] {
  const path = patch.path
  const last = path[path.length - 1]
  if ((patch.action === 'insert' || patch.action === 'del') && typeof last === 'number') {
    return path.slice(0, -1)
  }
  if (patch.action === 'splice' || patch.action === 'mark' || patch.action === 'unmark') {
    return typeof last === 'number' ? path.slice(0, -1) : path
  }
  return path
}

function keysOf(node: Node): string[] {
  const keys: string[] = []
  for (let n: Node | undefined = node; n?.parent !== undefined; n = n.parent) keys.push(n.key)
  return keys.reverse()
}
