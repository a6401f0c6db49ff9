/**
 * The relay's libp2p node: a WebSockets listener (on an internal loopback port; the public HTTP
 * server forwards WebSocket upgrades to it), circuit-relay-v2 so browsers can reserve an address
 * and meet over WebRTC, identify, ping, Orrery's discovery service, block seeding and releases,
 * and the mirror (encrypted envelopes kept for tabs) unless it is turned off.
 */
import { circuitRelayServer, type CircuitRelayService } from '@libp2p/circuit-relay-v2'
import { identify, type Identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { ping, type Ping } from '@libp2p/ping'
import { webSockets } from '@libp2p/websockets'
import { yamux } from '@libp2p/yamux'
import type { ComponentLogger, Metrics, PrivateKey } from '@libp2p/interface'
import { createLibp2p, type Libp2p } from 'libp2p'
import { discoveryServer, type DiscoveryServer } from '../src/core/discovery/server'
import { orreryBlocks, type BlockService } from '../src/core/blocks/service'
import { orreryReleases, type ReleaseService } from '../src/core/releases/service'
import type { BlockStore } from '../src/core/blocks/types'
import { mirrorService, type MirrorService, type MirrorServiceInit } from './mirror/service'

export interface RelayNodeOptions {
  privateKey: PrivateKey
  maxReservations: number
  maxConnections: number
  /** per relayed connection: bytes, and seconds open */
  relayDataLimit: number
  relayDurationLimit: number
  /** seconds a reservation lasts unless refreshed */
  reservationTtl: number
  blocks: BlockStore
  seed: boolean
  /** libp2p's metrics component (relay/libp2p-metrics.ts) */
  metrics: (components: { logger: ComponentLogger }) => Metrics
  /** the mirror service's settings (it opens its store at start, closes it at stop); none: off */
  mirror?: MirrorServiceInit
}

export interface RelayServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  relay: CircuitRelayService
  discovery: DiscoveryServer
  blocks: BlockService
  releases: ReleaseService
  /** absent when the mirror is off */
  mirror?: MirrorService
}

export type RelayNode = Libp2p<RelayServices>

export async function createRelayNode(opts: RelayNodeOptions): Promise<RelayNode> {
  return createLibp2p<RelayServices>({
    privateKey: opts.privateKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0/ws'] },
    transports: [webSockets()],
    metrics: opts.metrics,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: opts.maxConnections,
      // Every browser reaches libp2p through the HTTP server's loopback forward, so libp2p sees
      // one remote host: its per-host rate limit would throttle all users together.
      inboundConnectionThreshold: opts.maxConnections,
      maxIncomingPendingConnections: 64,
    },
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: opts.maxReservations,
          // Limits for every relayed connection made through a reservation (libp2p applies
          // them itself: the connection is closed when either runs out). In milliseconds here,
          // although the protocol tells clients seconds: libp2p's server times it in ms.
          applyDefaultLimit: true,
          defaultDataLimit: BigInt(opts.relayDataLimit),
          defaultDurationLimit: opts.relayDurationLimit * 1000,
          reservationTtl: opts.reservationTtl * 1000,
        },
      }),
      discovery: discoveryServer(),
      blocks: orreryBlocks({ store: opts.blocks, serve: opts.seed }),
      // announces the apps it seeds and live-published versions to the peers that follow them
      releases: orreryReleases({}),
      ...(opts.mirror === undefined ? {} : { mirror: mirrorService(opts.mirror) }),
    },
  })
}

/** The internal port of the WebSockets listener. */
export function wsPort(node: RelayNode): number {
  for (const ma of node.getMultiaddrs()) {
    const m = /\/tcp\/(\d+)\/ws/.exec(ma.toString())
    if (m !== null) return Number(m[1])
  }
  throw new Error('the relay has no WebSockets listener')
}
