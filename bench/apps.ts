/**
 * The apps workloads ("apps loaded from content addresses"). Three providers P1..P3 install the
 * synthetic 1 MiB app from the seeding relay; a fetcher C joins the app's discovery topic (as an
 * installing tab does) until it has direct WebRTC connections to all three. Then, inside C:
 *
 *   A1    services.blocks.fetch(every block, [P1])          (C's store emptied before)
 *   A3    services.blocks.fetch(every block, [P1, P2, P3])  (C's store emptied before)
 *   AAPP  the relay restarts with seeding off; a fresh peer opens <relay>/#/app/<cid>:
 *         navigation start -> <bench-app> mounted, with 3 providers online, then with 1
 *
 * ARAW (rtc.ts) measures the raw data channel between C and P1 in the same run; A1 and A3 report
 * their throughput against it. 1 MB = 1,000,000 bytes throughout.
 */
import { appTopic } from '../src/core/apps/topic'
import type { BlockStats } from '../src/core/blocks/service'
import type { BenchApp } from './app-bundle'
import { within, type BenchPeer, type Lab } from './lab'

export interface FetchResult {
  ms: number
  /** MB/s of block bytes */
  mbps: number
  blocks: number
  bytes: number
  /** blocks each provider served during the fetch (its stats().servedBlocks difference) */
  served: Record<string, number>
  /** the same run's raw data-channel MB/s (ARAW), and mbps / raw */
  rawMBps: number
  ratio: number
  /** every repetition's ms in this run; the fields above are the median repetition's */
  samplesMs: number[]
}

/** fetches (and raw transfers) per run; a run reports its median repetition */
export const REPS = 3

/** Runs `once` REPS times in a row; returns the median one (by `key`) and every key. */
export async function repeated<T>(
  once: () => Promise<T>,
  key: (v: T) => number,
): Promise<{ median: T; samples: number[] }> {
  const all: T[] = []
  for (let i = 0; i < REPS; i++) all.push(await once())
  const sorted = [...all].sort((a, b) => key(a) - key(b))
  return { median: sorted[(sorted.length - 1) >> 1]!, samples: all.map(key) }
}

export interface AppLoad {
  /** navigation start -> <bench-app> connected, in the fresh peer */
  ms: number
  providers: number
  /** blocks the fresh peer fetched, and who served them (the relay must serve none) */
  fetchedBlocks: number
  served: Record<string, number>
  relayServed: number
  /** window.orrery.timings() once mounted */
  timings: Record<string, number>
  /** ms since navigation start: install start, its phases, install end, mount start and end */
  phases: Record<string, number>
  /** the fresh peer's console at log level info: `+<ms since goto> <line>` (where time went) */
  log: string[]
}

export interface AppLoadResult {
  three: AppLoad
  one?: AppLoad
  oneError?: string
}

export interface AppsPeers {
  providers: BenchPeer[]
  ids: string[]
  c: BenchPeer
}

const idOf = (p: BenchPeer): Promise<string> => p.page.evaluate(() => window.orrery.id)

const statsOf = (p: BenchPeer): Promise<BlockStats> =>
  p.page.evaluate(() => window.orrery.internals!.peer.node.services.blocks.stats())

/** The peers C reaches over a direct WebRTC connection, among `ids`. */
async function directTo(c: BenchPeer, ids: string[]): Promise<string[]> {
  const conns = await c.page.evaluate(() => window.orrery.connections())
  return ids.filter((id) =>
    conns.some((x) => x.peer === id && x.direct && x.transport === 'webrtc'),
  )
}

async function poll<T>(
  what: string,
  ms: number,
  probe: () => Promise<T>,
  done: (v: T) => boolean,
): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const v = await probe()
    if (done(v)) return v
    if (Date.now() > until)
      throw new Error(`${what}: not after ${ms} ms (last seen ${JSON.stringify(v)})`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** P1..P3 install the app from the seeding relay; C connects to all three directly. */
export async function startApps(lab: Lab, app: BenchApp): Promise<AppsPeers> {
  const providers = await Promise.all(['P1', 'P2', 'P3'].map((n) => lab.peer(n, '/')))
  const c = await lab.peer('C', '/')
  const ids = await Promise.all(providers.map(idOf))
  await Promise.all(
    providers.map((p) =>
      within(
        p.page.evaluate((cid) => window.orrery.apps.install(cid).then(() => undefined), app.cid),
        60_000,
        `${p.name} installs the app from the seeding relay`,
      ),
    ),
  )
  for (const p of providers) {
    const has = await p.page.evaluate(async (cids) => {
      const store = window.orrery.internals!.blocks
      return (await Promise.all(cids.map((x) => store.has(x)))).filter(Boolean).length
    }, app.cids)
    if (has !== app.cids.length)
      throw new Error(`${p.name} has ${has} of the app's ${app.cids.length} blocks`)
  }
  const topic = Array.from(appTopic(app.cid))
  await c.page.evaluate((t) => {
    window.orrery.internals!.peer.node.services.discovery.addTopic(new Uint8Array(t))
  }, topic)
  await poll(
    'C has direct WebRTC connections to P1, P2 and P3',
    30_000,
    () => directTo(c, ids),
    (d) => d.length === ids.length,
  )
  return { providers, ids, c }
}

/** A1 (n = 1) or A3 (n = 3), REPS times: the median fetch, every fetch's ms in `samplesMs`. */
export async function fetchFrom(
  peers: AppsPeers,
  n: number,
  app: BenchApp,
  rawMBps: number,
): Promise<FetchResult> {
  const { median, samples } = await repeated(
    () => fetchOnce(peers, n, app, rawMBps),
    (v) => v.ms,
  )
  return { ...median, samplesMs: samples }
}

/** C's store emptied, then every block fetched from the first n providers. */
async function fetchOnce(
  peers: AppsPeers,
  n: number,
  app: BenchApp,
  rawMBps: number,
): Promise<Omit<FetchResult, 'samplesMs'>> {
  const { c, providers, ids } = peers
  const direct = await directTo(c, ids)
  if (direct.length !== ids.length)
    throw new Error(`C has direct WebRTC connections to ${direct.length} of 3 providers`)
  const before = await Promise.all(providers.map(statsOf))
  const got = await within(
    c.page.evaluate(
      async ({ cids, providers }) => {
        const b = window.orrery.internals!
        const blocks = b.peer.node.services.blocks
        for (const cid of cids) await b.blocks.delete(cid)
        const left = (await Promise.all(cids.map((x) => b.blocks.has(x)))).filter(Boolean)
        if (left.length > 0) throw new Error(`${left.length} blocks still in C's store`)
        if ((await b.blocks.pins()).length > 0) throw new Error('C has pinned apps')
        const fetched = blocks.stats().fetchedBlocks
        const t0 = performance.now()
        await blocks.fetch(cids, providers)
        const ms = performance.now() - t0
        const have = (await Promise.all(cids.map((x) => b.blocks.has(x)))).filter(Boolean)
        return { ms, fetched: blocks.stats().fetchedBlocks - fetched, have: have.length }
      },
      { cids: app.cids, providers: ids.slice(0, n) },
    ),
    60_000,
    `C fetches the app from ${n} provider(s)`,
  )
  if (got.have !== app.cids.length)
    throw new Error(`after the fetch C has ${got.have} of ${app.cids.length} blocks`)
  const after = await Promise.all(providers.map(statsOf))
  const mbps = app.bytes / 1e6 / (got.ms / 1000)
  return {
    ms: got.ms,
    mbps,
    blocks: got.fetched,
    bytes: app.bytes,
    served: Object.fromEntries(
      providers.map((p, i) => [p.name, after[i]!.servedBlocks - before[i]!.servedBlocks]),
    ),
    rawMBps,
    ratio: mbps / rawMBps,
  }
}

async function relayJson<T>(lab: Lab, path: string): Promise<T> {
  return (await (await fetch(lab.url(path), { cache: 'no-store' })).json()) as T
}

async function relayServed(lab: Lab): Promise<number> {
  const text = await (await fetch(lab.url('/metrics'), { cache: 'no-store' })).text()
  return Number(/orrery_relay_blocks_served_total (\d+)/.exec(text)?.[1] ?? NaN)
}

interface Health {
  reservations: number
  discovery: { peers: number; topics: number }
}

/** Waits until exactly `online` providers are connected to the relay, reserved and in discovery. */
async function providersOnline(lab: Lab, online: BenchPeer[]): Promise<void> {
  for (const p of online)
    await poll(
      `${p.name} reconnects to the relay`,
      30_000,
      () => p.page.evaluate(() => window.orrery.status().relay),
      (s) => s === 'connected',
    )
  await poll(
    `the relay sees ${online.length} provider(s) (reservations, discovery)`,
    30_000,
    () => relayJson<Health>(lab, '/health'),
    // reservations of closed peers linger; discovery members leave with their connection
    (h) => h.reservations >= online.length && h.discovery.peers === online.length,
  )
}

/** The element the shell mounted, searched through open shadow roots; or what the host says. */
function mountedState(element: string): { mounted: boolean; host: string } {
  const find = (root: Document | ShadowRoot, sel: string): Element | null => {
    const hit = root.querySelector(sel)
    if (hit !== null) return hit
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot === null) continue
      const deep = find(el.shadowRoot, sel)
      if (deep !== null) return deep
    }
    return null
  }
  const host = find(document, 'orrery-app-host')
  return {
    mounted: host?.shadowRoot?.querySelector(element) != null,
    host: host?.shadowRoot?.textContent?.replace(/\s+/g, ' ').trim().slice(0, 300) ?? 'no host',
  }
}

declare global {
  interface Window {
    __benchAppPhases?: Record<string, number>
  }
}

/**
 * Init script: wraps window.orrery.apps.install and .mount the moment main.ts assigns
 * window.orrery (a setter on window), recording when each starts, each install phase begins and
 * each ends (ms since navigation start). Only observes: arguments and results pass through.
 */
function appPhasesProbe(): void {
  const marks: Record<string, number> = {}
  window.__benchAppPhases = marks
  const at = (k: string): void => {
    marks[k] ??= Math.round(performance.now() * 10) / 10
  }
  Object.defineProperty(window, 'orrery', {
    configurable: true,
    set: (api: Window['orrery']) => {
      Object.defineProperty(window, 'orrery', { value: api, writable: true, configurable: true })
      const { install, mount } = api.apps
      api.apps.install = async (cid, onProgress) => {
        at('install-start')
        try {
          return await install(cid, (p) => {
            at(`phase-${p.phase}`)
            onProgress?.(p)
          })
        } finally {
          at('install-end')
        }
      }
      api.apps.mount = async (...args) => {
        at('mount-start')
        try {
          return await mount(...args)
        } finally {
          at('mount-end')
        }
      }
    },
  })
}

/** A fresh peer (own Chromium) opens `/#/app/<cid>`; navigation start -> the element mounted. */
async function freshLoad(
  lab: Lab,
  name: string,
  app: BenchApp,
  element: string,
  online: BenchPeer[],
): Promise<AppLoad> {
  const before = await Promise.all(online.map(statsOf))
  const relayBefore = await relayServed(lab)
  const c = await lab.peer(name)
  const log: string[] = []
  let t0 = Date.now()
  c.page.on('console', (m) => log.push(`+${Date.now() - t0} ${m.text().slice(0, 300)}`))
  await c.page.addInitScript(() => localStorage.setItem('orreryLog', 'info'))
  await c.page.addInitScript(appPhasesProbe)
  try {
    t0 = Date.now()
    await within(c.page.goto(lab.url(`/#/app/${app.cid}`)), 30_000, `${name} opens the app link`)
    const ms = await c.page
      .waitForFunction(() => window.__benchAppMounted, undefined, { timeout: 60_000, polling: 10 })
      .then((h) => h.jsonValue() as Promise<number>)
      .catch(async (e: unknown) => {
        const seen = await c.page.evaluate(mountedState, element).catch((e2: unknown) => e2)
        const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]
        const tail = log.slice(-15).join('\n      ')
        throw new Error(
          `${name}: the app was not mounted (${why}); ${JSON.stringify(seen)}\n      ${tail}`,
          { cause: e },
        )
      })
    const state = await c.page.evaluate(mountedState, element)
    if (!state.mounted) throw new Error(`${name}: <${element}> is not in orrery-app-host`)
    const [stats, timings, phases] = await Promise.all([
      statsOf(c),
      c.page.evaluate(() => window.orrery.timings()),
      c.page.evaluate(() => window.__benchAppPhases ?? {}),
    ])
    const after = await Promise.all(online.map(statsOf))
    return {
      ms,
      providers: online.length,
      fetchedBlocks: stats.fetchedBlocks,
      served: Object.fromEntries(
        online.map((p, i) => [p.name, after[i]!.servedBlocks - before[i]!.servedBlocks]),
      ),
      relayServed: (await relayServed(lab)) - relayBefore,
      timings,
      phases,
      log,
    }
  } finally {
    await lab.closePeer(c)
  }
}

/** AAPP: relay seeding off; a fresh peer loads the app from 3 providers, another from 1. */
export async function appLoads(
  lab: Lab,
  peers: AppsPeers,
  app: BenchApp,
  element: string,
): Promise<AppLoadResult> {
  await lab.closePeer(peers.c) // it holds the blocks too: only P1..P3 provide
  await lab.restartRelay({ ORRERY_SEED: '0' })
  const { seeding } = await relayJson<{ seeding: boolean }>(lab, '/orrery/apps.json')
  if (seeding) throw new Error('the restarted relay still seeds')
  await providersOnline(lab, peers.providers)
  const three = await freshLoad(lab, 'C3', app, element, peers.providers)
  const [p1, p2, p3] = peers.providers as [BenchPeer, BenchPeer, BenchPeer]
  try {
    await Promise.all([lab.closePeer(p2), lab.closePeer(p3)])
    await providersOnline(lab, [p1])
    return { three, one: await freshLoad(lab, 'C1', app, element, [p1]) }
  } catch (e) {
    return { three, oneError: e instanceof Error ? e.message : String(e) }
  }
}
