/**
 * The relay's /metrics: one prom-client Registry per relay (the tests run several in a process)
 * holding libp2p's own metrics (relay/libp2p-metrics.ts, with Node's process metrics) and the
 * relay's `orrery_relay_*` ones, which are read from the running relay at each scrape.
 */
import { Counter, Gauge, Registry } from 'prom-client'
import type { RelayConfig } from './config'
import type { RelayNode } from './node'
import { relayLibp2pMetrics, type RelayTraffic } from './libp2p-metrics'
import type { MirrorService } from './mirror/service'

/** What the scrape reads besides the libp2p node. */
/** The mirror's numbers (relay/mirror/service.ts): what it holds, took, refused and served. */
function mirrorMetrics(mirror: MirrorService): Sampled[] {
  return [
    {
      name: 'orrery_mirror_stored',
      help: 'What the mirror holds: envelopes, and their bytes',
      type: 'gauge',
      labels: ['what'],
      read: () => {
        const store = mirror.stats().store
        return [
          { labels: { what: 'envelopes' }, value: store?.envelopes ?? 0 },
          { labels: { what: 'bytes' }, value: store?.bytes ?? 0 },
        ]
      },
    },
    {
      name: 'orrery_mirror_puts_total',
      help: 'Uploads by outcome (refused ones by code)',
      type: 'counter',
      labels: ['outcome'],
      read: () => {
        const s = mirror.stats()
        return [
          { labels: { outcome: 'accepted' }, value: s.putsAccepted },
          { labels: { outcome: 'duplicate' }, value: s.putsDuplicate },
          ...Object.entries(s.refusals).map(([code, value]) => ({
            labels: { outcome: `refused_${code.toLowerCase()}` },
            value,
          })),
        ]
      },
    },
    {
      name: 'orrery_mirror_served_total',
      help: 'Envelopes and bytes served to tabs catching up',
      type: 'counter',
      labels: ['what'],
      read: () => {
        const s = mirror.stats()
        return [
          { labels: { what: 'requests' }, value: s.sinceRequests },
          { labels: { what: 'envelopes' }, value: s.envelopesServed },
          { labels: { what: 'bytes' }, value: s.bytesServed },
        ]
      },
    },
    {
      name: 'orrery_mirror_bad_requests_total',
      help: 'Mirror requests that could not be read, and streams dropped before their request',
      type: 'counter',
      labels: ['kind'],
      read: () => {
        const s = mirror.stats()
        return [
          { labels: { kind: 'malformed' }, value: s.malformed },
          { labels: { kind: 'dropped' }, value: s.dropped },
        ]
      },
    },
  ]
}

export interface MetricSources {
  node: RelayNode
  config: RelayConfig
  /** bytes through the WebSocket forward */
  websocket: { in: number; out: number }
  /** the per-IP limits: WebSocket connections open, requests refused by reason */
  limits: { openSockets: number; refused: Record<string, number> }
}

type Values = { labels?: Record<string, string>; value: number }[]

interface Sampled {
  name: string
  help: string
  type: 'counter' | 'gauge'
  labels?: string[]
  read: () => Values
}

export class RelayMetrics {
  readonly registry = new Registry()
  private readonly traffic: RelayTraffic = {
    connectionsOpened: this.counter(
      'orrery_relay_connections_opened_total',
      'Connections opened since start',
    ),
    relayedBytes: this.counter(
      'orrery_relay_relayed_bytes_total',
      'Bytes carried over relayed (circuit) connections',
    ),
    relayedStreams: this.counter('orrery_relay_relayed_streams_total', 'Circuit relay streams'),
  }

  /** libp2p's metrics component, for createLibp2p's `metrics` */
  libp2p(): ReturnType<typeof relayLibp2pMetrics> {
    return relayLibp2pMetrics(this.registry, this.traffic)
  }

  /** The Prometheus text of every metric. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** Registers the metrics read from the running relay. */
  watch({ node, config, websocket, limits }: MetricSources): void {
    const sampled: Sampled[] = [
      {
        name: 'orrery_relay_connections',
        help: 'Open libp2p connections',
        type: 'gauge',
        labels: ['kind'],
        read: () => {
          const byKind = new Map<string, number>()
          for (const c of node.getConnections()) {
            const kind =
              c.limits !== undefined
                ? 'relayed'
                : c.remoteAddr.toString().includes('/ws')
                  ? 'websockets'
                  : 'other'
            byKind.set(kind, (byKind.get(kind) ?? 0) + 1)
          }
          return [...byKind].map(([kind, value]) => ({ labels: { kind }, value }))
        },
      },
      {
        name: 'orrery_relay_reservations',
        help: 'Circuit relay reservations held',
        type: 'gauge',
        read: () => [{ value: node.services.relay.reservations.size }],
      },
      {
        name: 'orrery_relay_websocket_bytes_total',
        help: 'Bytes through the WebSocket forward',
        type: 'counter',
        labels: ['direction'],
        read: () => [
          { labels: { direction: 'in' }, value: websocket.in },
          { labels: { direction: 'out' }, value: websocket.out },
        ],
      },
      {
        name: 'orrery_relay_discovery_peers',
        help: 'Peers with a discovery stream',
        type: 'gauge',
        read: () => [{ value: node.services.discovery.stats().peers }],
      },
      {
        name: 'orrery_relay_discovery_topics',
        help: 'Topics with members',
        type: 'gauge',
        read: () => [{ value: node.services.discovery.stats().topics }],
      },
      {
        name: 'orrery_relay_protocol_errors_total',
        help: 'Streams closed for bad input',
        type: 'counter',
        labels: ['protocol'],
        read: () => [
          {
            labels: { protocol: 'discovery' },
            value: node.services.discovery.stats().protocolErrors,
          },
          {
            labels: { protocol: 'blocks' },
            value: node.services.blocks.stats().protocolErrors ?? 0,
          },
        ],
      },
      {
        name: 'orrery_relay_blocks_served_total',
        help: 'App blocks served to peers',
        type: 'counter',
        read: () => [{ value: node.services.blocks.stats().servedBlocks ?? 0 }],
      },
      {
        name: 'orrery_relay_websocket_connections',
        help: 'Open WebSocket connections forwarded to libp2p',
        type: 'gauge',
        read: () => [{ value: limits.openSockets }],
      },
      {
        name: 'orrery_relay_refused_total',
        help: 'HTTP requests and WebSocket upgrades refused (429) by the per-IP limits',
        type: 'counter',
        labels: ['reason'],
        read: () =>
          Object.entries(limits.refused).map(([reason, value]) => ({ labels: { reason }, value })),
      },
      {
        name: 'orrery_relay_limit',
        help: 'Configured limits',
        type: 'gauge',
        labels: ['limit'],
        read: () =>
          Object.entries({
            max_connections: config.maxConnections,
            max_connections_per_ip: config.maxConnectionsPerIp,
            http_rate: config.httpRate,
            http_burst: config.httpBurst,
            max_reservations: config.maxReservations,
            relay_data_limit_bytes: config.relayDataLimit,
            relay_duration_limit_seconds: config.relayDurationLimit,
            reservation_ttl_seconds: config.reservationTtl,
          }).map(([limit, value]) => ({ labels: { limit }, value })),
      },
    ]
    const mirror = node.services.mirror
    if (mirror !== undefined) sampled.push(...mirrorMetrics(mirror))
    for (const s of sampled) this.sample(s)
  }

  private counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] })
  }

  /**
   * A metric whose values are read at each scrape. The counters among them mirror totals kept
   * elsewhere (monotonic), so each scrape sets them to the total rather than adding to them.
   */
  private sample({ name, help, type, labels = [], read }: Sampled): void {
    const common = { name, help, labelNames: labels, registers: [this.registry] }
    if (type === 'gauge') {
      new Gauge({
        ...common,
        collect() {
          this.reset()
          for (const v of read()) this.set(v.labels ?? {}, v.value)
        },
      })
    } else {
      new Counter({
        ...common,
        collect() {
          this.reset()
          for (const v of read()) this.inc(v.labels ?? {}, v.value)
        },
      })
    }
  }
}
