/** A relay's settings for tests: loopback, a port of the system's choosing, fresh directories. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { RelayConfig } from './config'

export const tmp = (name: string): string =>
  fs.mkdtempSync(path.join(os.tmpdir(), `orrery-${name}-`))

export function relayTestConfig(overrides: Partial<RelayConfig> = {}): RelayConfig {
  const dist = tmp('dist')
  fs.writeFileSync(
    path.join(dist, 'index.html'),
    '<!doctype html><html><head><title>t</title></head><body>app</body></html>',
  )
  fs.mkdirSync(path.join(dist, 'assets'))
  fs.writeFileSync(path.join(dist, 'assets', 'app-123.js'), 'console.log("x")'.repeat(200))
  return {
    host: '127.0.0.1',
    port: 0,
    dataDir: tmp('relay'),
    dev: false,
    publish: [],
    publisherFile: path.join(tmp('publisher'), 'publisher.json'),
    distDir: dist,
    iceServers: [],
    maxReservations: 64,
    maxConnections: 256,
    maxConnectionsPerIp: 64,
    trustProxy: false,
    httpRate: 50,
    httpBurst: 200,
    relayDataLimit: 1024 * 1024,
    relayDurationLimit: 120,
    reservationTtl: 7200,
    seed: true,
    seedDirs: [tmp('seed')],
    ...overrides,
  }
}
