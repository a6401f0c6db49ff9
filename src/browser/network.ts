/**
 * The tab's network: a libp2p node with WebSockets (to reach the relay), circuit relay (to be
 * reachable through it) and WebRTC (to talk to other tabs directly), plus the link to the relay
 * that served this page, redialled with backoff when it drops.
 */
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { backoffWait } from '../core/backoff'
import { Emitter } from '../core/emitter'
import { describeError, OrreryError } from '../core/errors'
import type { Identity } from '../core/identity'
import { createLogger } from '../core/log'
import { mark, trace } from '../core/timings'
import { createPeer, type OrreryPeer } from '../core/peer'
import type { Repo } from '../core/repo/repo'
import type { Spaces } from '../core/spaces/manager'
import type { BlockStore } from '../core/blocks/types'
import type { StorageAdapter } from '../core/storage/types'
import type { TabBus } from '../core/tabs/bus'
import { linkKeyBytes } from '../core/link-keys'
import { MirrorClient } from '../core/mirror/client'
import { httpExchange, MIRROR_HTTP_PATH } from '../core/mirror/http'
import { MirrorPrefetch } from '../core/mirror/prefetch'
import { freeDocRosterId } from '../core/mirror/free-doc'
import { writeKeyFromSecret } from '../core/keys/write-key'
import type { DocLink } from './links'

const log = createLogger('network')

/** the relay that served this page is redialled after 0.5 s, 1 s, 2 s … up to 30 s */
const RELAY_REDIAL = { firstMs: 500, maxMs: 30_000 }

/** one mirror request's budget in the browser (ms) */
const MIRROR_TIMEOUT_MS = 20_000
export interface RelayInfo {
  peerId: string
  path: string
  iceServers: RTCIceServer[]
  /** the relay keeps encrypted envelopes of documents for tabs (relay/mirror/) */
  mirror: boolean
}

/** The relay describes itself in the page it serves (a meta tag); older caches fall back to fetch. */
export async function readRelayInfo(): Promise<RelayInfo> {
  return relayInfoInPage() ?? fetchRelayInfo()
}

function checkRelayInfo(info: Partial<RelayInfo>): RelayInfo {
  if (typeof info.peerId !== 'string')
    throw new OrreryError('RELAY_UNREACHABLE', 'the relay description has no peer id')
  return {
    peerId: info.peerId,
    path: info.path ?? '/',
    iceServers: Array.isArray(info.iceServers) ? info.iceServers : [],
    mirror: info.mirror === true,
  }
}

export async function fetchRelayInfo(): Promise<RelayInfo> {
  let res: Response
  try {
    res = await fetch('/orrery/relay.json', { cache: 'no-cache' })
  } catch (e) {
    throw new OrreryError('RELAY_UNREACHABLE', `cannot reach the relay: ${describeError(e)}`)
  }
  if (!res.ok) throw new OrreryError('RELAY_UNREACHABLE', `the relay answered ${res.status}`)
  return checkRelayInfo((await res.json()) as Partial<RelayInfo>)
}

/** The relay's description in the page's HTML, at once (undefined: it must be fetched). */
export function relayInfoInPage(): RelayInfo | undefined {
  const meta =
    typeof document === 'undefined' ? null : document.querySelector('meta[name="orrery-relay"]')
  const content = meta?.getAttribute('content')
  if (content === null || content === undefined) return undefined
  try {
    return checkRelayInfo(JSON.parse(content) as Partial<RelayInfo>)
  } catch {
    return undefined
  }
}

/**
 * A link's document (and its space's) asked of the page's relay's mirror over HTTP at once, so
 * its envelopes are here when the document's mirror seat first pulls (core/mirror/prefetch.ts).
 * Undefined when the relay keeps no mirror.
 */
export function firstSight(link: DocLink | undefined): MirrorPrefetch | undefined {
  if (relayInfoInPage()?.mirror !== true) return undefined
  const reader = new MirrorClient(httpExchange(MIRROR_HTTP_PATH), { timeoutMs: MIRROR_TIMEOUT_MS })
  const prefetch = new MirrorPrefetch(reader)
  const key = linkKeyBytes(link?.key)
  if (link === undefined || key === undefined) return prefetch
  // a space's documents live in its list's log; a free one in its writer's (free-doc.ts)
  const roster = link.space === undefined ? freeDocLog(link, key) : linkKeyBytes(link.roster)
  prefetch.start(link.docId, key, roster)
  const spaceKey = linkKeyBytes(link.spaceKey)
  if (link.space !== undefined && spaceKey !== undefined)
    prefetch.start(link.space, spaceKey, roster)
  return prefetch
}

function freeDocLog(link: DocLink, key: Uint8Array): Uint8Array | undefined {
  const secret = linkKeyBytes(link.write)
  const writer = secret === undefined ? linkKeyBytes(link.writer) : undefined
  try {
    const pub = secret === undefined ? writer : writeKeyFromSecret(link.docId, secret).pub
    return pub === undefined ? undefined : freeDocRosterId(link.docId, key, pub)
  } catch {
    return undefined // (an id that does not parse: nothing is read early)
  }
}

/** The relay's address as this page reaches it: same host and port, WebSockets. */
export function relayAddress(info: RelayInfo, loc: Location = location): Multiaddr {
  const secure = loc.protocol === 'https:'
  const port = loc.port !== '' ? loc.port : secure ? '443' : '80'
  const host = loc.hostname.replace(/^\[|\]$/g, '')
  const proto = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? 'ip4' : host.includes(':') ? 'ip6' : 'dns4'
  return multiaddr(`/${proto}/${host}/tcp/${port}/${secure ? 'tls/ws' : 'ws'}/p2p/${info.peerId}`)
}

export type RelayState = 'connecting' | 'connected' | 'offline'

/** Keeps this tab connected to its relay; a dead relay never stops the direct connections. */
export class RelayLink {
  readonly events = new Emitter<{ state: RelayState }>()
  private current: RelayState = 'connecting'
  private attempt = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private stopped = false

  constructor(
    private readonly peer: OrreryPeer,
    private readonly addr: Multiaddr,
    private readonly relayPeerId: string,
  ) {}

  get state(): RelayState {
    return this.current
  }

  start(): void {
    this.peer.node.addEventListener('peer:disconnect', (e) => {
      if (e.detail.toString() === this.relayPeerId) this.lost()
    })
    globalThis.addEventListener?.('online', () => this.retryNow())
    void this.dial()
  }

  stop(): void {
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
  }

  retryNow(): void {
    if (this.current === 'connected' || this.stopped) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    void this.dial()
  }

  private set(state: RelayState): void {
    if (state === this.current) return
    this.current = state
    this.events.emit('state', state)
  }

  private async dial(): Promise<void> {
    if (this.stopped) return
    this.set(this.attempt === 0 ? 'connecting' : this.current)
    try {
      const connection = await this.peer.node.dial(this.addr, {
        signal: AbortSignal.timeout(10_000),
        onProgress: (e: { type: string }) => trace(`relay ${e.type}`),
      })
      this.attempt = 0
      mark('relay-connected')
      void this.peer.node.services.discovery.link(connection)
      this.set('connected')
    } catch (e) {
      log.info(`relay unreachable (${describeError(e)})`)
      this.lost()
    }
  }

  private lost(): void {
    if (this.stopped) return
    this.set('offline')
    if (this.timer !== undefined) return
    const wait = backoffWait(RELAY_REDIAL, this.attempt++)
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.dial()
    }, wait)
  }
}

export interface BrowserPeerOptions {
  repo: Repo
  spaces: Spaces
  blocks: BlockStore
  identity: Promise<Identity>
  profileId: Promise<string>
  storage: StorageAdapter
  bus: TabBus
  relay: RelayInfo
  /** the link's document, asked of the mirror over HTTP as the page began (firstSight) */
  prefetch?: MirrorPrefetch
}

export async function createBrowserPeer(opts: BrowserPeerOptions): Promise<OrreryPeer> {
  // A fresh libp2p key per tab and page load: two tabs never share a peer id, and the identity's
  // certificate (sent in the sync hello) says whose tab it is.
  const privateKey = await generateKeyPair('Ed25519')
  // Chromium makes a DTLS certificate for every RTCPeerConnection on demand (~100-300 ms here);
  // one made now, in parallel with the rest of boot, serves all of this tab's connections.
  const certificate = RTCPeerConnection.generateCertificate({
    name: 'ECDSA',
    namedCurve: 'P-256',
  } as EcKeyGenParams)
  certificate.catch(() => undefined)
  const rtcConfiguration = async (): Promise<RTCConfiguration> => {
    const cert = await certificate.catch(() => undefined)
    return { iceServers: opts.relay.iceServers, ...(cert ? { certificates: [cert] } : {}) }
  }
  // the services are peer.ts's; a tab adds its transports, its key and its dialling rules
  return createPeer({
    identity: opts.identity,
    profileId: opts.profileId,
    storage: opts.storage,
    repo: opts.repo,
    spaces: opts.spaces,
    blocks: opts.blocks,
    bus: opts.bus,
    privateKey,
    transports: [webSockets(), webRTC({ rtcConfiguration }), circuitRelayTransport()],
    listen: ['/p2p-circuit', '/webrtc'],
    // The browser default refuses ws:// and private addresses; our relay is wherever this page
    // came from (loopback in development), and peers are reached through it.
    connectionGater: { denyDialMultiaddr: () => false },
    // documents go up to the relay's mirror and come back from it when no member is online; a
    // request that hangs (a stalled stream) is given up after 20 s and tried again, so a page
    // does not wait a minute for a document (a page of envelopes is at most 8 MiB)
    ...(opts.relay.mirror
      ? {
          mirror: {
            address: relayAddress(opts.relay),
            timeoutMs: MIRROR_TIMEOUT_MS,
            ...(opts.prefetch === undefined ? {} : { prefetch: opts.prefetch }),
          },
        }
      : {}),
  })
}
