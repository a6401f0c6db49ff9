/** The four workloads, driven through window.orrery only. Times are in ms. */
import type { LinkKeys } from '../src/core/link-keys'
import { docLinkHash } from '../src/browser/links'
import type { ConnectionInfo } from '../src/core/connections'
import { within, type BenchPeer, type Lab } from './lab'
import { arm, armed, loadProbe, probed } from './page'

export const ROUNDS = 200
export const BURST = 5_000
export const COLD_KEYS = 10_000
/** the small document of M3S */
export const SMALL_KEYS = 10
export const VALUE_BYTES = 100

export interface W1Result {
  p50: number
  p95: number
  max: number
  rtts: number[]
  transport: string
}
export interface W2Result {
  totalMs: number
  perSecond: number
  /** A's own 5,000 awaited sets, before B has them all */
  localMs: number
}
export interface LoadResult {
  ms: number
  readyMs: number
  /** window.orrery.timings() at the moment the document was complete */
  timings: Record<string, number>
  transport: string
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}

const describeLinks = (cs: ConnectionInfo[]): string =>
  cs
    .filter((c) => c.syncing)
    .map((c) => c.transport)
    .join('+') || 'none syncing'

async function links(peer: BenchPeer): Promise<string> {
  return describeLinks(await peer.page.evaluate(() => window.orrery.connections()))
}

/** Makes the document a workload runs on, shared by A and B and synced both ways. */
export type DocMaker = (lab: Lab, a: BenchPeer, b: BenchPeer) => Promise<string>

/**
 * How the peers hold the workloads' documents. `shell`: every peer shows the document in the
 * shell (`#/doc/<id>`), as a person would (the headline); otherwise the pages stay on the home
 * view and open the document through the API only. `nested`: W3/W4's 10,000 keys live in one
 * nested map (`/<doc>/big`), as apps keep them, instead of at the document's root.
 */
export interface DocView {
  shell: boolean
  nested: boolean
}
export const SHELL_VIEW: DocView = { shell: true, nested: false }

/** A new document A created and B opened, once each has seen the other's warm-up key. */
export const syncedDoc =
  (view: DocView = SHELL_VIEW): DocMaker =>
  async (lab, a, b) => {
    const doc = await create(a)
    await show(a, doc, view)
    return warmUp(lab, a, b, doc, view)
  }

/** What each document's share link carries (its read key), as its maker gave it out. */
const shared = new Map<string, LinkKeys>()

/** A new document at `a`, its share link kept for the peers that open it. */
async function create(a: BenchPeer): Promise<string> {
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  shared.set(doc, await a.page.evaluate((d) => window.orrery.docs.linkKeys(d), doc))
  return doc
}

/** The hash of `doc`'s share link. */
export const linkHash = (doc: string): string => docLinkHash(doc, shared.get(doc))

/** `peer` (already on a page) shows `doc` in its shell, or opens it through the API only. */
async function show(peer: BenchPeer, doc: string, view: DocView): Promise<void> {
  if (view.shell) await peer.page.evaluate((h) => (location.hash = h), linkHash(doc))
  else
    await peer.page.evaluate(({ d, k }) => window.orrery.docs.open(d, k), {
      d: doc,
      k: shared.get(doc) ?? {},
    })
}

/** B opens A's `doc`; resolves once each has seen the other's warm-up key. */
export async function warmUp(
  lab: Lab,
  a: BenchPeer,
  b: BenchPeer,
  doc: string,
  view: DocView = SHELL_VIEW,
): Promise<string> {
  if (b.page.url() === 'about:blank') await lab.goto(b, view.shell ? `/${linkHash(doc)}` : '/')
  await show(b, doc, view)
  const warm = `/${doc}/warm`
  await Promise.all([arm(a.page, 'warm', warm, 2), arm(b.page, 'warm', warm, 2)])
  await a.page.evaluate((p) => window.orrery.state.set(`${p}/a`, 1), warm)
  await b.page.evaluate((p) => window.orrery.state.set(`${p}/b`, 1), warm)
  await Promise.all([armed(a.page, 'warm', warm, 30_000), armed(b.page, 'warm', warm, 30_000)])
  return doc
}

/** W1: A sets ping = i, B answers pong = i, A waits for pong i before the next round. */
export async function roundTrip(
  lab: Lab,
  a: BenchPeer,
  b: BenchPeer,
  makeDoc: DocMaker = syncedDoc(),
): Promise<W1Result> {
  const doc = await makeDoc(lab, a, b)
  await b.page.evaluate((doc) => {
    let last = -1
    const off = window.orrery.state.subscribe(`/${doc}/ping`, (v) => {
      if (typeof v !== 'number' || v === last) return
      last = v
      window.orrery.state.set(`/${doc}/pong`, v).catch((e: unknown) => console.error('pong', e))
    })
    window.__bench?.offs.push(off)
  }, doc)
  const rtts = await within(
    a.page.evaluate(
      async ({ doc, rounds }) => {
        const seen = new Map<number, number>()
        let waiting: { i: number; resolve: (t: number) => void } | undefined
        const off = window.orrery.state.subscribe(`/${doc}/pong`, (v) => {
          if (typeof v !== 'number' || seen.has(v)) return
          const t = performance.now()
          seen.set(v, t)
          if (waiting?.i === v) waiting.resolve(t)
        })
        const out: number[] = []
        try {
          for (let i = 0; i < rounds; i++) {
            let timer: ReturnType<typeof setTimeout> | undefined
            const pong = new Promise<number>((resolve, reject) => {
              waiting = { i, resolve }
              timer = setTimeout(() => reject(new Error(`round ${i}: no pong in 10 s`)), 10_000)
            })
            const t0 = performance.now()
            await window.orrery.state.set(`/${doc}/ping`, i)
            const t1 = await pong
            clearTimeout(timer)
            out.push(t1 - t0)
          }
        } finally {
          off()
        }
        return out
      },
      { doc, rounds: ROUNDS },
    ),
    120_000,
    'W1 rounds',
  )
  return {
    p50: percentile(rtts, 50),
    p95: percentile(rtts, 95),
    max: Math.max(...rtts),
    rtts: rtts.map((x) => Math.round(x * 100) / 100),
    transport: await links(a),
  }
}

/** W2: 5,000 sequential awaited sets on A, until B has observed all of them. */
export async function burst(
  lab: Lab,
  a: BenchPeer,
  b: BenchPeer,
  makeDoc: DocMaker = syncedDoc(),
): Promise<W2Result> {
  const doc = await makeDoc(lab, a, b)
  const path = `/${doc}/w2`
  await arm(b.page, 'w2', path, BURST)
  const sent = await within(
    a.page.evaluate(
      async ({ path, n }) => {
        const start = performance.timeOrigin + performance.now()
        for (let i = 0; i < n; i++) await window.orrery.state.set(`${path}/k${i}`, i)
        return { start, end: performance.timeOrigin + performance.now() }
      },
      { path, n: BURST },
    ),
    120_000,
    'W2 sets on A',
  )
  const seen = await armed(b.page, 'w2', path, 120_000)
  const totalMs = seen - sent.start
  return { totalMs, perSecond: BURST / (totalMs / 1000), localMs: sent.end - sent.start }
}

/** Where W3/W4's 10,000 keys live in `doc`: its root, or one nested map. */
export const bigPath = (doc: string, view: DocView): string =>
  view.nested ? `/${doc}/big` : `/${doc}`

/** W3 set-up: a document of 10,000 keys of ~100 poorly compressible bytes each, on disk at A. */
export async function bigDoc(a: BenchPeer, view: DocView = SHELL_VIEW): Promise<string> {
  const doc = await create(a)
  const at = bigPath(doc, view)
  await within(
    a.page.evaluate(
      async ({ at, n, bytes }) => {
        let seed = 0x2f6b1d3a // mulberry32
        const rnd = (): number => {
          seed = (seed + 0x6d2b79f5) | 0
          let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
          t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
          return ((t ^ (t >>> 14)) >>> 0) / 4294967296
        }
        const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
        for (let i = 0; i < n; i++) {
          let s = ''
          for (let j = 0; j < bytes; j++) s += abc.charAt(Math.floor(rnd() * 64))
          await window.orrery.state.set(`${at}/k${i}`, s)
        }
        await window.orrery.state.flush()
      },
      { at, n: COLD_KEYS, bytes: VALUE_BYTES },
    ),
    180_000,
    'W3 building the document on A',
  )
  return doc
}

/** M3S set-up: a small document (SMALL_KEYS keys of a few bytes) at A. */
export async function smallDoc(a: BenchPeer, view: DocView = SHELL_VIEW): Promise<string> {
  const doc = await create(a)
  const at = bigPath(doc, view)
  await within(
    a.page.evaluate(
      async ({ at, n }) => {
        for (let i = 0; i < n; i++) await window.orrery.state.set(`${at}/k${i}`, `value ${i}`)
        await window.orrery.state.flush()
      },
      { at, n: SMALL_KEYS },
    ),
    30_000,
    'A building the small document',
  )
  return doc
}

/**
 * W3: a fresh peer opens the document's share link `/#/doc/<id>?k=<key>` (or, bare, the home view, its probe opening the document
 * through the API); navigation start until all 10,000 keys are there.
 */
export async function coldJoin(
  lab: Lab,
  c: BenchPeer,
  doc: string,
  view: DocView = SHELL_VIEW,
  count = COLD_KEYS,
): Promise<LoadResult> {
  await c.page.addInitScript(loadProbe, {
    docId: doc,
    keys: shared.get(doc) ?? {},
    path: bigPath(doc, view),
    count,
  })
  const url = view.shell ? `/${linkHash(doc)}` : '/'
  await within(c.page.goto(lab.url(url)), 30_000, 'C loads the document page')
  return loaded(c, doc, view)
}

/** W4: C reloads; navigation start until all 10,000 keys are there again. */
export async function reload(
  c: BenchPeer,
  doc: string,
  view: DocView = SHELL_VIEW,
): Promise<LoadResult> {
  await within(
    c.page.evaluate(() => window.orrery.state.flush()),
    30_000,
    'C flushes before reload',
  )
  await within(c.page.reload(), 30_000, 'C reloads')
  return loaded(c, doc, view)
}

async function loaded(c: BenchPeer, doc: string, view: DocView): Promise<LoadResult> {
  const probe = await probed(c.page, bigPath(doc, view), 60_000)
  return { ms: probe.done, readyMs: probe.ready, timings: probe.timings, transport: await links(c) }
}
