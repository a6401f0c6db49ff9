/**
 * A full Orrery peer without the browser: identity, repo, state API and a libp2p node with the
 * Orrery services. The browser shell and the in-process tests build peers through this, with
 * their own transports (WebRTC + WebSockets + circuit relay in a tab, memory in tests).
 */
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import type { Connection, ConnectionGater, PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import { randomBytes, toBase58 } from './bytes'
import { transportOf } from './connections'
import { mark, trace } from './timings'
import { type Identity } from './identity'
import { OrreryError } from './errors'
import { Repo } from './repo/repo'
import type { DocId } from './ids'
import { Spaces } from './spaces/manager'
import { Firewall, type FirewallConfig } from './firewall/firewall'
import { StateApi } from './state'
import type { StorageAdapter } from './storage/types'
import { MemoryBlockStore } from './blocks/memory-store'
import { orreryBlocks, type BlockService } from './blocks/service'
import type { BlockStore } from './blocks/types'
import { orrerySync, type SyncService } from './sync/service'
import { issueTabCert, type TabCert } from './tab-cert'
import type { TabBus } from './tabs/bus'
import { discoveryClient, type DiscoveryClient, type DiscoveryClientInit } from './discovery/client'
import { orreryOutbox, type OutboxService } from './outbox/service'
import { orreryReleases, type ReleaseService } from './releases/service'
import { OtherVersions } from './other-versions'
import { VERSIONS, versionTable, type VersionTable } from './wire/versions'
import { MirrorClient } from './mirror/client'
import { MirrorSync, type MirrorSyncOptions } from './mirror/mirror-sync'
import type { MirrorPrefetch } from './mirror/prefetch'
import { freeDocEntry, freeDocRosterId } from './mirror/free-doc'
import { RosterKeeper } from './mirror/roster-keeper'
import type { PresenceTiming } from './presence/doc-presence'

/** a transport as createLibp2p takes it (`webSockets()`, `memory()` …) */
type TransportFactory = NonNullable<Libp2pOptions['transports']>[number]

export interface PeerOptions {
  /** may still be loading: the network starts without it, sync hellos wait for it */
  identity: Identity | Promise<Identity>
  storage: StorageAdapter
  /** one id per browser profile (all tabs share it); tests give each peer its own */
  profileId?: string | Promise<string>
  bus?: TabBus
  privateKey?: PrivateKey
  transports: TransportFactory[]
  listen?: string[]
  connectionGater?: ConnectionGater
  discovery?: DiscoveryClientInit
  /** limits on what each remote peer may send (defaults: see Firewall) */
  firewall?: Partial<FirewallConfig>
  /** an existing repo (the browser creates it before the network, for early local reads) */
  repo?: Repo
  /** the spaces of that repo (give both or neither) */
  spaces?: Spaces
  /** where app blocks are kept (and served from); memory when not given */
  blocks?: BlockStore
  /** the protocol majors spoken, when not this build's (tests play peers of other versions) */
  versions?: Partial<VersionTable>
  /** an always-on mirror to upload documents to and pull them from (none: peers only) */
  mirror?: PeerMirrorOptions
  /** presence's throttle, heartbeat and expiry (tests shorten them) */
  presenceTiming?: PresenceTiming
}

export interface PeerMirrorOptions extends Omit<
  MirrorSyncOptions,
  'repo' | 'storage' | 'identity' | 'client' | 'place'
> {
  /** the mirror's addresses (the relay's, usually) or its peer id once connected */
  address: PeerId | Multiaddr | Multiaddr[]
  /** one request's budget (ms) */
  timeoutMs?: number
  /** reads the page started before the network was up (a link's document): the first pulls */
  prefetch?: MirrorPrefetch
}

/** The services of a peer's libp2p node (`node.services`). */
export interface OrreryServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  sync: SyncService
  discovery: DiscoveryClient
  blocks: BlockService
  outbox: OutboxService
  releases: ReleaseService
}

export class OrreryPeer {
  readonly state: StateApi
  private loadedIdentity: Identity | undefined
  readonly identityReady: Promise<Identity>
  constructor(
    readonly node: Libp2p<OrreryServices>,
    readonly repo: Repo,
    identity: Identity | Promise<Identity>,
    /** this peer's protection against floods and bad peers */
    readonly firewall: Firewall = new Firewall(),
    /** the spaces this peer belongs to (membership, invites, signed writes) */
    readonly spaces?: Spaces,
    /** connected peers that run another version of Orrery (reported, never struck) */
    readonly versions: OtherVersions = new OtherVersions(VERSIONS),
    /** the always-on mirror this peer uploads to and pulls from, if it has one */
    readonly mirror?: MirrorSync,
    /** keeps the member lists of the spaces this peer administers on that mirror */
    readonly mirrorRosters?: RosterKeeper,
  ) {
    this.state = new StateApi(repo)
    this.forgetGonePeers()
    this.markConnections()
    this.node.addEventListener('peer:identify', (e) =>
      this.versions.identified(e.detail.peerId.toString(), e.detail.protocols),
    )
    this.identityReady = Promise.resolve(identity)
    if (!(identity instanceof Promise)) this.loadedIdentity = identity
    this.identityReady.then(
      (i) => (this.loadedIdentity = i),
      () => undefined,
    )
  }

  /** The user's identity (after `identityReady`). */
  get identity(): Identity {
    if (this.loadedIdentity === undefined)
      throw new OrreryError('NOT_READY', 'the identity is still loading')
    return this.loadedIdentity
  }

  get id(): string {
    return this.node.peerId.toString()
  }

  /** `webrtc-open` (the first direct browser connection) in timings; every open/close traced. */
  private markConnections(): void {
    const note = (what: string, c: Connection): void => {
      const kind = transportOf(c)
      trace(`conn ${what} ${c.remotePeer.toString().slice(-8)} ${c.direction} ${kind}`)
      if (what === 'open' && kind === 'webrtc') mark('webrtc-open')
    }
    this.node.addEventListener('connection:open', (e) => note('open', e.detail))
    this.node.addEventListener('connection:close', (e) => note('close', e.detail))
  }

  private readonly forgetTimers = new Map<string, ReturnType<typeof setTimeout>>()

  /** The firewall forgets a peer `forgetAfterMs` after its last connection closed. */
  private forgetGonePeers(): void {
    const cancel = (peer: string): void => {
      clearTimeout(this.forgetTimers.get(peer))
      this.forgetTimers.delete(peer)
    }
    this.node.addEventListener('peer:connect', (e) => cancel(e.detail.toString()))
    this.node.addEventListener('peer:disconnect', (e) => {
      const peer = e.detail.toString()
      cancel(peer)
      this.versions.forget(peer)
      const timer = setTimeout(() => {
        this.forgetTimers.delete(peer)
        if (this.node.getConnections(e.detail).length === 0) this.firewall.forget(peer)
      }, this.firewall.config.forgetAfterMs)
      this.forgetTimers.set(peer, timer)
    })
  }

  async stop(): Promise<void> {
    this.mirror?.stop()
    this.mirrorRosters?.stop()
    for (const t of this.forgetTimers.values()) clearTimeout(t)
    this.forgetTimers.clear()
    await this.repo.flushAll().catch(() => undefined)
    await this.node.stop()
    await this.repo.shutdown()
  }
}

export async function createPeer(opts: PeerOptions): Promise<OrreryPeer> {
  const tabId = toBase58(randomBytes(8))
  const profileId = Promise.resolve(opts.profileId ?? toBase58(randomBytes(8)))
  const identity = Promise.resolve(opts.identity)
  let loaded: Identity | undefined
  identity.then(
    (i) => (loaded = i),
    () => undefined,
  )
  let spaces = opts.spaces
  const repo =
    opts.repo ??
    new Repo({
      storage: opts.storage,
      tabId,
      ...(opts.bus ? { bus: opts.bus } : {}),
      ...(opts.presenceTiming ? { presenceTiming: opts.presenceTiming } : {}),
      governance: (id) => spaces?.governanceFor(id),
    })
  spaces ??= new Spaces({ repo, storage: opts.storage, identity: () => loaded })
  const table = versionTable(opts.versions)
  const issueCert = async (peerId: string): Promise<TabCert> =>
    issueTabCert(await identity, peerId, await profileId)
  const firewall = new Firewall(opts.firewall)
  const versions = new OtherVersions(table)
  const onOtherVersion = (peer: string, reason: string): void => versions.note(peer, reason)
  const node = await createLibp2p<OrreryServices>({
    ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
    addresses: { listen: opts.listen ?? [] },
    transports: opts.transports,
    connectionEncrypters: [noise()],
    // A stream's window stops growing at 1 MiB (yamux's default lets it reach 16 MiB): what a peer
    // may have in flight to us while we hold its stream paused (framed-stream.ts) stays small
    streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 1024 * 1024 } })],
    ...(opts.connectionGater ? { connectionGater: opts.connectionGater } : {}),
    // Pulse (pulse.ts) pings every connection itself and reports the round trips.
    connectionMonitor: { enabled: false },
    // libp2p puts each service into the components under its name (the outbox finds the client
    // at `components.discovery`), then checks every [serviceDependencies] against the services'
    // [serviceCapabilities]: a missing one fails here, not at run time.
    services: {
      identify: identify(),
      ping: ping({ maxOutboundStreams: 4, maxInboundStreams: 4 }),
      sync: orrerySync({ repo, issueCert, firewall, spoken: table.sync, onOtherVersion }),
      discovery: discoveryClient(repo, { spoken: table.discovery, ...opts.discovery }),
      blocks: orreryBlocks({ store: opts.blocks ?? new MemoryBlockStore(), spoken: table.blocks }),
      outbox: orreryOutbox({
        storage: opts.storage,
        identity,
        issueCert,
        spoken: table.outbox,
        onOtherVersion,
      }),
      releases: orreryReleases({ spoken: table.releases }),
    },
  })
  let mirror: MirrorSync | undefined
  let rosters: RosterKeeper | undefined
  if (opts.mirror !== undefined) {
    const { address, timeoutMs, prefetch, ...timing } = opts.mirror
    const client = MirrorClient.dial(node, address, timeoutMs === undefined ? {} : { timeoutMs })
    const sp = spaces
    mirror = new MirrorSync({
      ...timing,
      repo,
      storage: opts.storage,
      identity: () => loaded,
      client: prefetch?.over(client) ?? client,
      ...mirrorLogs(repo, sp),
    })
    rosters = new RosterKeeper({ spaces: sp, identity: () => loaded, client })
    mirror.start()
    rosters.start()
  }
  return new OrreryPeer(node, repo, opts.identity, firewall, spaces, versions, mirror, rosters)
}

/**
 * Where a tab's documents live on the mirror: a space's in its list's log, a free one in its
 * writer's (none without a writer key), and the way into a free one's for its writers.
 */
export function mirrorLogs(
  repo: Repo,
  spaces: Spaces,
): Pick<MirrorSyncOptions, 'place' | 'freeDocEntry'> {
  const free = (id: DocId) => {
    const key = repo.keys.get(id)
    const writer = repo.keys.writeKey(id)
    return key === undefined || writer === undefined || spaces.spaceOfDoc(id) !== undefined
      ? undefined
      : { key, writer }
  }
  return {
    place: (id) => {
      const inSpace = spaces.mirrorPlace(id)
      if (inSpace !== undefined) return inSpace
      const f = free(id)
      return f && { roster: freeDocRosterId(id, f.key, f.writer.pub), epoch: 0 }
    },
    freeDocEntry: (id, uploader) => {
      const f = free(id)
      return f && freeDocEntry(id, f.key, f.writer, uploader)
    },
  }
}
