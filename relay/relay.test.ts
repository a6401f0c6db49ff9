/**
 * The relay process's parts on loopback: HTTP (app, relay description, health), WebSocket
 * upgrades forwarded to libp2p, discovery between real libp2p clients, bad input on the
 * discovery stream, a persistent key, and a clean exit on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { spawn } from 'node:child_process'
import { createLibp2p, type Libp2p } from 'libp2p'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import type { Stream } from '@libp2p/interface'
import { startRelay, type RunningRelay } from './server'
import type { RelayConfig } from './config'
import {
  decodeDiscovery,
  DISCOVERY_PROTOCOL,
  encodeDiscovery,
  type DiscoveryMessage,
} from '../src/core/discovery/messages'
import { encodeMessage, MessageDecoder, MAX_FRAME } from '../src/core/wire/framing'
import { Writer } from '../src/core/wire/codec'
import { docTopic, newDocId } from '../src/core/ids'

/** A GET with the path exactly as given (fetch would normalise it). */
function rawGet(p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port: Number(new URL(relay.url).port), path: p },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve(`${res.statusCode} ${body}`))
      },
    )
    req.on('error', reject)
  })
}

const tmp = (name: string): string => fs.mkdtempSync(path.join(os.tmpdir(), `orrery-${name}-`))

function config(overrides: Partial<RelayConfig> = {}): RelayConfig {
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
    distDir: dist,
    iceServers: [],
    maxReservations: 64,
    maxConnections: 256,
    seed: true,
    seedDirs: [tmp('seed')],
    ...overrides,
  }
}

let relay: RunningRelay
const clients: Libp2p[] = []

beforeAll(async () => {
  relay = await startRelay(config())
})
afterAll(async () => {
  await Promise.all(clients.map(async (c) => c.stop()))
  await relay.stop()
})

async function client(): Promise<Libp2p> {
  const c = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
  clients.push(c)
  return c
}

const relayAddr = (): ReturnType<typeof multiaddr> =>
  multiaddr(`/ip4/127.0.0.1/tcp/${new URL(relay.url).port}/ws/p2p/${relay.peerId}`)

/** A discovery stream with a message queue. */
async function discovery(
  c: Libp2p,
): Promise<{ stream: Stream; next: () => Promise<DiscoveryMessage>; ended: Promise<void> }> {
  const stream = await c.dialProtocol(relayAddr(), DISCOVERY_PROTOCOL)
  const decoder = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: 1 << 20 })
  const queue: DiscoveryMessage[] = []
  const waiters: ((m: DiscoveryMessage) => void)[] = []
  const ended = (async () => {
    try {
      for await (const chunk of stream) {
        const r = decoder.push(chunk)
        if (!r.ok) return
        for (const bytes of r.value) {
          const m = decodeDiscovery(bytes)
          if (!m.ok) return
          const w = waiters.shift()
          if (w) w(m.value)
          else queue.push(m.value)
        }
      }
    } catch {
      // reset by the relay
    }
  })()
  const next = (): Promise<DiscoveryMessage> => {
    const m = queue.shift()
    return m ? Promise.resolve(m) : new Promise((resolve) => waiters.push(resolve))
  }
  return { stream, next, ended }
}

const send = (s: Stream, m: DiscoveryMessage): void => {
  for (const f of encodeMessage(encodeDiscovery(m))) s.send(f)
}

describe('relay HTTP', () => {
  it('serves health, its description and the app with the relay address injected', async () => {
    const health = (await (await fetch(`${relay.url}/health`)).json()) as {
      status: string
      peerId: string
    }
    expect(health).toMatchObject({ status: 'ok', peerId: relay.peerId })
    const info = (await (await fetch(`${relay.url}/orrery/relay.json`)).json()) as {
      peerId: string
    }
    expect(info.peerId).toBe(relay.peerId)
    const page = await fetch(`${relay.url}/doc/anything`)
    expect(page.headers.get('content-type')).toContain('text/html')
    expect(await page.text()).toContain(`name="orrery-relay"`)
    const asset = await fetch(`${relay.url}/assets/app-123.js`, {
      headers: { 'accept-encoding': 'gzip' },
    })
    expect(asset.headers.get('content-type')).toContain('javascript')
    expect(asset.headers.get('cache-control')).toContain('immutable')
    expect((await asset.text()).length).toBe('console.log("x")'.length * 200)
    expect((await fetch(`${relay.url}/missing.js`)).status).toBe(404)
    const metrics = await (await fetch(`${relay.url}/metrics`)).text()
    for (const name of [
      'orrery_relay_connections',
      'orrery_relay_reservations',
      'orrery_relay_relayed_bytes_total',
      'orrery_relay_protocol_errors_total',
      'orrery_relay_blocks_served_total',
    ]) {
      expect(metrics).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, 'm'))
    }
    for (const probe of [
      '/../../etc/passwd',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/assets/..%2f..%2f..%2fetc%2fpasswd',
    ]) {
      const body = await rawGet(probe)
      expect(body).not.toContain('root:')
    }
  })
})

describe('discovery through the relay', () => {
  it('introduces peers that join the same topic', async () => {
    const [a, b] = [await client(), await client()]
    const topic = docTopic(newDocId())
    const da = await discovery(a)
    send(da.stream, { type: 'join', topics: [topic], addrs: [] })
    expect(await da.next()).toMatchObject({ type: 'peers', kind: 'answer', peers: [] })
    const db = await discovery(b)
    send(db.stream, { type: 'join', topics: [topic], addrs: ['/ip4/127.0.0.1/tcp/1/ws'] })
    expect(await db.next()).toMatchObject({
      type: 'peers',
      kind: 'answer',
      peers: [{ id: a.peerId.toString() }],
    })
    expect(await da.next()).toMatchObject({
      type: 'peers',
      kind: 'joined',
      peers: [{ id: b.peerId.toString(), addrs: ['/ip4/127.0.0.1/tcp/1/ws'] }],
    })
    await b.stop()
    expect(await da.next()).toMatchObject({ type: 'left', peer: b.peerId.toString() })
  })

  const bad: [string, (s: Stream) => void][] = [
    ['garbage', (s) => s.send(new Uint8Array(200).fill(0xab))],
    ['an oversized frame prefix', (s) => s.send(new Writer().varint(MAX_FRAME * 4).finish())],
    [
      'a message only the relay may send',
      (s) => send(s, { type: 'left', topic: new Uint8Array(32), peer: 'x' }),
    ],
    [
      'more topics than allowed',
      (s) => {
        for (let i = 0; i < 3; i++) {
          const topics = Array.from({ length: 100 }, () => docTopic(newDocId()))
          send(s, { type: 'join', topics, addrs: [] })
        }
      },
    ],
    [
      'an unparsable address',
      (s) => send(s, { type: 'join', topics: [docTopic(newDocId())], addrs: ['not a multiaddr'] }),
    ],
    [
      'a truncated message and the end of the stream',
      (s) => {
        s.send(
          encodeMessage(
            encodeDiscovery({ type: 'join', topics: [docTopic(newDocId())], addrs: [] }),
          )[0]!.subarray(0, 20),
        )
        void s.close()
      },
    ],
  ]
  for (const [name, attack] of bad) {
    it(`closes a discovery stream that sends ${name}, and keeps running`, async () => {
      const before = relay.node.services.discovery.stats().protocolErrors
      const d = await discovery(await client())
      attack(d.stream)
      await d.ended
      await expect
        .poll(() => relay.node.services.discovery.stats().protocolErrors)
        .toBeGreaterThan(before)
      // still healthy and still introducing honest peers
      expect((await fetch(`${relay.url}/health`)).status).toBe(200)
      const honest = await discovery(await client())
      send(honest.stream, { type: 'join', topics: [docTopic(newDocId())], addrs: [] })
      expect(await honest.next()).toMatchObject({ type: 'peers', kind: 'answer' })
    })
  }
})

describe('relay process', () => {
  it('keeps its peer id across restarts', async () => {
    const dataDir = tmp('key')
    const one = await startRelay(config({ dataDir }))
    const id = one.peerId
    await one.stop()
    const two = await startRelay(config({ dataDir }))
    expect(two.peerId).toBe(id)
    await two.stop()
  })

  it('prints where it listens and exits cleanly on SIGTERM', async () => {
    const proc = spawn(
      process.execPath,
      ['--import', './relay/polyfill.js', '--import', 'tsx', 'relay/main.ts'],
      {
        env: {
          ...process.env,
          PORT: '0',
          ORRERY_DATA_DIR: tmp('proc'),
          ORRERY_DIST: config().distDir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()))
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()))
    await expect
      .poll(() => /on http:\/\/127\.0\.0\.1:\d+/.test(out), { timeout: 20_000 })
      .toBe(true)
    const code = new Promise<number | null>((resolve) => proc.once('exit', resolve))
    proc.kill('SIGTERM')
    expect(await code).toBe(0)
    expect(out).toContain('SIGTERM: shutting down')
  }, 30_000)
})
