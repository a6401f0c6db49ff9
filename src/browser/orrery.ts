/**
 * `window.orrery`: the automation surface that end-to-end tests, the benchmark, power users in the
 * console and the shell UI itself all use. It exists from the first script on. Documents and the
 * state API work as soon as the local store is up (before the network and the identity);
 * identity and connections wait for `ready`. Documented in the README; keep stable.
 */
import { describeConnections, type ConnectionInfo } from '../core/connections'
import { Emitter } from '../core/emitter'
import { describeError, OrreryError } from '../core/errors'
import { exportFile, exportPhrase, importIdentity } from '../core/identity'
import type { DocMeta } from '../core/repo/repo'
import { mark, timings } from '../core/timings'
import type { DocStatus } from '../core/repo/doc-handle'
import type { DocSyncState, SyncSummary } from '../core/repo/doc-state'
import { DocStates, peerNetwork, watchNetwork } from '../core/doc-states'
import type { Unsubscribe } from '../core/state'
import { parsePath } from '../core/paths'
import { pick, sameHeads, type ViewCache } from '../core/storage/view-cache'
import { StateApi } from '../core/state'
import { SubscriptionTree } from '../core/subscriptions'
import type { FirewallConfig, FirewallPeerStats } from '../core/firewall/firewall'
import type { PeerLists } from '../core/firewall/peer-lists'
import type { Equivocation } from '../core/repo/equivocation'
import { roleOf, type Role, type SpaceState } from '../core/spaces/model'
import type { InboxEntry, OutboxEntry } from '../core/outbox/store'
import type { JsonValue } from '../core/values'
import type { AppManifest, StoreUsage } from '../core/blocks/types'
import type { InstallProgress } from './apps/installer'
import { scopedApi } from './apps/scoped-api'
import type { Follow, Refusal, Release } from './apps/follows'
import { takeReloadReasons } from './ui/define'
import { reloadBecause } from './dev'
import type { AppApi, AppElement } from '../core/apps/api'
import type { Booted, BootStages, LocalPeer } from './boot'
import type { RelayState } from './network'
import { replaceIdentity } from './identity-store'

export interface BootProgress {
  step: string
  done: number
  total: number
  error?: string
}

export interface PeerStatus {
  relay: RelayState
  online: boolean
  /** remote tabs we sync with over direct connections */
  peers: number
  /** connected peers that run another version of Orrery (`connections()` names them) */
  otherVersions: number
  /** changes made here that are not on disk yet */
  unsaved: number
  /** changes made here that no peer has confirmed yet ("N changes waiting"), in every document
   * this tab knows: the sum of the document list's counts */
  unsynced: number
  /** that count again, and the open documents by sync state (what "all synced" may claim) */
  sync: SyncSummary
  /** bytes this origin uses and may use (navigator.storage.estimate), when known */
  storage?: { usage: number; quota: number; persisted: boolean }
  saveError: string | undefined
}

export interface OrreryEvents extends Record<string, unknown> {
  boot: BootProgress
  status: PeerStatus
  docs: undefined
  doc: DocStatus
  /** one document's sync state changed (see docs.state) */
  'doc-state': DocSyncState
  /** install prompt or update availability changed */
  pwa: undefined
  /** the outbox or the inbox changed */
  messages: undefined
  /** a followed app has a new version installed (the app host swaps it in unless pinned) */
  release: Release
  /** a version of a followed app was refused (not signed by the followed key, or damaged) */
  refused: Refusal
  /** the list of followed apps changed */
  follows: undefined
}

export interface SpaceSummary {
  id: string
  name: string
  members: { id: string; role: Role; name?: string }[]
  removed: string[]
  docs: string[]
}

function tryParsePath(path: string): { docId: string; keys: readonly string[] } | undefined {
  try {
    return parsePath(path)
  } catch {
    return undefined
  }
}

function summarize(s: SpaceState): SpaceSummary {
  return {
    id: s.id,
    name: s.name,
    members: [...s.members]
      .filter(([id]) => !s.removed.has(id))
      .map(([id, m]) => ({ id, role: m.role, ...(m.name !== undefined ? { name: m.name } : {}) })),
    removed: [...s.removed.keys()],
    docs: [...s.docs.keys()],
  }
}

type Local = {
  repo: LocalPeer['repo']
  state: StateApi
  spaces: LocalPeer['spaces']
  docStates: DocStates
}

/** A document this tab knows, with its count of changes waiting and, when open, its state. */
export interface DocListEntry extends DocMeta {
  /** local changes no peer has confirmed (the count the top bar sums) */
  waiting: number
  /** its sync state, when it is open in this tab */
  state?: DocSyncState
}

export class OrreryApi {
  readonly events = new Emitter<OrreryEvents>()
  boot: BootProgress = { step: 'loading', done: 0, total: 1 }
  /** this tab's libp2p peer id ('' until ready) */
  id = ''
  readonly ready: Promise<void>
  private b: Booted | undefined
  private readonly localReady: Promise<Local>
  /** documents' cached views, readable before Automerge has loaded */
  private readonly views: ViewCache | undefined
  private l: Local | undefined

  constructor(start: (api: OrreryApi) => BootStages) {
    globalThis.addEventListener?.('beforeinstallprompt', (e) => {
      e.preventDefault() // the shell offers its own Install button
      this.installEvent = e as OrreryApi['installEvent']
      this.events.emit('pwa', undefined)
    })
    globalThis.addEventListener?.('appinstalled', () => {
      this.installEvent = undefined
      this.events.emit('pwa', undefined)
    })
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
        this.boot = { ...this.boot, error: describeError(e) }
        this.events.emit('boot', this.boot)
        throw e
      },
    )
    this.ready.catch(() => undefined) // reported through `boot`; awaiting callers still see it
  }

  reportBoot(step: string, done: number, total: number): void {
    this.boot = { step, done, total }
    this.events.emit('boot', this.boot)
  }

  private async local(): Promise<Local> {
    return this.l ?? (await this.localReady)
  }

  private async up(): Promise<Booted> {
    await this.ready
    if (this.b === undefined) throw new OrreryError('NOT_READY', 'the peer did not start')
    return this.b
  }

  private statusQueued = false
  private installEvent:
    (Event & { prompt(): Promise<void>; userChoice: Promise<{ outcome: string }> }) | undefined
  private storage: PeerStatus['storage']

  private wire(b: Booted): void {
    // Status changes come in bursts (every flush saves); the UI needs a few per second, and
    // reading a status touches Automerge, so it is read once per burst, not once per change.
    const changedDocs = new Set<string>()
    const emitStatus = (): void => {
      if (this.statusQueued) return
      this.statusQueued = true
      setTimeout(() => {
        this.statusQueued = false
        for (const id of changedDocs) {
          const h = b.peer.repo.get(id)
          if (h !== undefined && !h.isClosed) this.events.emit('doc', h.status())
        }
        changedDocs.clear()
        this.events.emit('status', this.status())
      }, 50)
    }
    b.relay.events.on('state', emitStatus)
    // sync states read the relay link, the discovery topics and the sync sessions from now on
    void this.localReady.then(
      ({ docStates }) => {
        docStates.useNetwork(peerNetwork(b.peer, () => b.relay.state))
        watchNetwork(b.peer, docStates)
        b.relay.events.on('state', () => docStates.networkChanged())
        docStates.events.on('summary', emitStatus)
      },
      () => undefined,
    )
    b.peer.repo.events.on('doc-status', (id) => {
      changedDocs.add(id)
      emitStatus()
    })
    // the list's records change with every "waiting" / "synced" flip: a few redraws per second
    let docsQueued = false
    b.peer.repo.events.on('docs-changed', () => {
      if (docsQueued) return
      docsQueued = true
      setTimeout(() => {
        docsQueued = false
        this.events.emit('docs', undefined)
      }, 100)
    })
    b.peer.node.addEventListener('connection:open', emitStatus)
    b.peer.node.addEventListener('connection:close', emitStatus)
    b.peer.versions.events.on('changed', emitStatus)
    globalThis.addEventListener?.('online', emitStatus)
    globalThis.addEventListener?.('offline', emitStatus)
    void this.askPersistence().then(emitStatus)
    b.sw.events.on('update', () => this.events.emit('pwa', undefined))
    b.follows.events.on('release', (r) => this.events.emit('release', r))
    b.follows.events.on('refused', (r) => this.events.emit('refused', r))
    b.follows.events.on('changed', () => this.events.emit('follows', undefined))
    const outbox = b.peer.node.services.outbox
    outbox.outbox.events.on('changed', () => this.events.emit('messages', undefined))
    outbox.inbox.events.on('message', () => this.events.emit('messages', undefined))
    setInterval(() => void this.refreshStorage().then(emitStatus), 30_000)
    b.bus.subscribe((m) => {
      if (m.t === 'identity-changed') location.reload()
    })
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
    create: async (): Promise<string> => (await (await this.local()).repo.create()).id,
    /**
     * Opens a document. `space`: the space it belongs to (a share link names it), whose rules
     * then apply before it loads, as for a member (see Spaces.follow).
     */
    open: async (id: string, opts: { space?: string } = {}): Promise<void> => {
      const l = await this.local()
      if (opts.space !== undefined) await l.spaces.follow(opts.space, id)
      await l.repo.open(id)
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
    subscribe: (path: string, cb: (value: unknown) => void): Unsubscribe => {
      if (this.l !== undefined) return this.l.state.subscribe(path, cb)
      // Automerge is still loading: the document's cached view first, if there is one, then the
      // live value (not again when the document has not changed since the view was cached)
      let off: Unsubscribe | undefined
      let cancelled = false
      let live = false // the live subscription has delivered its first value
      let shown: string[] | undefined
      const parsed = tryParsePath(path)
      if (parsed !== undefined && this.views !== undefined) {
        this.views.read(parsed.docId).then(
          (v) => {
            if (v === undefined || cancelled || live) return
            mark('cached-view')
            shown = v.heads
            SubscriptionTree.call(cb, pick(v.value, parsed.keys)) // a throwing subscriber is logged
          },
          () => undefined,
        )
      }
      this.local().then(
        (l) => {
          if (cancelled) return
          off = l.state.subscribe(path, (value) => {
            live = true
            if (shown !== undefined && parsed !== undefined) {
              const heads = l.repo.get(parsed.docId)?.heads
              const unchanged = heads !== undefined && sameHeads(heads, shown)
              shown = undefined
              if (unchanged) return
            }
            cb(value)
          })
        },
        () => undefined,
      )
      return () => {
        cancelled = true
        off?.()
      }
    },
    flush: async (): Promise<void> => (await this.local()).state.flush(),
  }

  // ---- apps ----------------------------------------------------------------------------------

  readonly apps = {
    /**
     * Fetches (from peers and the seeding relay), verifies and pins an app; returns its manifest.
     * While nobody reachable has it, progress says `phase: 'waiting'` and it keeps trying (until
     * `timeoutMs`, if given, or the signal).
     */
    install: async (
      cid: string,
      onProgress?: (p: InstallProgress) => void,
      opts: { signal?: AbortSignal; timeoutMs?: number } = {},
    ): Promise<AppManifest> =>
      (await this.up()).installer.install(cid, { ...opts, ...(onProgress ? { onProgress } : {}) }),
    /** Imports an installed app (served by the service worker) and returns its root element. */
    mount: async (cid: string, manifest: AppManifest, startDoc?: string): Promise<HTMLElement> => {
      const b = await this.up()
      b.sw.registerNow()
      await Promise.race([
        b.sw.controlled,
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new OrreryError('NOT_READY', 'the service worker is not active')),
            15_000,
          ),
        ),
      ])
      await import(/* @vite-ignore */ `/app/${cid}/${manifest.entry}`)
      // another version of this app ran in this page and cannot be patched to this one in place
      const reasons = takeReloadReasons()
      if (reasons.length > 0) reloadBecause(`${manifest.name}: ${reasons.join('; ')}`)
      await Promise.race([
        customElements.whenDefined(manifest.element),
        new Promise((_, reject) =>
          setTimeout(
            () =>
              reject(
                new OrreryError(
                  'BAD_MANIFEST',
                  `${manifest.entry} did not define <${manifest.element}>`,
                ),
              ),
            10_000,
          ),
        ),
      ])
      const el = document.createElement(manifest.element) as AppElement
      el.orrery = await this.apps.scope(cid, manifest, startDoc)
      return el
    },
    /** The API an app gets (its own documents, spaces, actions; see scoped-api.ts). */
    scope: async (
      cid: string,
      app: Pick<AppManifest, 'name' | 'publisher'>,
      startDoc?: string,
    ): Promise<AppApi> => {
      const b = await this.up()
      return scopedApi({
        cid,
        app,
        orrery: this,
        appDocs: b.appDocs,
        identityId: b.peer.identity.id,
        startDoc,
      })
    },
    /** Installed apps (pinned here) and the apps the relay offers. */
    list: async (): Promise<{
      installed: { name: string; cid: string; pinnedAt: number }[]
      offered: { name: string; version: string; cid: string }[]
    }> => {
      const b = await this.up()
      const installed = (await b.blocks.pins()).map((p) => ({
        name: p.name,
        cid: p.root,
        pinnedAt: p.pinnedAt,
      }))
      let offered: { name: string; version: string; cid: string }[] = []
      try {
        const res = await fetch('/orrery/apps.json', { cache: 'no-cache' })
        if (res.ok) offered = ((await res.json()) as { apps?: typeof offered }).apps ?? []
      } catch {
        // offline: only what is installed
      }
      return { installed, offered }
    },
    uninstall: async (cid: string): Promise<{ removed: number; freedBytes: number }> => {
      const b = await this.up()
      await b.blocks.unpin(cid)
      return b.blocks.gc()
    },
    usage: async (): Promise<StoreUsage> => (await this.up()).blocks.usage(),
    /**
     * Follows an app by its publisher's key and name: each new version signed by that key is
     * installed as it is announced and swapped into the open app (unless a version is pinned).
     */
    follow: async (publisher: string, name: string): Promise<void> =>
      (await this.up()).follows.follow(publisher, name),
    unfollow: async (publisher: string, name: string): Promise<void> =>
      (await this.up()).follows.unfollow(publisher, name),
    /** Keeps `cid` mounted for this followed app; `undefined` follows the newest again. */
    pin: async (publisher: string, name: string, cid: string | undefined): Promise<void> =>
      (await this.up()).follows.pin(publisher, name, cid),
    follows: async (): Promise<Follow[]> => (await this.up()).follows.list(),
    /** Versions refused lately (wrong key, bad signature), newest last. */
    refused: async (): Promise<Refusal[]> => [...(await this.up()).follows.refusals],
    /**
     * Development only: mounts an app from its sources under apps/ (served by Vite, so edits
     * replace its elements in place). Its documents are those of the published app with the same
     * name and the developer's publisher key.
     */
    mountSource: async (name: string, startDoc?: string): Promise<HTMLElement> => {
      const res = await fetch('/orrery/dev.json', { cache: 'no-store' })
      if (!res.ok) throw new OrreryError('NOT_READY', 'apps from source need `npm run dev`')
      const dev = (await res.json()) as {
        apps: { name: string; element: string; entry: string }[]
        publishing?: { publisher: string; versions: { name: string; cid: string }[] }
      }
      const app = dev.apps.find((a) => a.name === name)
      if (app === undefined) throw new OrreryError('INVALID_VALUE', `no app ${name} under apps/`)
      await import(/* @vite-ignore */ app.entry)
      await customElements.whenDefined(app.element)
      const latest = dev.publishing?.versions.filter((v) => v.name === name).at(-1)
      const el = document.createElement(app.element) as AppElement
      el.orrery = await this.apps.scope(
        latest?.cid ?? `dev-${name}`,
        { name, publisher: dev.publishing?.publisher ?? 'development' },
        startDoc,
      )
      return el
    },
  }

  // ---- spaces: members, invites, signed writes ------------------------------------------------

  readonly spaces = {
    /** a new space with this user as its admin */
    create: async (name: string): Promise<string> => (await this.local()).spaces.create(name),
    /** a new document in a space (writers and admins); its changes are signed and checked */
    createDoc: async (spaceId: string): Promise<string> =>
      (await this.local()).spaces.createDoc(spaceId),
    list: async (): Promise<SpaceSummary[]> => (await this.local()).spaces.list().map(summarize),
    get: async (spaceId: string): Promise<SpaceSummary> =>
      summarize((await this.local()).spaces.state(spaceId)),
    /** the space a document belongs to, if any */
    of: async (docId: string): Promise<string | undefined> => {
      const s = (await this.local()).spaces
      await s.ready
      return s.spaceOfDoc(docId)
    },
    /** the space a document belongs to, as far as this tab knows now (no waiting) */
    ofLoaded: (docId: string): string | undefined => this.l?.spaces.spaceOfDoc(docId),
    /** this user's role in the document's space (a space id works too) */
    role: (docId: string): Role | undefined => {
      const s = this.l?.spaces
      const me = this.b?.peer.identity.id
      const space = s?.spaceOfDoc(docId)
      if (s === undefined || me === undefined || space === undefined) return undefined
      return roleOf(s.state(space), me)
    },
    /**
     * An invite link: a newcomer who opens it signs up and joins with `role`, then lands on
     * `open` (an app and/or document) if given. The secret stays in the link's fragment.
     */
    invite: async (
      spaceId: string,
      role: Role,
      opts: { expiresInMs?: number; maxUses?: number; open?: { app?: string; doc?: string } } = {},
    ): Promise<string> => {
      const invite = await (await this.up()).spaces.invite(spaceId, { role, ...opts })
      const app = opts.open?.app === undefined ? '' : `/app/${opts.open.app}`
      const doc = opts.open?.doc === undefined ? '' : `/doc/${opts.open.doc}`
      return `${location.origin}/#/join/${invite}${app}${doc}`
    },
    /**
     * Joins with an invite (the link, or the invite string in it) as `name`; resolves to the
     * space id. While no member is reachable it waits (`onWaiting(spaceId)` once it starts; the
     * space document's `docs.state` then says "unknown") and completes when one comes online;
     * `timeoutMs` or `signal` end the wait. A damaged or expired invite fails at once.
     */
    join: async (
      inviteOrLink: string,
      name?: string,
      opts: {
        timeoutMs?: number
        signal?: AbortSignal
        onWaiting?: (spaceId: string) => void
      } = {},
    ): Promise<string> => {
      const invite = /#\/join\/([^/]+)/.exec(inviteOrLink)?.[1] ?? inviteOrLink
      return (await this.up()).spaces.join(invite, name, opts)
    },
    remove: async (spaceId: string, did: string): Promise<void> =>
      (await this.up()).spaces.remove(spaceId, did),
    revoke: async (spaceId: string, inviteId: string): Promise<void> =>
      (await this.up()).spaces.revoke(spaceId, inviteId),
    /**
     * Authors caught signing two different changes for one (actor, seq) of a space's document,
     * with both signed changes as evidence (all documents, or one), oldest first
     */
    equivocations: async (docId?: string): Promise<Equivocation[]> =>
      (await this.local()).repo.equivocations.list(docId),
  }

  // ---- the firewall: what each remote peer may send --------------------------------------------

  readonly firewall = {
    /** per remote peer: admitted writes and bytes, time throttled, strikes, bans */
    stats: async (): Promise<Record<string, FirewallPeerStats>> =>
      (await this.up()).peer.firewall.stats(),
    config: async (): Promise<FirewallConfig> => (await this.up()).peer.firewall.config,
    /**
     * changes the limits (writes per second, bytes per minute …); deny and allow lists given
     * here are kept in the profile like those of `lists`
     */
    configure: async (changes: Partial<FirewallConfig>): Promise<void> => {
      const b = await this.up()
      const { deny, allow, ...limits } = changes
      b.peer.firewall.configure(limits)
      if (deny !== undefined || 'allow' in changes) {
        const now = b.peerLists.lists()
        const nextAllow = 'allow' in changes ? allow : now.allow
        await b.peerLists.set({
          deny: deny ?? now.deny,
          ...(nextAllow === undefined ? {} : { allow: nextAllow }),
        })
      }
    },
    /** the deny and allow lists (identity did:keys and/or peer ids), kept in this profile */
    lists: async (): Promise<PeerLists> => (await this.up()).peerLists.lists(),
    deny: async (who: string): Promise<void> => (await this.up()).peerLists.deny(who),
    undeny: async (who: string): Promise<void> => (await this.up()).peerLists.undeny(who),
    /** adds to the allow list; with an allow list, only those on it may sync */
    allow: async (who: string): Promise<void> => (await this.up()).peerLists.allow(who),
    unallow: async (who: string): Promise<void> => (await this.up()).peerLists.unallow(who),
    /** allow-list mode on or off (off keeps nothing of the allow list) */
    allowOnly: async (on: boolean): Promise<void> => (await this.up()).peerLists.allowOnly(on),
  }

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

  readonly pwa = {
    /** the browser allows installing Orrery now (it fired beforeinstallprompt) */
    canInstall: (): boolean => this.installEvent !== undefined,
    install: async (): Promise<string> => {
      const e = this.installEvent
      if (e === undefined) return 'unavailable'
      this.installEvent = undefined
      await e.prompt()
      const choice = await e.userChoice
      this.events.emit('pwa', undefined)
      return choice.outcome
    },
    /** a new version is downloaded and waits for the user to switch */
    updateAvailable: (): boolean => this.b?.sw.updateWaiting ?? false,
    /** saves everything, switches to the new version and reloads */
    applyUpdate: async (): Promise<void> => (await this.up()).sw.applyUpdate(),
  }

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
    const b = this.b
    const online = typeof navigator === 'undefined' ? true : navigator.onLine
    const sync = this.l?.docStates.summary() ?? { waiting: 0, docs: {} }
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

  /** Milestones of this page's boot and first sync (ms since navigation start). */
  timings(): Record<string, number> {
    return timings()
  }

  /** The peer's internals, for the shell UI and debugging in the console. */
  get internals(): Booted | undefined {
    return this.b
  }
}
