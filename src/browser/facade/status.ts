/**
 * The peer's status as the top bar shows it (`window.orrery.status()`, the `status` event): the
 * relay link, peers, changes not saved or not confirmed, storage used. Status changes come in
 * bursts (every flush saves); the UI needs a few per second, and reading a status touches
 * Automerge, so it is read and announced once per burst (with the documents whose status changed
 * in it), not once per change.
 */
import type { DocStatus } from '../../core/repo/doc-handle'
import type { Booted } from '../boot'
import type { FacadeCore, PeerStatus } from './types'

export class StatusReporter {
  private queued = false
  private readonly changedDocs = new Set<string>()
  private storage: PeerStatus['storage']

  constructor(
    private readonly core: Pick<FacadeCore, 'booted' | 'loaded'>,
    private readonly emit: { status(s: PeerStatus): void; doc(s: DocStatus): void },
  ) {}

  status(): PeerStatus {
    const b = this.core.booted()
    const online = typeof navigator === 'undefined' ? true : navigator.onLine
    const sync = this.core.loaded()?.docStates.summary() ?? { waiting: 0, docs: {} }
    if (b === undefined)
      return {
        relay: 'connecting',
        online,
        peers: 0,
        otherVersions: 0,
        unsaved: 0,
        unsynced: sync.waiting,
        sync,
        saveError: undefined,
      }
    const docs = b.peer.repo.openDocs().map((h) => h.status())
    const peers = b.peer.node.services.sync.list().filter((s) => s.isOpen).length
    return {
      relay: b.relay.state,
      // the browser's flag says "no network interface"; a reachable relay or peer says otherwise
      online: online || b.relay.state === 'connected' || peers > 0,
      peers,
      otherVersions: b.peer.versions.peers().length,
      unsaved: docs.reduce((n, d) => n + d.unsaved, 0),
      unsynced: sync.waiting,
      sync,
      ...(this.storage ? { storage: this.storage } : {}),
      saveError: docs.find((d) => d.saveError !== undefined)?.saveError,
    }
  }

  /** Something in the status changed: it is announced once the burst is over. */
  readonly changed = (): void => {
    if (this.queued) return
    this.queued = true
    setTimeout(() => {
      this.queued = false
      const b = this.core.booted()
      for (const id of this.changedDocs) {
        const h = b?.peer.repo.get(id)
        if (h !== undefined && !h.isClosed) this.emit.doc(h.status())
      }
      this.changedDocs.clear()
      this.emit.status(this.status())
    }, 50)
  }

  /** Announces the status when the booted peer's relay link, connections or documents change. */
  watch(b: Booted): void {
    b.relay.events.on('state', this.changed)
    b.peer.repo.events.on('doc-status', (id) => {
      this.changedDocs.add(id)
      this.changed()
    })
    b.peer.node.addEventListener('connection:open', this.changed)
    b.peer.node.addEventListener('connection:close', this.changed)
    b.peer.versions.events.on('changed', this.changed)
    globalThis.addEventListener?.('online', this.changed)
    globalThis.addEventListener?.('offline', this.changed)
    void this.askPersistence().then(this.changed)
    setInterval(() => void this.refreshStorage().then(this.changed), 30_000)
  }

  /**
   * Asks the browser to keep this origin's data when space runs low (granted to installed apps and
   * engaged sites) and reads how much space is used.
   */
  private async askPersistence(): Promise<void> {
    const s = typeof navigator === 'undefined' ? undefined : navigator.storage
    if (s === undefined) return
    try {
      if (!(await s.persisted())) await s.persist()
    } catch {
      // not granted: the data stays, but the browser may evict it under pressure
    }
    await this.refreshStorage()
  }

  private async refreshStorage(): Promise<void> {
    const s = typeof navigator === 'undefined' ? undefined : navigator.storage
    if (s === undefined) return
    try {
      const [estimate, persisted] = await Promise.all([s.estimate(), s.persisted()])
      this.storage = { usage: estimate.usage ?? 0, quota: estimate.quota ?? 0, persisted }
    } catch {
      // estimate unavailable
    }
  }
}
