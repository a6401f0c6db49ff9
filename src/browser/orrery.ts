/**
 * `window.orrery`: the automation surface that end-to-end tests, the benchmark, power users in the
 * console and the shell UI itself all use. It exists from the first script on. Documents and the
 * state API work as soon as the local store is up (before the network and the identity);
 * identity and connections wait for `ready`. Documented in the README; keep stable.
 *
 * This class holds the boot and the smaller parts; the larger ones live in ./facade/ (apps,
 * spaces, the firewall, the status, the install prompt, the events passed on).
 */
import { describeConnections, type ConnectionInfo } from '../core/connections'
import { subscribeCached } from '../core/cached-subscribe'
import { DocStates, peerNetwork, watchNetwork } from '../core/doc-states'
import { Emitter } from '../core/emitter'
import { OrreryError } from '../core/errors'
import { applyLinkKeys, linkKeysOf, type LinkKeys, type LinkOptions } from '../core/link-keys'
import { exportFile, exportPhrase, importIdentity } from '../core/identity'
import type { InboxEntry, OutboxEntry } from '../core/outbox/store'
import type { DocStatus } from '../core/repo/doc-handle'
import type { TextSession } from '../core/repo/doc-text'
import type { DocSyncState } from '../core/repo/doc-state'
import { StateApi, type Unsubscribe } from '../core/state'
import type { ViewCache } from '../core/storage/view-cache'
import { timings } from '../core/timings'
import type { JsonValue } from '../core/values'
import type { Booted, BootStages } from './boot'
import { appsApi } from './facade/apps'
import { BootProgressTracker } from './facade/boot-progress'
import { forwardEvents } from './facade/events'
import { firewallApi } from './facade/firewall'
import { pwaApi } from './facade/pwa'
import { spacesApi } from './facade/spaces'
import { displayName, presenceOf, setDisplayName, type PresenceHandle } from './facade/presence'
import { StatusReporter } from './facade/status'
import type {
  BootProgress,
  DocListEntry,
  FacadeCore,
  Local,
  OrreryEvents,
  PeerStatus,
} from './facade/types'
import { replaceIdentity } from './identity-store'
import { docLinkHash } from './links'
import type { SubscribeOptions } from '../core/subscriptions'

export type {
  BootProgress,
  DocListEntry,
  OrreryEvents,
  PeerStatus,
  SpaceSummary,
} from './facade/types'

export class OrreryApi {
  readonly events = new Emitter<OrreryEvents>()
  /** this tab's libp2p peer id ('' until ready) */
  id = ''
  readonly ready: Promise<void>
  private b: Booted | undefined
  private readonly localReady: Promise<Local>
  /** documents' cached views, readable before Automerge has loaded */
  private readonly views: ViewCache | undefined
  private l: Local | undefined
  private readonly core: FacadeCore = {
    events: this.events,
    up: () => this.up(),
    local: () => this.local(),
    booted: () => this.b,
    loaded: () => this.l,
  }
  private readonly bootProgress = new BootProgressTracker((p) => this.events.emit('boot', p))
  private readonly statusReporter = new StatusReporter(this.core, {
    status: (s) => this.events.emit('status', s),
    doc: (s) => this.events.emit('doc', s),
  })

  constructor(start: (api: OrreryApi) => BootStages) {
    const stages = start(this)
    this.views = stages.views
    this.localReady = stages.local.then((l) => {
      const docStates = new DocStates(l.repo)
      docStates.events.on('state', (s) => this.events.emit('doc-state', s))
      return (this.l = { repo: l.repo, state: new StateApi(l.repo), spaces: l.spaces, docStates })
    })
    this.localReady.catch(() => undefined)
    this.ready = stages.full.then(
      (b) => {
        this.b = b
        this.id = b.peer.id
        this.wire(b)
      },
      (e: unknown) => {
        this.bootProgress.fail(e)
        throw e
      },
    )
    this.ready.catch(() => undefined) // reported through `boot`; awaiting callers still see it
  }

  /** how far the boot is (and why it failed, if it did) */
  get boot(): BootProgress {
    return this.bootProgress.current
  }

  set boot(p: BootProgress) {
    this.bootProgress.current = p
  }

  reportBoot(step: string, done: number, total: number): void {
    this.bootProgress.report(step, done, total)
  }

  private async local(): Promise<Local> {
    return this.l ?? (await this.localReady)
  }

  private async up(): Promise<Booted> {
    await this.ready
    if (this.b === undefined) throw new OrreryError('NOT_READY', 'the peer did not start')
    return this.b
  }

  private wire(b: Booted): void {
    this.statusReporter.watch(b)
    // sync states read the relay link, the discovery topics and the sync sessions from now on
    void this.localReady.then(
      ({ docStates }) => {
        docStates.useNetwork(peerNetwork(b.peer, () => b.relay.state))
        const mirror = b.peer.mirror
        if (mirror !== undefined) {
          docStates.useMirror(mirror)
          // a hidden page may never run again: what the mirror lacks goes up now
          addEventListener('visibilitychange', () => {
            if (document.visibilityState === 'hidden') mirror.uploadNow()
          })
        }
        watchNetwork(b.peer, docStates)
        b.relay.events.on('state', () => docStates.networkChanged())
        docStates.events.on('summary', this.statusReporter.changed)
      },
      () => undefined,
    )
    forwardEvents(b, this.events)
  }

  // ---- identity ------------------------------------------------------------------------------

  readonly identity = {
    id: async (): Promise<string> => (await this.up()).peer.identity.id,
    exportPhrase: async (): Promise<string> => exportPhrase((await this.up()).peer.identity),
    exportFile: async (): Promise<string> => exportFile((await this.up()).peer.identity),
    /**
     * Replaces this profile's identity with an exported one (phrase or file). Everything is
     * checked first: a damaged import rejects with IDENTITY_CORRUPT and changes nothing. On
     * success every tab of the profile reloads with the new identity.
     */
    import: async (text: string): Promise<string> => {
      const b = await this.up()
      const parsed = importIdentity(text)
      if (!parsed.ok) throw parsed.error
      await b.peer.repo.flushAll().catch(() => undefined)
      await replaceIdentity(b.db, parsed.value)
      b.bus.post({ t: 'identity-changed', from: b.peer.repo.tabId })
      setTimeout(() => location.reload(), 50)
      return parsed.value.id
    },
  }

  // ---- documents -----------------------------------------------------------------------------

  readonly docs = {
    /** A new document, with a new read key (its share link carries it). */
    create: async (): Promise<string> => (await (await this.local()).repo.create()).id,
    /**
     * A new page: a document with a `title` and a rich `text` holding one empty paragraph, made
     * here at once so that two people who start typing in it never each make a text of their
     * own (one would hide the other's).
     */
    createPage: async (title = ''): Promise<string> => {
      const handle = await (await this.local()).repo.create()
      handle.write(['title'], title)
      const text = handle.openText(['text'])
      // its first paragraph is a block marker of its own: otherwise each writer who splits the
      // first line makes one, and concurrent splits leave an empty paragraph behind
      text.edit((ops) => ops.splitBlock(0, 'paragraph'))
      text.close()
      return handle.id
    },
    /**
     * An editor's session on the rich text at `path` (keys) of a document: spans, edits as
     * signed changes, and everyone else's changes as patches (src/core/repo/doc-text.ts). Close
     * it when the editor goes.
     */
    text: async (id: string, path: readonly string[] = ['text']): Promise<TextSession> =>
      (await (await this.local()).repo.open(id)).openText(path),
    /**
     * Who else has the document open (people: names, colours, selections) and telling them where
     * this tab is (src/browser/facade/presence.ts). Never written into the document.
     */
    presence: (id: string): Promise<PresenceHandle> => presenceOf(this.core, id),
    /** The name this browser's person goes by where no space's member record names them. */
    displayName: (): string => displayName(),
    setDisplayName: (name: string): void => setDisplayName(name),
    /** Whether this tab may change the document now (its link, its space role), and if not why. */
    writable: async (id: string): Promise<{ ok: boolean; reason?: string }> => {
      const refusal = (await (await this.local()).repo.open(id)).writeRefusal(['title'])
      return refusal === undefined ? { ok: true } : { ok: false, reason: refusal.message }
    },
    /**
     * Opens a document, with what its share link carries (`docs.linkKeys`): its read key (`key`),
     * and for a document of a space the space, whose rules then apply before it loads, as for a
     * member (see Spaces.follow), and its document's read key (`spaceKey`). Without a key it
     * opens only what this browser holds (its sync state says `locked`).
     */
    open: async (id: string, keys: LinkKeys = {}): Promise<void> => {
      const l = await this.local()
      await applyLinkKeys(l.repo, l.spaces, id, keys)
      await l.repo.open(id)
    },
    /**
     * The share link of a document: the URL with its keys in the fragment (never sent anywhere).
     * It lets its holder change the document if this browser may (an edit link); `readOnly`
     * gives a link that only reads a free document (a space's members and roles decide who
     * writes in a space's documents).
     */
    link: async (id: string, opts: LinkOptions = {}): Promise<string> => {
      const l = await this.local()
      await Promise.all([l.repo.keys.loaded, l.spaces.ready])
      return `${location.origin}${location.pathname}${docLinkHash(id, linkKeysOf(l.repo, l.spaces, id, opts))}`
    },
    /** What a link to a document carries, as far as this tab knows yet (synchronous). */
    linkKeys: (id: string, opts: LinkOptions = {}): LinkKeys => {
      const l = this.l
      return l === undefined ? {} : linkKeysOf(l.repo, l.spaces, id, opts)
    },
    close: async (id: string): Promise<void> => (await this.local()).repo.close(id),
    /** the documents this tab knows, newest first, each with its count of changes waiting */
    list: async (): Promise<DocListEntry[]> => {
      const l = await this.local()
      return (await l.repo.list()).map((m) => {
        const state = l.docStates.get(m.id)
        return { ...m, waiting: l.docStates.waiting(m.id), ...(state ? { state } : {}) }
      })
    },
    status: async (id: string): Promise<DocStatus | undefined> =>
      (await this.local()).repo.get(id)?.status(),
    /**
     * A document's sync state (opening it): unknown, loading, offline, waiting, synced or local;
     * see src/core/repo/doc-state.ts.
     */
    state: async (id: string): Promise<DocSyncState> => {
      const l = await this.local()
      await l.repo.open(id)
      const s = l.docStates.get(id)
      if (s === undefined)
        throw new OrreryError('DOC_CLOSED', `document ${id} closed while opening`)
      return s
    },
    /** cb(state) now (once the document is open) and whenever it changes; returns off() */
    onState: (id: string, cb: (state: DocSyncState) => void): Unsubscribe => {
      let live = true
      let off: Unsubscribe | undefined
      this.docs.state(id).then(
        (s) => {
          if (!live) return
          off = this.events.on('doc-state', (x) => x.id === id && cb(x))
          cb(s)
        },
        () => undefined,
      )
      return () => {
        live = false
        off?.()
      }
    },
  }

  // ---- state ---------------------------------------------------------------------------------

  readonly state = {
    get: async (path: string): Promise<unknown> => (await this.local()).state.get(path),
    // the common case stays synchronous up to the write, so a burst of sets lands in one change
    set: async (path: string, value: unknown): Promise<void> =>
      (this.l ?? (await this.local())).state.set(path, value),
    delete: async (path: string): Promise<void> =>
      (this.l ?? (await this.local())).state.delete(path),
    /**
     * cb(value) now and after every change; while Automerge loads, the cached view first.
     * `{ deferred: true }`: values come after the change went out to peers, one for several
     * changes in a row (views; see SubscribeOptions).
     */
    subscribe: (
      path: string,
      cb: (value: unknown) => void,
      opts?: SubscribeOptions,
    ): Unsubscribe =>
      this.l !== undefined
        ? this.l.state.subscribe(path, cb, opts)
        : subscribeCached(path, cb, this.views, this.local(), opts),
    flush: async (): Promise<void> => (await this.local()).state.flush(),
  }

  // ---- apps, spaces, the firewall: see ./facade/ -----------------------------------------------

  readonly apps = appsApi(this.core, this)
  readonly spaces = spacesApi(this.core)
  readonly firewall = firewallApi(this.core)

  // ---- messages to people (the persistent outbox) ----------------------------------------------

  readonly outbox = {
    /** queues a message for a person (did:key); delivered when one of their tabs is reachable */
    send: async (to: string, kind: string, payload: JsonValue): Promise<OutboxEntry> =>
      (await this.up()).peer.node.services.outbox.send(to, kind, payload),
    /** what was sent, queued or delivered */
    list: async (): Promise<OutboxEntry[]> =>
      (await this.up()).peer.node.services.outbox.outbox.list(),
    /** what others sent us, oldest first */
    inbox: async (): Promise<InboxEntry[]> => {
      const inbox = (await this.up()).peer.node.services.outbox.inbox
      await inbox.refresh() // another tab of this profile may have received something
      return inbox.list()
    },
  }

  // ---- installing and updating the app itself -------------------------------------------------

  readonly pwa = pwaApi(this.core)

  // ---- network -------------------------------------------------------------------------------

  /** The mesh's pulse: pings answered, missed and peers dropped since this tab started. */
  pulse(): { answered: number; missed: number; dropped: number } {
    return { ...(this.b?.pulse.totals ?? { answered: 0, missed: 0, dropped: 0 }) }
  }

  async connections(): Promise<ConnectionInfo[]> {
    const b = await this.up()
    return describeConnections(b.peer.node, b.pulse, b.peer.versions)
  }

  status(): PeerStatus {
    return this.statusReporter.status()
  }

  /** Milestones of this page's boot and first sync (ms since navigation start). */
  timings(): Record<string, number> {
    return timings()
  }

  /** The peer's internals, for the shell UI and debugging in the console. */
  get internals(): Booted | undefined {
    return this.b
  }
}
