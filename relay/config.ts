/**
 * Relay settings from the environment and flags, with the defaults a newcomer wants.
 *
 * Limits (all per relay process; a bad value stops the relay at start with a message):
 *
 * | variable                      | default | what                                                  |
 * | ----------------------------- | ------- | ----------------------------------------------------- |
 * | ORRERY_MAX_CONNECTIONS        | 2048    | libp2p connections in total                           |
 * | ORRERY_MAX_CONNECTIONS_PER_IP | 32      | open WebSocket connections from one IP (429 beyond)   |
 * | ORRERY_TRUST_PROXY            | 0       | 1: the client IP is the last X-Forwarded-For entry    |
 * | ORRERY_HTTP_RATE              | 50      | HTTP requests per second per IP, sustained (429 …)    |
 * | ORRERY_HTTP_BURST             | 200     | HTTP requests one IP may make at once                 |
 * | ORRERY_MAX_RESERVATIONS       | 1024    | circuit relay reservations held at once               |
 * | ORRERY_RELAY_DATA_LIMIT       | 1048576 | bytes per relayed connection (signalling only)        |
 * | ORRERY_RELAY_DURATION_LIMIT   | 120     | seconds a relayed connection may stay open            |
 * | ORRERY_RESERVATION_TTL        | 7200    | seconds a reservation lasts unless refreshed          |
 * | ORRERY_MIRROR                 | 1       | 0: no mirror (encrypted envelopes kept for tabs)      |
 *
 * Browsers only use relayed connections to set up WebRTC (a few KiB of signalling) and then
 * close them: documents never travel through the relay, hence the small data limit. Every
 * HTTP request counts against the rate, WebSocket upgrades included (in --dev, requests Vite
 * answers do not: it serves the app as hundreds of modules). Behind a reverse proxy every client
 * has the proxy's IP: set ORRERY_TRUST_PROXY=1 (only then, or clients could pick their own IP).
 *
 * The mirror (relay/mirror/) keeps its envelopes in `<ORRERY_DATA_DIR>/mirror` (LevelDB; the
 * directory is made at start). It holds ciphertext only, under the quotas below.
 *
 * Development: `--dev` (or ORRERY_DEV=1) serves the sources through Vite with hot reload;
 * `--publish apps/<name>` (repeatable, or ORRERY_PUBLISH=a,b) rebuilds that app on every save and
 * announces it, signed by ORRERY_PUBLISHER (default .data/publisher.json, made when absent).
 */
import path from 'node:path'

/**
 * The mirror's quotas (relay/mirror/store.ts). The issue sets 100 MiB per space and 20 MiB per
 * identity per day. A space's documents share its quota (their envelopes name its roster); a
 * document of no space has a quota of its own.
 */
export const MIRROR_MAX_BYTES_PER_SPACE = 100 * 1024 * 1024
/** envelope bytes one uploader (identity) may store per UTC day, over all documents */
export const MIRROR_MAX_BYTES_PER_UPLOADER_PER_DAY = 20 * 1024 * 1024

export interface RelayConfig {
  host: string
  port: number
  dataDir: string
  /** serve the app through Vite with hot reload instead of the built dist/ */
  dev: boolean
  /** app folders rebuilt and announced on every save (`--publish apps/<name>`, dev mode) */
  publish: string[]
  /** the identity that signs live-published versions */
  publisherFile: string
  distDir: string
  /** ICE servers handed to browsers (JSON in ORRERY_ICE_SERVERS); none on loopback */
  iceServers: { urls: string | string[]; username?: string; credential?: string }[]
  maxReservations: number
  /** serve app blocks to peers (ORRERY_SEED=0 turns the relay's seeding off) */
  seed: boolean
  /** where app blocks live: published apps first (writable), then the build's built-in apps */
  seedDirs: string[]
  maxConnections: number
  /** open WebSocket connections (forwarded to libp2p) per client IP */
  maxConnectionsPerIp: number
  /** read the client IP from X-Forwarded-For (only behind a proxy that sets it) */
  trustProxy: boolean
  /** HTTP requests per second per client IP (sustained), and the burst allowed */
  httpRate: number
  httpBurst: number
  /** bytes a relayed (circuit) connection may carry */
  relayDataLimit: number
  /** seconds a relayed connection may stay open */
  relayDurationLimit: number
  /** seconds a reservation lasts unless the client refreshes it */
  reservationTtl: number
  /**
   * run the mirror (ORRERY_MIRROR=0 turns it off). Optional, as is `mirrorDir`: a config built by
   * hand (tests, embedders) gets the defaults, the mirror on in `<dataDir>/mirror`.
   */
  mirror?: boolean
  /** where the mirror's store lives (default `<dataDir>/mirror`) */
  mirrorDir?: string
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
    publish: [
      ...argv.flatMap((a, i) => (a === '--publish' && argv[i + 1] ? [argv[i + 1] as string] : [])),
      ...(env.ORRERY_PUBLISH ?? '').split(',').filter((d) => d.trim() !== ''),
    ].map((d) => path.resolve(d)),
    publisherFile: path.resolve(env.ORRERY_PUBLISHER ?? '.data/publisher.json'),
    distDir: path.resolve(env.ORRERY_DIST ?? 'dist'),
    iceServers,
    maxReservations: positive(env, 'ORRERY_MAX_RESERVATIONS', 1024),
    seed: env.ORRERY_SEED !== '0',
    seedDirs: [
      path.resolve(env.ORRERY_DATA_DIR ?? '.data/relay', 'seed'),
      path.resolve(env.ORRERY_DIST ?? 'dist', 'seed'),
    ],
    maxConnections: positive(env, 'ORRERY_MAX_CONNECTIONS', 2048),
    maxConnectionsPerIp: positive(env, 'ORRERY_MAX_CONNECTIONS_PER_IP', 32),
    trustProxy: env.ORRERY_TRUST_PROXY === '1',
    httpRate: positive(env, 'ORRERY_HTTP_RATE', 50, false),
    httpBurst: positive(env, 'ORRERY_HTTP_BURST', 200),
    relayDataLimit: positive(env, 'ORRERY_RELAY_DATA_LIMIT', 1024 * 1024),
    relayDurationLimit: positive(env, 'ORRERY_RELAY_DURATION_LIMIT', 120),
    reservationTtl: positive(env, 'ORRERY_RESERVATION_TTL', 2 * 60 * 60),
    mirror: env.ORRERY_MIRROR !== '0',
    mirrorDir: path.resolve(env.ORRERY_DATA_DIR ?? '.data/relay', 'mirror'),
  }
}

/** A positive number (an integer unless `integer` is false) from the environment, or a default. */
function positive(env: NodeJS.ProcessEnv, name: string, fallback: number, integer = true): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const n = Number(raw)
  if (!(n > 0) || !Number.isFinite(n) || (integer && !Number.isSafeInteger(n)))
    throw new Error(`${name} must be a positive ${integer ? 'integer' : 'number'}, got ${raw}`)
  return n
}
