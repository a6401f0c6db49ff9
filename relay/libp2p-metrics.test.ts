/**
 * Two relays' libp2p metrics in one process: @libp2p/prometheus-metrics shares one cache of
 * metrics between its instances, so each relay must still get its own, in its own registry.
 */
import { describe, expect, it } from 'vitest'
import { Counter, Registry } from 'prom-client'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import { relayLibp2pMetrics } from './libp2p-metrics'

const silent = (): Logger =>
  Object.assign(() => {}, { error() {}, trace() {}, enabled: false, newScope: silent })
const components: { logger: ComponentLogger } = { logger: { forComponent: silent } }

function relay(): {
  registry: Registry
  metrics: ReturnType<ReturnType<typeof relayLibp2pMetrics>>
} {
  const registry = new Registry()
  const counter = (name: string): Counter =>
    new Counter({ name, help: name, registers: [registry] })
  const metrics = relayLibp2pMetrics(registry, {
    connectionsOpened: counter('opened'),
    relayedStreams: counter('streams'),
    relayedBytes: counter('bytes'),
  })(components)
  return { registry, metrics }
}

const value = async (registry: Registry, name: string): Promise<number | undefined> =>
  (await registry.getSingleMetric(name)?.get())?.values[0]?.value

describe('libp2p metrics of several relays in one process', () => {
  it('keeps each relay’s metrics in its own registry, made once per name', async () => {
    const a = relay()
    a.metrics.registerCounter('libp2p_test_events_total').increment(1)
    const b = relay() // a new instance empties the package's shared cache
    b.metrics.registerCounter('libp2p_test_events_total').increment(5)
    // asked again after the cache was emptied: no second registration (prom-client would throw)
    a.metrics.registerCounter('libp2p_test_events_total').increment(2)
    const late = a.metrics.registerMetric('libp2p_test_level')
    b.metrics.registerMetric('libp2p_test_level').update(7)
    late.update(3)
    expect(await value(a.registry, 'libp2p_test_events_total')).toBe(3)
    expect(await value(b.registry, 'libp2p_test_events_total')).toBe(5)
    expect(await value(a.registry, 'libp2p_test_level')).toBe(3)
    expect(await value(b.registry, 'libp2p_test_level')).toBe(7)
    // libp2p's own and Node's process metrics are in both
    for (const { registry } of [a, b]) {
      const text = await registry.metrics()
      expect(text).toMatch(/^# TYPE libp2p_data_transfer_bytes_total counter$/m)
      expect(text).toMatch(/^# TYPE nodejs_memory_usage_bytes gauge$/m)
    }
  })
})
