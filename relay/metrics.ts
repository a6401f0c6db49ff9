/**
 * The relay's metrics. `RelayMetrics` is a libp2p metrics component (passed as `metrics` to
 * createLibp2p) that counts the bytes flowing through circuit-relay streams, which libp2p does not
 * count itself; everything else libp2p would register is accepted and ignored. `prometheus()`
 * renders /metrics in the Prometheus text format.
 */
import type { Metrics, MultiaddrConnection, Stream } from '@libp2p/interface'

const noop = {
  update() {},
  increment() {},
  decrement() {},
  reset() {},
  observe() {},
  timer: () => () => {},
}

export class RelayMetrics {
  relayedBytes = 0
  relayedStreams = 0
  connectionsOpened = 0

  trackMultiaddrConnection(_c: MultiaddrConnection): void {
    this.connectionsOpened++
  }

  trackProtocolStream(stream: Stream): void {
    if (!stream.protocol.startsWith('/libp2p/circuit/relay/0.2.0/')) return
    this.relayedStreams++
    // every relayed byte arrives at the relay exactly once, on the hop or the stop stream
    stream.addEventListener('message', (e) => {
      this.relayedBytes += e.data.byteLength
    })
  }

  registerMetric(): typeof noop {
    return noop
  }
  registerMetricGroup(): typeof noop {
    return noop
  }
  registerCounter(): typeof noop {
    return noop
  }
  registerCounterGroup(): typeof noop {
    return noop
  }
  registerHistogram(): typeof noop {
    return noop
  }
  registerHistogramGroup(): typeof noop {
    return noop
  }
  registerSummary(): typeof noop {
    return noop
  }
  registerSummaryGroup(): typeof noop {
    return noop
  }
  traceFunction<F>(_name: string, fn: F): F {
    return fn
  }
  createTrace(): undefined {
    return undefined
  }
}

export function relayMetrics(metrics: RelayMetrics): () => Metrics {
  return () => metrics as unknown as Metrics
}

export interface MetricSample {
  name: string
  help: string
  type: 'counter' | 'gauge'
  values: { labels?: Record<string, string>; value: number }[]
}

export function prometheus(samples: MetricSample[]): string {
  const lines: string[] = []
  for (const s of samples) {
    lines.push(`# HELP ${s.name} ${s.help}`, `# TYPE ${s.name} ${s.type}`)
    for (const v of s.values) {
      const labels = Object.entries(v.labels ?? {})
        .map(([k, x]) => `${k}="${x.replace(/["\\\n]/g, '_')}"`)
        .join(',')
      lines.push(`${s.name}${labels === '' ? '' : `{${labels}}`} ${v.value}`)
    }
  }
  return lines.join('\n') + '\n'
}
