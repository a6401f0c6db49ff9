/** Relay settings from the environment and flags, with the defaults a newcomer wants. */
import path from 'node:path'

export interface RelayConfig {
  host: string
  port: number
  dataDir: string
  /** serve the app through Vite with hot reload instead of the built dist/ */
  dev: boolean
  distDir: string
  /** ICE servers handed to browsers (JSON in ORRERY_ICE_SERVERS); none on loopback */
  iceServers: { urls: string | string[]; username?: string; credential?: string }[]
  maxReservations: number
  /** serve app blocks to peers (ORRERY_SEED=0 turns the relay's seeding off) */
  seed: boolean
  /** where app blocks live: published apps first (writable), then the build's built-in apps */
  seedDirs: string[]
  maxConnections: number
}

export function readConfig(argv = process.argv.slice(2), env = process.env): RelayConfig {
  const port = Number(env.PORT ?? 8080)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`PORT must be a port number, got ${env.PORT}`)
  let iceServers: RelayConfig['iceServers'] = []
  if (env.ORRERY_ICE_SERVERS !== undefined && env.ORRERY_ICE_SERVERS !== '') {
    try {
      iceServers = JSON.parse(env.ORRERY_ICE_SERVERS) as RelayConfig['iceServers']
      if (!Array.isArray(iceServers)) throw new Error('not an array')
    } catch (e) {
      throw new Error(`ORRERY_ICE_SERVERS must be a JSON array of RTCIceServer: ${String(e)}`, {
        cause: e,
      })
    }
  }
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    dataDir: path.resolve(env.ORRERY_DATA_DIR ?? '.data/relay'),
    dev: argv.includes('--dev') || env.ORRERY_DEV === '1',
    distDir: path.resolve(env.ORRERY_DIST ?? 'dist'),
    iceServers,
    maxReservations: Number(env.ORRERY_MAX_RESERVATIONS ?? 1024),
    seed: env.ORRERY_SEED !== '0',
    seedDirs: [
      path.resolve(env.ORRERY_DATA_DIR ?? '.data/relay', 'seed'),
      path.resolve(env.ORRERY_DIST ?? 'dist', 'seed'),
    ],
    maxConnections: Number(env.ORRERY_MAX_CONNECTIONS ?? 2048),
  }
}
