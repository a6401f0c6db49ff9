/**
 * Boot of a tab's peer in two stages, ordered for speed:
 *   local  the repo over IndexedDB, usable as soon as the Automerge wasm is in: documents load and
 *          the state API answers without waiting for the identity or the network;
 *   full   identity, libp2p and the relay link (`window.orrery.ready`).
 * The network starts at once (a fresh tab key needs nothing from disk) while the wasm and the
 * profile load in parallel; the document in the address bar starts opening immediately so its
 * topic reaches the relay as soon as the link is up. The shell painted before any of this.
 */
import { randomBytes, toBase58 } from '../core/bytes'
import { transportOf } from '../core/connections'
import { describeError } from '../core/errors'
import { createLogger } from '../core/log'
import type { OrreryPeer } from '../core/peer'
import { PeerListStore } from '../core/firewall/peer-lists'
import { Pulse } from '../core/pulse'
import { Repo } from '../core/repo/repo'
import { Spaces } from '../core/spaces/manager'
import { CoalescingStorage } from '../core/storage/coalescing'
import { ViewCache } from '../core/storage/view-cache'
import type { Identity } from '../core/identity'
import { BroadcastTabBus, type TabBus } from '../core/tabs/bus'
import { mark } from '../core/timings'
import { loadAutomergeWeb } from './automerge-web'
import { parseDocLink } from './links'
import { applyLinkKeys } from '../core/link-keys'
import { keepWritesAtPageEnd } from './page-end'
import { watchSiblingTabs } from './tab-lifetimes'
import { OrreryDb } from './db'
import { DexieStorageAdapter } from './dexie-storage'
import { loadOrCreateProfile } from './identity-store'
import { createBrowserPeer, firstSight, readRelayInfo, relayAddress, RelayLink } from './network'
import { DexieBlockStore } from './dexie-blocks'
import { AppInstaller } from './apps/installer'
import { AppDocs } from './apps/app-docs'
import { ServiceWorkerLink } from './service-worker'
import { AppFollows } from './apps/follows'

const log = createLogger('boot')

/** the latest the service worker registers (ms after boot began) */
const SW_AFTER_MS = 4_000

export interface LocalPeer {
  repo: Repo
  spaces: Spaces
  db: OrreryDb
  bus: TabBus
}

export interface Booted extends LocalPeer {
  peer: OrreryPeer
  blocks: DexieBlockStore
  installer: AppInstaller
  follows: AppFollows
  appDocs: AppDocs
  sw: ServiceWorkerLink
  relay: RelayLink
  pulse: Pulse
  profileId: string
  /** the deny and allow lists, kept in the profile */
  peerLists: PeerListStore
}

export type BootReporter = (step: string, done: number, total: number) => void

export interface BootStages {
  /** documents' cached views: shown before Automerge has loaded */
  views?: ViewCache
  local: Promise<LocalPeer>
  full: Promise<Booted>
}

export function boot(report: BootReporter): BootStages {
  const total = 4
  let done = 0
  const finished = <T>(what: string, p: Promise<T>): Promise<T> =>
    p.then((v) => {
      mark(what)
      report(`loaded ${what}`, ++done, total)
      return v
    })
  report('starting', done, total)
  const db = new OrreryDb()
  // every write of one turn of the event loop in one IndexedDB transaction
  const storage = new CoalescingStorage(new DexieStorageAdapter(db))
  const views = new ViewCache(storage)
  // BroadcastChannel is scoped to the browser profile already: every tab of it hears this one.
  const bus = new BroadcastTabBus('orrery-tabs')
  let identity: Identity | undefined
  // The repo asks for a document's governance lazily; spaces needs the repo, hence the late binding.
  const late: { spaces?: Spaces } = {}
  const repo = new Repo({
    storage,
    bus,
    tabId: toBase58(randomBytes(8)),
    views,
    governance: (id) => late.spaces?.governanceFor(id),
  })
  let peerId: string | undefined
  const spaces = new Spaces({ repo, storage, identity: () => identity, peerId: () => peerId })
  late.spaces = spaces
  keepWritesAtPageEnd(repo)
  watchSiblingTabs(repo, bus)
  const linked = parseDocLink(location.hash)
  // the link's document asked of the mirror now: its envelopes arrive while the rest loads
  const prefetch = firstSight(linked)
  if (linked !== undefined) {
    // the link's keys (and its space, whose rules apply before the document loads) and the
    // document: at once, so its topic reaches the relay as soon as the link is up; a document
    // without a space need not wait for its key to be stored (it is announced once it is known)
    mark('link-keys-start')
    const off = repo.events.on('doc-keyed', ({ id }) => {
      if (id !== linked.docId) return
      mark('link-doc-keyed')
      off()
    })
    const keyed = applyLinkKeys(repo, spaces, linked.docId, linked).then(
      () => mark('link-keys-stored'),
      (e: unknown) => log.warn(`the link's keys: ${describeError(e)}`),
    )
    const open = (): void => void repo.open(linked.docId).catch(() => undefined)
    if (linked.space === undefined) open()
    else void keyed.then(open)
  }
  // A link that comes later (pasted into the shell, typed in the address bar) applies as the
  // hash changes, before any code of the page can open its document without its space's rules
  // (the document's editor applies it too, and shows what went wrong).
  addEventListener('hashchange', () => {
    const later = parseDocLink(location.hash)
    if (later?.space === undefined) return
    applyLinkKeys(repo, spaces, later.docId, later).catch((e: unknown) =>
      log.warn(`the link's keys: ${describeError(e)}`),
    )
  })
  const wasm = finished('wasm', loadAutomergeWeb())
  const local = wasm.then(() => ({ repo, db, bus, spaces }))
  const profile = finished('profile', loadOrCreateProfile(db))
  profile.then(
    (p) => (identity = p.identity),
    () => undefined,
  )
  // the worker registers once the page has its first direct connection (or SW_AFTER_MS after
  // boot began), at once when the page opens an app; service-worker.ts says why
  let swGate: () => void = () => undefined
  const swAfter = /^#\/(app|join|dev)\//.test(location.hash)
    ? Promise.resolve()
    : new Promise<void>((resolve) => {
        swGate = resolve
        setTimeout(resolve, SW_AFTER_MS)
      })
  const sw = new ServiceWorkerLink(() => repo.flushAll(), swAfter)
  const blocks = new DexieBlockStore(db)

  const full = (async (): Promise<Booted> => {
    const relayInfo = await finished('relay-info', readRelayInfo())
    const peer = await createBrowserPeer({
      repo,
      identity: profile.then((p) => p.identity),
      profileId: profile.then((p) => p.profileId),
      storage,
      bus,
      relay: relayInfo,
      blocks,
      spaces,
      ...(prefetch === undefined ? {} : { prefetch }),
    })
    peerId = peer.id
    // the profile's deny and allow lists apply before the first connection; a change made in
    // one tab reaches the profile's other tabs at once
    const listsChannel =
      typeof BroadcastChannel === 'undefined'
        ? undefined
        : new BroadcastChannel('orrery-peer-lists')
    const peerLists = new PeerListStore(storage, peer.firewall, () =>
      listsChannel?.postMessage('saved'),
    )
    if (listsChannel !== undefined) listsChannel.onmessage = () => void peerLists.reload()
    await peerLists.ready
    mark('libp2p-started')
    report('connecting', ++done, total)
    peer.node.addEventListener('connection:open', (e) => {
      if (transportOf(e.detail) === 'webrtc') swGate()
    })
    const relay = new RelayLink(peer, relayAddress(relayInfo), relayInfo.peerId)
    relay.start()
    const pulse = new Pulse(peer.node as never)
    pulse.start()
    const installer = new AppInstaller(peer, blocks, () =>
      relay.state === 'connected' ? relayInfo.peerId : undefined,
    )
    installer.announceInstalled().catch(() => undefined)
    const follows = new AppFollows(db, peer, installer)
    await follows.start()
    const [p] = await Promise.all([profile, wasm])
    log.info(`tab ${peer.id} of ${p.identity.id}`)
    return {
      peer,
      db,
      bus,
      repo,
      spaces,
      relay,
      pulse,
      profileId: p.profileId,
      peerLists,
      blocks,
      installer,
      follows,
      appDocs: new AppDocs(db),
      sw,
    }
  })()
  return { views, local, full }
}
