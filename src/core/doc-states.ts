/**
 * Every open document's sync state (repo/doc-state.ts), kept current and announced: the one
 * source the shell (top bar, document list, editor) and apps read. It joins the facts of each
 * DocHandle (what peers told it, who confirmed it), the repo's records (changes waiting, also of
 * documents not open) and the network (relay link, the document's discovery topic, direct peers),
 * recomputes a document's state when any of them changes, and emits it only when it differs.
 */
import { Emitter } from './emitter'
import type { DocId } from './ids'
import type { OrreryPeer } from './peer'
import type { Repo } from './repo/repo'
import {
  computeDocState,
  summarize,
  type DocSyncState,
  type RelayLinkState,
  type SyncSummary,
} from './repo/doc-state'

/** What the network knows that a document's state depends on. */
export interface NetworkView {
  relay(): RelayLinkState
  /** remote tabs with a live sync session */
  directPeers(): number
  topicAnswered(topic: Uint8Array): boolean
  topicMembers(topic: Uint8Array): number
}

/** What the tab's mirror (mirror/mirror-sync.ts) says of its documents. */
export interface MirrorView {
  answered(id: DocId): boolean
  confirmation(id: DocId): { at: number; heads: string[] } | undefined
  onChange(f: (id: DocId) => void): () => void
}

/** Before the network is up: the relay is being reached, nobody is known. */
export const STARTING_NETWORK: NetworkView = {
  relay: () => 'connecting',
  directPeers: () => 0,
  topicAnswered: () => false,
  topicMembers: () => 0,
}

export interface DocStatesEvents extends Record<string, unknown> {
  /** one document's state changed */
  state: DocSyncState
  /** the sum changed (changes waiting anywhere, open documents by state) */
  summary: SyncSummary
}

/** the least time between two recomputes of the documents' sync states */
const RECOMPUTE_MS = 50

export class DocStates {
  readonly events = new Emitter<DocStatesEvents>()
  private readonly last = new Map<DocId, string>()
  private readonly dirty = new Set<DocId>()
  private everything = false
  private queued = false
  /** when the last recompute ran (ms since epoch) */
  private lastRun = 0
  private lastSummary = ''
  private lastDirect = -1
  private readonly offs: (() => void)[]
  private mirror: MirrorView | undefined

  constructor(
    private readonly repo: Repo,
    private network: NetworkView = STARTING_NETWORK,
  ) {
    this.offs = [
      repo.events.on('doc-status', (id) => this.touch(id)),
      repo.events.on('doc-opened', (h) => this.touch(h.id)),
      repo.events.on('doc-closed', (id) => {
        this.last.delete(id)
        this.touch(id)
      }),
      // records change (a closed document's waiting count, another tab's new document)
      repo.events.on('docs-changed', () => this.touchAll()),
    ]
  }

  /** The network to read from now on (the browser's relay link once it exists). */
  useNetwork(network: NetworkView): void {
    this.network = network
    this.touchAll()
  }

  /** The tab's mirror, once its peer exists: its documents' states say what it holds. */
  useMirror(mirror: MirrorView): void {
    this.mirror = mirror
    this.offs.push(mirror.onChange((id) => this.touch(id)))
    this.touchAll()
  }

  /** Something about the network changed: every open document is looked at again. */
  networkChanged(): void {
    this.touchAll()
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off()
  }

  /** The state of an open document (undefined when it is not open in this tab). */
  get(id: DocId): DocSyncState | undefined {
    const h = this.repo.get(id)
    if (h === undefined || h.isClosed) return undefined
    const facts = h.syncFacts()
    const topic = this.repo.keys.topic(id)
    return computeDocState({
      id,
      heads: facts.heads,
      createdHere: this.repo.record(id)?.created === true,
      waiting: this.waiting(id),
      peers: facts.peers,
      confirmation: facts.confirmation,
      relay: this.network.relay(),
      keyed: topic !== undefined,
      topicAnswered: topic !== undefined && this.network.topicAnswered(topic),
      topicMembers: topic === undefined ? 0 : this.network.topicMembers(topic),
      directPeers: this.network.directPeers(),
      ...(this.mirror === undefined
        ? {}
        : {
            mirror: {
              answered: this.mirror.answered(id),
              confirmed: this.mirror.confirmation(id),
            },
          }),
    })
  }

  /**
   * Local changes of a document that no peer has confirmed: the open document's count, which the
   * repo records for it (and keeps for documents not open). The one number every view shows.
   */
  waiting(id: DocId): number {
    return this.repo.get(id)?.status().unsynced ?? this.repo.record(id)?.unsynced ?? 0
  }

  /** Changes waiting in every document this tab knows: the sum of what the list shows. */
  totalWaiting(): number {
    const ids = new Set<DocId>([
      ...this.repo.knownDocs().map((m) => m.id),
      ...this.repo.openDocs().map((h) => h.id),
    ])
    let n = 0
    for (const id of ids) n += this.waiting(id)
    return n
  }

  summary(): SyncSummary {
    const states: DocSyncState[] = []
    for (const h of this.repo.openDocs()) {
      const s = this.get(h.id)
      if (s !== undefined) states.push(s)
    }
    return summarize(this.totalWaiting(), states)
  }

  private touch(id: DocId): void {
    this.dirty.add(id)
    this.schedule()
  }

  private touchAll(): void {
    this.everything = true
    this.schedule()
  }

  /**
   * Recomputed once per burst of events (a flush may report several things at once), and at
   * most once per RECOMPUTE_MS: a live exchange flushes every few milliseconds, and what the
   * status line shows needs no more than a frame or two of freshness.
   */
  private schedule(): void {
    if (this.queued) return
    this.queued = true
    const wait = Math.max(0, this.lastRun + RECOMPUTE_MS - Date.now())
    setTimeout(() => this.recompute(), wait)
  }

  private recompute(): void {
    this.queued = false
    this.lastRun = Date.now()
    // a sync session opening or closing changes "offline" for every document
    const direct = this.network.directPeers()
    if (direct !== this.lastDirect) this.everything = true
    this.lastDirect = direct
    const ids = this.everything
      ? new Set([...this.dirty, ...this.repo.openDocs().map((h) => h.id)])
      : new Set(this.dirty)
    this.everything = false
    this.dirty.clear()
    for (const id of ids) {
      const s = this.get(id)
      if (s === undefined) continue
      const key = JSON.stringify(s)
      if (this.last.get(id) === key) continue
      this.last.set(id, key)
      this.events.emit('state', s)
    }
    const summary = this.summary()
    const key = JSON.stringify(summary)
    if (key !== this.lastSummary) {
      this.lastSummary = key
      this.events.emit('summary', summary)
    }
  }
}

/**
 * The network facts of an in-process or browser peer: its discovery client (relay links, topics)
 * and its sync sessions. `relay` overrides the relay link's state (the browser's RelayLink knows
 * "connecting" before discovery is linked).
 */
export function peerNetwork(peer: OrreryPeer, relay?: () => RelayLinkState): NetworkView {
  const discovery = peer.node.services.discovery
  return {
    relay: relay ?? (() => (discovery.relayCount > 0 ? 'connected' : 'offline')),
    directPeers: () => peer.node.services.sync.list().filter((s) => s.isOpen).length,
    topicAnswered: (t) => discovery.answered(t),
    topicMembers: (t) => discovery.peersIn(t).length,
  }
}

/** Looks at every open document again whenever the peer's network changes. */
export function watchNetwork(peer: OrreryPeer, states: DocStates): () => void {
  const changed = (): void => states.networkChanged()
  const offDiscovery = peer.node.services.discovery.events.on('changed', changed)
  peer.node.addEventListener('connection:open', changed)
  peer.node.addEventListener('connection:close', changed)
  return () => {
    offDiscovery()
    peer.node.removeEventListener('connection:open', changed)
    peer.node.removeEventListener('connection:close', changed)
  }
}
