/**
 * The relay's libp2p metrics component (createLibp2p's `metrics`): @libp2p/prometheus-metrics
 * writing libp2p's own metrics into the relay's prom-client Registry, plus the counts libp2p does
 * not keep itself: connections opened and the traffic of circuit-relay streams.
 *
 * @libp2p/prometheus-metrics was written for prom-client's global registry: it caches the metrics
 * it made in one module-level map keyed by name, shared by every instance and emptied by each new
 * one. With two relays in one process (the tests start several) a relay could be handed another
 * relay's metric (counted in the wrong registry), or, asking again for a name the map forgot,
 * register it twice in its own registry (prom-client throws). So each relay answers repeated
 * requests from its own cache and asks the package under a key of its own: the name with a run of
 * '-' after its first '_', which the package's name normalisation (every character outside
 * [a-zA-Z0-9_] becomes '_', runs of '_' become one) turns back into the same name.
 */
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import {
  StreamMessageEvent,
  type ComponentLogger,
  type Metrics,
  type MultiaddrConnection,
  type Stream,
} from '@libp2p/interface'
import type { Counter, Registry } from 'prom-client'

/** What the relay counts beside libp2p (prom-client counters in the same registry). */
export interface RelayTraffic {
  connectionsOpened: Counter
  relayedStreams: Counter
  relayedBytes: Counter
}

const CIRCUIT = '/libp2p/circuit/relay/0.2.0/'

/** Relays made in this process, so each has its own cache keys. */
let relays = 0

export function relayLibp2pMetrics(
  registry: Registry,
  traffic: RelayTraffic,
): (components: { logger: ComponentLogger }) => Metrics {
  const dashes = '-'.repeat(++relays)
  const key = (name: string): string => name.replace('_', `_${dashes}`)
  return (components) =>
    new RelayLibp2pMetrics(prometheusMetrics({ registry })(components), key, traffic)
}

type Register = (name: string, options: never) => unknown

class RelayLibp2pMetrics implements Metrics {
  readonly registerMetric: Metrics['registerMetric']
  readonly registerMetricGroup: Metrics['registerMetricGroup']
  readonly registerCounter: Metrics['registerCounter']
  readonly registerCounterGroup: Metrics['registerCounterGroup']
  readonly registerHistogram: Metrics['registerHistogram']
  readonly registerHistogramGroup: Metrics['registerHistogramGroup']
  readonly registerSummary: Metrics['registerSummary']
  readonly registerSummaryGroup: Metrics['registerSummaryGroup']
  private readonly made = new Map<string, unknown>()

  constructor(
    private readonly inner: Metrics,
    private readonly key: (name: string) => string,
    private readonly traffic: RelayTraffic,
  ) {
    this.registerMetric = this.cached(inner.registerMetric.bind(inner))
    this.registerMetricGroup = this.cached(inner.registerMetricGroup.bind(inner))
    this.registerCounter = this.cached(inner.registerCounter.bind(inner))
    this.registerCounterGroup = this.cached(inner.registerCounterGroup.bind(inner))
    this.registerHistogram = this.cached(inner.registerHistogram.bind(inner))
    this.registerHistogramGroup = this.cached(inner.registerHistogramGroup.bind(inner))
    this.registerSummary = this.cached(inner.registerSummary.bind(inner))
    this.registerSummaryGroup = this.cached(inner.registerSummaryGroup.bind(inner))
  }

  trackMultiaddrConnection(maConn: MultiaddrConnection): void {
    this.traffic.connectionsOpened.inc()
    this.inner.trackMultiaddrConnection(maConn)
  }

  trackProtocolStream(stream: Stream): void {
    if (stream.protocol.startsWith(CIRCUIT)) {
      this.traffic.relayedStreams.inc()
      // Every relayed byte arrives at the relay exactly once, on the hop or the stop stream.
      // Observed as dispatched rather than with a 'message' listener: a listener added before
      // the protocol handler's would have the stream hand its buffered data to nobody else.
      const dispatch = stream.dispatchEvent.bind(stream)
      stream.dispatchEvent = (event: Event): boolean => {
        if (event instanceof StreamMessageEvent)
          this.traffic.relayedBytes.inc(event.data.byteLength)
        return dispatch(event)
      }
    }
    this.inner.trackProtocolStream(stream)
  }

  traceFunction<F>(name: string, fn: F): F {
    return fn
  }

  createTrace(): undefined {
    return undefined
  }

  /**
   * A register method that makes each name once for this relay, under the relay's own key.
   * (Typed as the method it wraps: TypeScript cannot check a wrapper against overloads.)
   */
  private cached<F extends Register>(register: F): F {
    const wrapped = (name: string, options: never): unknown => {
      if (this.made.has(name)) return this.made.get(name)
      const metric = register(this.key(name), options)
      this.made.set(name, metric)
      return metric
    }
    return wrapped as F
  }
}
