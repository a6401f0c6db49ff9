/**
 * The relay process: one HTTP port serving the app (built, or through Vite in dev), the relay's
 * description for pages (/orrery/relay.json), /health, /metrics, and WebSocket upgrades forwarded
 * to the libp2p listener. This file puts the parts together:
 *
 * - node.ts: the libp2p node (circuit relay, discovery, blocks, releases, the mirror)
 * - routes.ts: the HTTP requests; static.ts the built app; dev-server.ts Vite and live publishing
 * - ws-forward.ts: WebSocket upgrades handed to libp2p
 * - client-limits.ts: per-IP request rate and WebSocket connections (429, counted in /metrics)
 * - metrics.ts, libp2p-metrics.ts: /metrics, libp2p's own and the relay's
 * - lifecycle.ts: listening and stopping
 */
import http from 'node:http'
import path from 'node:path'
import type { RelayConfig } from './config'
import { ClientLimits } from './client-limits'
import { startDevServing, type DevServing } from './dev-server'
import { FileBlockStore } from './file-blocks'
import { loadOrCreateKey } from './key'
import { listen, once, trackSockets } from './lifecycle'
import { SeedAnnouncer } from './live-publish'
import { RelayMetrics } from './metrics'
import { createRelayNode, wsPort, type RelayNode } from './node'
import { describeRelay, injectRelay, relayRoutes } from './routes'
import { staticFiles } from './static'
import { forwardUpgrades } from './ws-forward'

export interface RunningRelay {
  url: string
  peerId: string
  node: RelayNode
  stop(): Promise<void>
}

export interface RelayOptions {
  /** the clock of the per-IP HTTP limits, in ms (tests pass their own) */
  now?: () => number
}

export async function startRelay(
  config: RelayConfig,
  options: RelayOptions = {},
): Promise<RunningRelay> {
  const privateKey = await loadOrCreateKey(config.dataDir)
  const blocks = new FileBlockStore(config.seedDirs)
  const metrics = new RelayMetrics()
  const node = await createRelayNode({
    blocks,
    seed: config.seed,
    metrics: metrics.libp2p(),
    privateKey,
    maxReservations: config.maxReservations,
    maxConnections: config.maxConnections,
    relayDataLimit: config.relayDataLimit,
    relayDurationLimit: config.relayDurationLimit,
    reservationTtl: config.reservationTtl,
    ...(config.mirror === false
      ? {}
      : { mirror: { dir: config.mirrorDir ?? path.join(config.dataDir, 'mirror') } }),
  })
  const announcer = new SeedAnnouncer(blocks, node.services.releases, config.seedDirs[0] as string)
  await announcer.start()
  const limits = new ClientLimits(config, options.now ?? Date.now)
  const peerId = node.peerId.toString()
  const description = describeRelay(peerId, config)
  const inject = (html: string): string => injectRelay(html, description)

  let dev: DevServing | undefined
  const server = http.createServer(
    relayRoutes({
      config,
      node,
      blocks,
      limits,
      metrics,
      description,
      started: Date.now(),
      serveStatic: staticFiles(config.distDir, inject),
      dev: () => dev,
    }),
  )
  const sockets = trackSockets(server)
  const websocket = forwardUpgrades(server, { port: wsPort(node), limits, sockets })
  metrics.watch({ node, config, websocket, limits })
  if (config.dev) dev = await startDevServing(server, config, announcer, inject)

  const url = await listen(server, config.host, config.port)
  const stop = once(async () => {
    server.close()
    for (const s of sockets) s.destroy()
    announcer.stop()
    await dev?.close()
    await node.stop()
  })
  return { url, peerId, node, stop }
}
