/**
 * The documents of this tab: opens them from storage, creates new ones, keeps the list of known
 * documents, and routes input from other tabs and remote peers to the right DocHandle.
 */
import { Emitter } from '../emitter'
import { describeError } from '../errors'
import { newDocId, parseDocId, type DocId } from '../ids'
import { randomKey } from '../keys/aead'
import { writeKeyFromSecret, type WriteKey } from '../keys/write-key'
import { createLogger } from '../log'
import { DocStore } from '../storage/doc-store'
import type { StorageAdapter } from '../storage/types'
import type { ViewCache } from '../storage/view-cache'
import type { SyncPeer } from '../sync/peer'
import type { PresenceTiming } from '../presence/doc-presence'
import type { PresenceState } from '../presence/presence-state'
import type { TabBus, TabMessage } from '../tabs/bus'
import { DocHandle } from './doc-handle'
import type { Governance } from './governance'
import { loadReplica } from './replica'
import { EquivocationLog } from './equivocation'
import { DocRecords, type DocMeta } from './doc-records'
import { DocKeys } from './doc-keys'
import { KeyProofs } from './key-proofs'
import type { DecodedSyncMessage } from 'automerge-wasm'
import { SignatureList, type ChangeSignature } from '../sync/messages'

const log = createLogger('repo')

export type { DocMeta }

export interface RepoEvents extends Record<string, unknown> {
  /** a document starts loading */
  'doc-opening': { id: DocId }
  /**
   * a document open (or opening) here has its read key: its topic can be announced and peers
   * shown that we hold it, before it is in memory (again if the key changes)
   */
  'doc-keyed': { id: DocId; topic: Uint8Array }
  'doc-opened': DocHandle
  'doc-closed': DocId
  /** something in a document's status changed (read it with `get(id).status()`) */
  'doc-status': DocId
  'docs-changed': undefined
}

export interface RepoOptions {
  storage: StorageAdapter
  /** other tabs of this profile; omit for a single-tab peer (Node, tests) */
  bus?: TabBus
  /** this tab's unique id (messages from ourselves are ignored) */
  tabId: string
  /** how many documents remote peers may make us load that we did not open ourselves */
  maxServedDocs?: number
  /** the rules for a document that belongs to a space (signed writes), if it does */
  governance?: (id: DocId) => Governance | undefined | Promise<Governance | undefined>
  /** where each document's last value is cached as JSON, for the next page load */
  views?: ViewCache
  /** presence's throttle, heartbeat and expiry (tests shorten them) */
  presenceTiming?: PresenceTiming
}

export class Repo {
  readonly events = new Emitter<RepoEvents>()
  /** two different signed changes for one (actor, seq) of a governed document, with evidence */
  readonly equivocations: EquivocationLog
  private readonly handles = new Map<DocId, DocHandle>()
  private readonly opening = new Map<DocId, Promise<DocHandle>>()
  /** what must settle before a document may load (a link's space and keys): see holdOpening */
  private readonly holds = new Map<DocId, Promise<unknown>>()
  /** documents loading past their holds: a hold placed now comes too late for them */
  private readonly pastHolds = new Set<DocId>()
  private readonly meta: DocRecords
  private readonly peers = new Set<SyncPeer>()
  /** the read key of each document this tab holds one for */
  readonly keys: DocKeys
  /**
   * which peer showed it holds which document's key: a peer is served a document, and its SYNC
   * taken, only then; a document we open later starts syncing with the peers that did
   */
  private readonly proofs: KeyProofs
  private readonly served = new Set<DocId>()
  private readonly unsubscribeBus: (() => void) | undefined

  constructor(private readonly opts: RepoOptions) {
    this.unsubscribeBus = opts.bus?.subscribe((m) => this.onTabMessage(m))
    this.meta = new DocRecords(
      opts.storage,
      (id) => this.proofs.learn(id),
      () => this.events.emit('docs-changed', undefined),
    )
    this.keys = new DocKeys(opts.storage, (id, replaced) => this.keyed(id, replaced))
    this.keys.writerChanged = (id) => this.writeKeyed(id)
    this.proofs = new KeyProofs(this.keys)
    this.equivocations = new EquivocationLog(opts.storage)
  }

  get tabId(): string {
    return this.opts.tabId
  }

  // ---- documents -----------------------------------------------------------------------------

  /**
   * A new document (`id`: one made with newDocId, e.g. to register it in a space first), with a
   * new random read key unless one is given (a space's documents derive theirs).
   */
  async create(id: DocId = newDocId(), key?: Uint8Array): Promise<DocHandle> {
    if (key === undefined && !this.keys.has(id)) await this.giveKeys(id)
    else if (key !== undefined) await this.setKey(id, key)
    const handle = await this.open(id)
    const m = this.meta.get(id)
    if (m !== undefined && m.created !== true) {
      m.created = true
      await this.meta.write(id) // an empty new document must not look "not arrived" after a reload
    }
    this.opts.bus?.post({ t: 'doc-created', doc: id, from: this.opts.tabId })
    return handle
  }

  /** Opens a document: from storage if we have it, empty otherwise (peers fill it in). */
  open(id: DocId): Promise<DocHandle> {
    const parsed = parseDocId(id)
    if (!parsed.ok) return Promise.reject(parsed.error)
    const open = this.handles.get(id)
    if (open !== undefined) {
      this.served.delete(id) // opened on purpose now
      return Promise.resolve(open)
    }
    let p = this.opening.get(id)
    if (p === undefined) {
      p = this.load(id).finally(() => {
        this.opening.delete(id)
        this.pastHolds.delete(id)
      })
      this.opening.set(id, p)
      this.proofs.learn(id)
      this.events.emit('doc-opening', { id })
      const topic = this.keys.topic(id)
      if (topic !== undefined) this.events.emit('doc-keyed', { id, topic })
    }
    return p
  }

  /**
   * Keeps a document's read key (a share link's, a space's) and announces the document if it is
   * open (at once, from memory). Resolves once the key is in storage (a key the profile held
   * already for the document wins: see DocKeys.set).
   */
  async setKey(id: DocId, key: Uint8Array): Promise<void> {
    const parsed = parseDocId(id)
    if (!parsed.ok) throw parsed.error
    if (await this.keys.set(id, key))
      this.opts.bus?.post({ t: 'doc-key', doc: id, from: this.opts.tabId })
  }

  /**
   * A free document's own keys: a random write secret (its maker's), then a random read key. In
   * that order: another tab of the profile that hears of the read key must find the secret
   * stored, or it would take the document for one without a write key, and write as a reader.
   */
  private async giveKeys(id: DocId): Promise<void> {
    await this.setWriteKey(id, writeKeyFromSecret(id, randomKey()))
    await this.setKey(id, randomKey())
  }

  /**
   * Keeps what a link carries of a free document's write key (its writer, or the secret); throws
   * WRONG_KEY when it is not the writer this profile knows for the document.
   */
  async setWriteKey(id: DocId, w: WriteKey): Promise<void> {
    if (await this.keys.setWriteKey(id, w))
      this.opts.bus?.post({ t: 'doc-key', doc: id, from: this.opts.tabId })
  }

  /**
   * A document's write key was learned (or its secret): the peers are judged again, and those
   * syncing it see our write tag now.
   */
  private writeKeyed(id: DocId): void {
    this.proofs.writeKeyed(id)
    const h = this.handles.get(id)
    if (h !== undefined && this.keys.writeKey(id)?.secret !== undefined)
      for (const peer of h.peers.attached) peer.sendInterest([id])
  }

  /** A key was learned or replaced: the peers' proofs and the document's announcement follow. */
  private keyed(id: DocId, replaced: boolean): void {
    this.proofs.keyed(id, replaced)
    const topic = this.keys.topic(id)
    if (topic !== undefined && (this.handles.has(id) || this.opening.has(id)))
      this.events.emit('doc-keyed', { id, topic })
    const h = this.handles.get(id)
    if (h === undefined) return
    if (replaced) {
      // every session of the document starts over: peers that have not shown the new key stop
      // getting it (a removed member), and one that re-keyed first detached us, so the state we
      // kept for it would wait on an answer that never comes (both silent until someone writes)
      h.peers.detachAll()
    }
    // those whose tags for the key came before we had it start now (the initiator starts; the
    // other side starts when our tag for the new key reaches it, see peerInterested)
    this.attachProven(h)
  }

  /** Starts syncing a document with the peers that proved its key (this side starting). */
  private attachProven(h: DocHandle): void {
    for (const peer of this.proofs.peers())
      if (peer.initiator && this.proofs.has(peer, h.id)) this.attach(h, peer)
  }

  get(id: DocId): DocHandle | undefined {
    return this.handles.get(id)
  }

  openDocs(): DocHandle[] {
    return [...this.handles.values()]
  }

  async list(): Promise<DocMeta[]> {
    await this.meta.loaded
    return this.meta.all()
  }

  /** The records of the documents this tab knows, as loaded so far (newest first). */
  knownDocs(): DocMeta[] {
    return this.meta.all()
  }

  /** One document's record, as loaded so far. */
  record(id: DocId): DocMeta | undefined {
    return this.meta.get(id)
  }

  async close(id: DocId): Promise<void> {
    const h = this.handles.get(id)
    if (h === undefined) return
    await h
      .whenSaved()
      .catch((e: unknown) => log.warn(`closing ${id} with unsaved changes: ${describeError(e)}`))
    this.handles.delete(id)
    this.served.delete(id)
    h.close()
    this.events.emit('doc-closed', id)
  }

  /**
   * Resolves when every change made so far is on disk with its signatures, and so are the
   * documents' records (the "waiting" counts) and cached views; rejects if a write failed (the
   * writes are kept and retried).
   */
  async flushAll(): Promise<void> {
    await Promise.all([
      ...[...this.handles.values()].map((h) => h.whenSaved()),
      this.opts.views?.flush(),
      this.meta.writeAll(),
    ])
  }

  /** Closes every document (their changes saved) and writes the pending document records. */
  async shutdown(): Promise<void> {
    for (const id of [...this.handles.keys()]) await this.close(id)
    await this.meta.writeAll()
    this.unsubscribeBus?.()
  }

  /**
   * Another tab of this profile went away: what it stored in its last moments may never have
   * reached this tab over the tab bus. Every open document reads the chunks it does not know.
   */
  async catchUp(): Promise<void> {
    await Promise.all([...this.opening.values()].map((p) => p.catch(() => undefined)))
    const found = await Promise.all(
      [...this.handles.values()].map((h) =>
        h.catchUp().catch((e: unknown) => {
          log.warn(`catching up on ${h.id} from disk: ${describeError(e)}`)
          return 0
        }),
      ),
    )
    const n = found.reduce((a, b) => a + b, 0)
    if (n > 0) log.info(`${n} chunk(s) another tab stored as it went away`)
  }

  /**
   * The page is going away (`pagehide`, hidden, frozen): no later task may run. Commits and
   * signs pending edits, tells the peers and the other tabs, and hands every write still waiting
   * (changes, signatures, document records, views) to the disk in one batch that does not wait
   * for its turn. What a resolved `set` did survives a reload or a closed tab.
   */
  flushNow(): void {
    const byHandle = [...this.handles.values()].map((h) => [h, h.flushNow()] as const)
    void this.opts.views?.flush()
    this.meta.writeDirty()
    const batchNow = this.opts.storage.batchNow?.bind(this.opts.storage)
    if (batchNow === undefined) return
    const ops = byHandle.flatMap(([, o]) => o)
    batchNow(ops).then(
      () => {
        for (const [h, o] of byHandle) h.storedNow(o)
      },
      (e: unknown) =>
        log.error(`the last write before the page went away failed: ${describeError(e)}`),
    )
  }

  /**
   * Nothing loads the document until `until` settles (either way): a share link's space must
   * govern the document before it loads, since its rules are decided then. A document already
   * open, or loading past its holds, is not stopped: `openedPastHolds` tells the caller.
   */
  holdOpening(id: DocId, until: Promise<unknown>): void {
    const settled = until.then(
      () => undefined,
      () => undefined,
    )
    const prev = this.holds.get(id)
    const hold = prev === undefined ? settled : Promise.all([prev, settled])
    this.holds.set(id, hold)
    void hold.then(() => {
      if (this.holds.get(id) === hold) this.holds.delete(id)
    })
  }

  /** The document as open, or as it will be once a load that passed its holds ends. */
  async openedPastHolds(id: DocId): Promise<DocHandle | undefined> {
    const open = this.handles.get(id)
    if (open !== undefined || !this.pastHolds.has(id)) return open
    return this.opening.get(id)?.catch(() => undefined)
  }

  private async load(id: DocId): Promise<DocHandle> {
    const store = new DocStore(this.opts.storage, id)
    // (a hold placed while this waits is waited for too)
    for (let hold = this.holds.get(id), last; hold !== undefined && hold !== last;) {
      await hold
      last = hold
      hold = this.holds.get(id)
    }
    this.pastHolds.add(id)
    const governance = await this.opts.governance?.(id)
    const [{ doc, sigs }] = await Promise.all([loadReplica(store), this.meta.loaded])
    const existing = this.handles.get(id)
    if (existing !== undefined) {
      doc.free()
      return existing
    }
    const m = this.meta.get(id)
    const handle = new DocHandle(id, doc, store, {
      tabId: this.opts.tabId,
      bus: this.opts.bus,
      unsynced: m?.unsynced ?? 0,
      ...(this.opts.presenceTiming === undefined
        ? {}
        : { presenceTiming: this.opts.presenceTiming }),
      ...(m?.confirmedAt !== undefined && m.confirmedWith !== undefined && m.confirmedHeads
        ? { confirmation: { at: m.confirmedAt, with: m.confirmedWith, heads: m.confirmedHeads } }
        : {}),
      ...(governance !== undefined
        ? { governance, sigs, equivocations: this.equivocations }
        : {
            sigs,
            writes: {
              key: () => this.keys.writeKey(id),
              isWriter: (peer) => this.proofs.isWriter(peer, id),
            },
          }),
    })
    this.connect(handle, store)
    this.handles.set(id, handle)
    // peers that announced this document earlier: the initiating side starts now
    this.attachProven(handle)
    // a free document made here before documents had keys gets one, so its maker can share it
    // (whoever had it by id needs the new link)
    if (m?.created === true && governance === undefined && !this.keys.has(id)) {
      await this.keys.loaded
      if (!this.keys.has(id)) await this.giveKeys(id)
    }
    await this.meta.touch(id)
    this.opts.views
      ?.opened(handle)
      .catch((e: unknown) => log.warn(`view of ${id}: ${describeError(e)}`))
    this.events.emit('doc-opened', handle)
    return handle
  }

  /** Connects a new handle's events and its store to the repo's meta, the tab bus and views. */
  private connect(handle: DocHandle, store: DocStore): void {
    const id = handle.id
    const { bus, tabId, views } = this.opts
    handle.events.on('status', () => this.events.emit('doc-status', id))
    handle.events.on('changed', (h) => views?.changed(h))
    handle.events.on('unsynced', (n) => this.meta.update(id, { unsynced: n }))
    // lists show documents by their title: kept in the record, so they need not open each one
    handle.subscribe(['title'], (t) => {
      if (typeof t === 'string' && t !== this.meta.get(id)?.title)
        this.meta.update(id, { title: t })
    })
    handle.events.on('confirmed', (c) =>
      this.meta.update(id, { confirmedAt: c.at, confirmedWith: c.with, confirmedHeads: c.heads }),
    )
    handle.events.on('synced', (peer) =>
      this.meta.update(id, {
        lastSyncAt: Date.now(),
        lastSyncWith: peer.identity ?? peer.remotePeer,
      }),
    )
    store.onStatus = () => this.events.emit('doc-status', id)
    // other tabs of the profile hear of a chunk once it is stored, with the signatures stored
    // in the same batch
    store.onSaved = (data, sigs) =>
      bus?.post({ t: 'chunk', doc: id, data, from: tabId, ...(sigs.length > 0 ? { sigs } : {}) })
  }

  // ---- other tabs ----------------------------------------------------------------------------

  private onTabMessage(m: TabMessage): void {
    if (m.from === this.opts.tabId) return
    if (m.t === 'chunk') this.handles.get(m.doc)?.receiveTabChunk(m.data, m.sigs, m.unstored)
    else if (m.t === 'doc-created') {
      this.meta.reload()
    } else if (m.t === 'doc-key') this.keys.reload()
  }

  // ---- remote peers --------------------------------------------------------------------------

  addPeer(peer: SyncPeer): void {
    this.peers.add(peer)
  }

  removePeer(peer: SyncPeer): void {
    this.peers.delete(peer)
    this.proofs.forget(peer)
    for (const h of this.handles.values()) h.peers.detach(peer)
  }

  /** The documents open (or opening) in this tab. */
  openDocIds(): DocId[] {
    return [...new Set([...this.handles.keys(), ...this.opening.keys()])]
  }

  /**
   * Topics of the documents open (or opening) in this tab that it holds keys for: what discovery
   * asks the relay.
   */
  openTopics(): Uint8Array[] {
    return this.openDocIds().flatMap((id) => this.keys.topic(id) ?? [])
  }

  /** The tags this tab shows a peer for these documents (those it holds keys for). */
  interestTags(peer: SyncPeer, ids: readonly DocId[]): Uint8Array[] {
    const [from, to] = [peer.localPeer, peer.remotePeer]
    return ids.flatMap((id) =>
      [this.keys.interestTag(id, from, to), this.keys.writeTag(id, from, to)].filter(
        (t) => t !== undefined,
      ),
    )
  }

  /** Starts syncing a document with a peer, after showing it that we hold the key too. */
  private attach(handle: DocHandle, peer: SyncPeer): void {
    peer.sendInterest([handle.id])
    handle.attachPeer(peer)
  }

  /**
   * A peer has these documents open and holds their keys: start syncing the ones we have (open
   * or stored). The tags are recorded before anything else, so a SYNC that follows them on the
   * stream finds its document proven.
   */
  async peerInterested(peer: SyncPeer, tags: readonly Uint8Array[]): Promise<void> {
    if (!this.peers.has(peer)) return
    const hexes = this.proofs.record(peer, tags)
    await this.keys.loaded
    if (!this.peers.has(peer)) return
    // the documents these tags prove, at once: a SYNC read after them waits for the same load
    const ids = this.proofs.match(peer, hexes)
    await this.meta.loaded
    for (const id of ids) {
      if (!this.peers.has(peer)) return // gone while a document was being served
      const announced = this.handles.has(id) || this.opening.has(id)
      if (announced && !peer.initiator) continue // the other side starts; we answer its first message
      const h = this.handles.get(id) ?? (await this.serve(id))
      if (h !== undefined && this.peers.has(peer)) this.attach(h, peer)
    }
  }

  /**
   * A sync message for a document. Ignored unless the peer showed it holds the document's key
   * (and we do): holding the id alone gets nothing, not even whether we have the document.
   */
  async receiveSync(
    peer: SyncPeer,
    id: DocId,
    msg: DecodedSyncMessage,
    sigs = SignatureList.EMPTY,
  ): Promise<void> {
    await this.keys.loaded
    if (!this.proofs.has(peer, id)) {
      log.debug(
        `ignoring sync from ${peer.remotePeer.slice(-8)} for a document it has not shown a key for`,
      )
      return
    }
    let h = this.handles.get(id) ?? (await this.opening.get(id))
    if (h === undefined && this.meta.has(id)) h = await this.serve(id)
    if (h === undefined) {
      log.debug(`ignoring sync for a document we do not have (${id.slice(0, 6)}…)`)
      return
    }
    if (this.peers.has(peer)) h.receiveSync(peer, msg, sigs)
  }

  /**
   * A peer says where it is in a document. Taken only from a peer that showed it holds the
   * document's key, and only for a document open here; everything else is dropped unanswered.
   */
  async receivePresence(peer: SyncPeer, id: DocId, state: PresenceState): Promise<void> {
    await this.keys.loaded
    if (!this.peers.has(peer) || !this.proofs.has(peer, id)) return
    this.handles.get(id)?.presence.receive(peer, state)
  }

  generateSyncMessage(
    peer: SyncPeer,
    id: DocId,
  ): { message: Uint8Array; sigs: ChangeSignature[] } | null {
    const h = this.handles.get(id)
    const message = h?.generateSyncMessage(peer) ?? null
    if (h === undefined || message === null) return null
    return { message, sigs: h.peers.sigsFor(message, peer) }
  }

  private async serve(id: DocId): Promise<DocHandle | undefined> {
    if (this.served.size >= (this.opts.maxServedDocs ?? 64) && !this.handles.has(id)) {
      log.warn(`not serving ${id.slice(0, 6)}…: already serving ${this.served.size} documents`)
      return undefined
    }
    const opening = !this.handles.has(id) && !this.opening.has(id)
    const h = await this.open(id)
    if (opening) this.served.add(id)
    return h
  }
}
