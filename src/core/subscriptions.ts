/**
 * Subscriptions of one document, kept in a trie by key path so a batch of patches finds the
 * affected subscriptions without scanning all of them: a subscription fires when something at,
 * below or above its path changed.
 */
import type { Patch } from './automerge'
import { createLogger } from './log'

const log = createLogger('subscriptions')

export type Listener = (value: unknown) => void

interface Node {
  children: Map<string, Node>
  listeners: Set<Listener>
  parent: Node | undefined
  key: string
}

const newNode = (parent: Node | undefined, key: string): Node => ({
  children: new Map(),
  listeners: new Set(),
  parent,
  key,
})

export class SubscriptionTree {
  private readonly root = newNode(undefined, '')
  private count = 0

  get size(): number {
    return this.count
  }

  add(keys: readonly string[], listener: Listener): () => void {
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
    node.listeners.add(wrapped)
    this.count++
    let active = true
    return () => {
      if (!active) return
      active = false
      node.listeners.delete(wrapped)
      this.count--
      this.prune(node)
    }
  }

  private prune(node: Node): void {
    let n: Node | undefined = node
    while (n?.parent !== undefined && n.listeners.size === 0 && n.children.size === 0) {
      n.parent.children.delete(n.key)
      n = n.parent
    }
  }

  /** Nodes whose listeners must hear about these patches, with their key paths. */
  affected(patches: readonly Patch[]): { keys: string[]; listeners: Listener[] }[] {
    if (this.count === 0 || patches.length === 0) return []
    const hit = new Set<Node>()
    const addSubtree = (n: Node): void => {
      if (n.listeners.size > 0) hit.add(n)
      for (const c of n.children.values()) addSubtree(c)
    }
    for (const patch of patches) {
      const path = changedPath(patch)
      let node: Node | undefined = this.root
      if (node.listeners.size > 0) hit.add(node)
      for (const p of path) {
        node = node.children.get(String(p))
        if (node === undefined) break
        if (node.listeners.size > 0) hit.add(node)
      }
      if (node !== undefined) addSubtree(node)
    }
    return [...hit].map((n) => ({ keys: keysOf(n), listeners: [...n.listeners] }))
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
