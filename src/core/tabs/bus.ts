/**
 * Tabs of one browser profile share IndexedDB and tell each other about new chunks over a
 * BroadcastChannel. A chunk is posted after it reached storage, so a tab that receives one
 * never needs to store it again; except as a page goes away (`unstored`): its last chunks are
 * posted while their write may still fail, and the tabs that receive them store them too.
 * Node has BroadcastChannel too, so tests use the real one.
 */
import type { DocId } from '../ids'
import { createLogger } from '../log'

const log = createLogger('tab-bus')

export type TabMessage =
  | {
      t: 'chunk'
      doc: DocId
      data: Uint8Array
      from: string
      /** signature records (128 bytes each) stored with the chunk */
      sigs?: Uint8Array
      unstored?: boolean
    }
  | { t: 'identity-changed'; from: string }
  /** a tab started: the others watch for it to go away */
  | { t: 'tab-hello'; from: string }
  | { t: 'doc-created'; doc: DocId; from: string }
  /** a tab kept a document's read key (the others read it from storage) */
  | { t: 'doc-key'; doc: DocId; from: string }

export interface TabBus {
  post(msg: TabMessage): void
  subscribe(cb: (msg: TabMessage) => void): () => void
  close(): void
}

function isTabMessage(m: unknown): m is TabMessage {
  if (m === null || typeof m !== 'object') return false
  const o = m as Record<string, unknown>
  if (typeof o.from !== 'string') return false
  if (o.t === 'chunk') {
    return (
      typeof o.doc === 'string' &&
      o.data instanceof Uint8Array &&
      (o.sigs === undefined || o.sigs instanceof Uint8Array) &&
      (o.unstored === undefined || typeof o.unstored === 'boolean')
    )
  }
  if (o.t === 'doc-created' || o.t === 'doc-key') return typeof o.doc === 'string'
  return o.t === 'identity-changed' || o.t === 'tab-hello'
}

export class BroadcastTabBus implements TabBus {
  private readonly channel: BroadcastChannel
  private readonly listeners = new Set<(msg: TabMessage) => void>()

  constructor(name: string) {
    this.channel = new BroadcastChannel(name)
    this.channel.onmessage = (ev: MessageEvent<unknown>) => {
      if (!isTabMessage(ev.data)) {
        log.warn('ignoring a malformed tab message')
        return
      }
      for (const l of this.listeners) l(ev.data)
    }
  }

  post(msg: TabMessage): void {
    this.channel.postMessage(msg)
  }

  subscribe(cb: (msg: TabMessage) => void): () => void {
    this.listeners.add(cb)
    return () => this.listeners.delete(cb)
  }

  close(): void {
    this.listeners.clear()
    this.channel.close()
  }
}
