/**
 * DIAL (issue 10): how long two tabs that never met take to get a direct WebRTC connection, over
 * many fresh pairs. Two Chromium processes stay up (M for members, N for newcomers); each pair is
 * a fresh context in each (own storage, own libp2p key, own certificate), and the relay is
 * restarted every PAIRS_PER_RELAY pairs. Per pair: the member opens the shell, creates a document
 * and waits until its relayed WebRTC address is announced (a member that has been online a
 * while); then the newcomer opens the document's link. Measured, on the pages' shared wall clock:
 *
 *   dial   the first discovery dial between the two (either side; normally the newcomer's) ->
 *          the newcomer's direct WebRTC connection open
 *   link   the newcomer's navigation start -> the same moment
 *
 * Both pages run with the RTCPeerConnection trace (rtc-trace.ts); the pairs whose dial took over
 * SLOW_MS keep both sides' traces, printed after the run and saved in results.json.
 */
import os from 'node:os'
import type { Page } from 'playwright-core'
import { within, type BenchPeer, type Lab } from './lab'
import { rtcTraceProbe, type RtcTrace } from './rtc-trace'
import { percentile } from './workloads'

export const DIAL_PAIRS = 100
const PAIRS_PER_RELAY = 25
/** a dial slower than this keeps its traces (DIAL_SLOW_MS=0 keeps every pair's, up to MAX_SLOW) */
const SLOW_MS = Number(process.env.DIAL_SLOW_MS ?? 1_000)
const OVER_MS = 2_000
/** at most this many slow pairs' traces are kept per run */
const MAX_SLOW = 12

export interface Spread {
  p50: number
  p95: number
  max: number
}

/** What one side of a slow pair did: its dial and connection trace, its RTCPeerConnections. */
export interface SideTrace {
  /** [ms since the dial start, what] from the app's trace (dial start/ok/fail, conn open/close) */
  app: [number, string][]
  /** each RTCPeerConnection: made at ms since the dial start, its events */
  rtc: { at: number; events: [number, string][] }[]
}

export interface SlowPair {
  pair: number
  dialMs: number
  linkMs: number
  newcomer: SideTrace
  member: SideTrace
}

export interface DialResult {
  pairs: number
  /** pairs that got no direct connection within the time allowed */
  failed: number
  dial: Spread & { over2s: number }
  link: Spread
  /** per pair, in order: [dial ms, link ms] */
  samples: [number, number][]
  /** the newcomer's boot milestones, median over the pairs (ms since navigation start) */
  milestones: Record<string, number>
  /** pairs whose dial started a second attempt (dialer.ts: no progress for hedgeMs) */
  hedged: number
  /** the machine's 1-minute load average before and after (2 cores: above 2 is queueing) */
  load: [number, number]
  slow: SlowPair[]
}

interface SideData {
  origin: number
  timings: Record<string, number>
  trace: [string, number][]
  rtc: RtcTrace[]
}

async function side(page: Page): Promise<SideData> {
  return page.evaluate(() => ({
    origin: performance.timeOrigin,
    timings: window.orrery.timings(),
    trace: (window.__orreryTrace ?? []).filter(([l]) =>
      /^(dial|conn|relay|discovery|mark)/.test(l),
    ),
    rtc: window.__rtcTraces ?? [],
  }))
}

const round = (x: number): number => Math.round(x * 10) / 10

function sideTrace(d: SideData, from: number): SideTrace {
  return {
    app: d.trace.map(([l, t]) => [round(t - from), l]),
    rtc: d.rtc.map((r) => ({ at: round(r.created - from), events: r.events })),
  }
}

/**
 * The member is reachable and has been for a while: its relayed WebRTC address is reserved, and
 * the announce libp2p's address update triggers (debounced ~1 s) is behind it. (A member that
 * JOINs again is answered with every member, the newcomer too: its announce must not fall in
 * the middle of the newcomer's dial.)
 */
async function announced(page: Page): Promise<void> {
  await within(
    page.evaluate(async () => {
      const node = window.orrery.internals?.peer.node
      if (node === undefined) throw new Error('no internals after ready')
      const updated = new Promise<void>((resolve) => {
        node.addEventListener('self:peer:update', () => resolve(), { once: true })
        setTimeout(resolve, 2_500)
      })
      while (!node.getMultiaddrs().some((a) => a.toString().includes('/p2p-circuit/webrtc')))
        await new Promise((r) => setTimeout(r, 20))
      await updated
      node.services.discovery.announce()
      await new Promise((r) => setTimeout(r, 50))
    }),
    20_000,
    'the member reserves a relayed address',
  )
}

/**
 * The member's service worker is installed (its precache done), as for a member that has been
 * online a while: a first visit's precache is seconds of CPU that must not fall in the
 * newcomer's measured dial. (The page registers its worker after its first direct connection or
 * a few seconds: service-worker.ts.)
 */
async function memberWorker(page: Page): Promise<void> {
  await within(
    page.evaluate(async () => {
      await navigator.serviceWorker.ready
    }),
    30_000,
    "the member's service worker is installed",
  )
}

export interface PairOutcome {
  dialMs: number
  linkMs: number
  /** a second attempt was started next to the first */
  hedged: boolean
  milestones: Record<string, number>
  slow?: SlowPair
}

export async function pair(lab: Lab, m: BenchPeer, n: BenchPeer, i: number): Promise<PairOutcome> {
  const [member, newcomer] = await Promise.all([
    lab.freshContext(m, `M${i}`),
    lab.freshContext(n, `N${i}`),
  ])
  try {
    await Promise.all([
      member.page.addInitScript(rtcTraceProbe),
      newcomer.page.addInitScript(rtcTraceProbe),
    ])
    await within(member.page.goto(lab.url('/')), 30_000, 'the member loads the shell')
    await within(
      member.page.evaluate(() => window.orrery.ready),
      30_000,
      'member ready',
    )
    const doc = await member.page.evaluate(() => window.orrery.docs.create())
    await announced(member.page)
    await memberWorker(member.page)
    const link = await member.page.evaluate((d) => window.orrery.docs.link(d), doc)
    await within(
      newcomer.page.goto(lab.url(`/${new URL(link).hash}`)), // the share link, on this lab's host
      30_000,
      'the newcomer loads',
    )
    await newcomer.page
      .waitForFunction(() => window.orrery.timings()['webrtc-open'], undefined, {
        timeout: 30_000,
        polling: 10,
      })
      .catch((e: unknown) => {
        throw new Error(`pair ${i}: no direct connection in 30 s`, { cause: e })
      })
    const [nd, md] = await Promise.all([side(newcomer.page), side(member.page)])
    const open = nd.origin + nd.timings['webrtc-open']!
    const starts = [...nd.trace, ...md.trace]
      .filter(([l, t]) => l.startsWith('dial start') && t >= nd.origin)
      .map(([, t]) => t)
    const dialStart = Math.min(...starts)
    if (!Number.isFinite(dialStart)) throw new Error(`pair ${i}: connected without a dial`)
    const dialMs = open - dialStart
    const linkMs = nd.timings['webrtc-open']!
    // when the relayed connection the dial signals over was up (ms since navigation start)
    const circuit = nd.trace.find(([l]) => /^conn open \S+ outbound circuit/.test(l))?.[1]
    const milestones: Record<string, number> = { ...nd.timings }
    if (circuit !== undefined) milestones['circuit-open'] = circuit - nd.origin
    const hedged = [...nd.trace, ...md.trace].some(([l]) => /^dial attempt \S+ 1$/.test(l))
    const out: PairOutcome = { dialMs, linkMs, milestones, hedged }
    if (dialMs > SLOW_MS)
      out.slow = {
        pair: i,
        dialMs: round(dialMs),
        linkMs: round(linkMs),
        newcomer: sideTrace(nd, dialStart),
        member: sideTrace(md, dialStart),
      }
    return out
  } finally {
    await Promise.all([member.context.close(), newcomer.context.close()]).catch(() => undefined)
  }
}

const spread = (xs: number[]): Spread => ({
  p50: percentile(xs, 50),
  p95: percentile(xs, 95),
  max: Math.max(...xs),
})

const MILESTONES = [
  'relay-info',
  'libp2p-started',
  'relay-connected',
  'discovery-answer',
  'peer-dial',
  'circuit-open',
  'webrtc-open',
]

/** DIAL: `pairs` fresh pairs, one after the other. */
export async function dialPairs(lab: Lab, pairs = DIAL_PAIRS): Promise<DialResult> {
  const [m, n] = await Promise.all([lab.peer('M'), lab.peer('N')])
  const samples: [number, number][] = []
  const slow: SlowPair[] = []
  const boots: Record<string, number>[] = []
  let failed = 0
  let hedged = 0
  const loadBefore = os.loadavg()[0]!
  for (let i = 0; i < pairs; i++) {
    if (i > 0 && i % PAIRS_PER_RELAY === 0) await lab.restartRelay({})
    try {
      const p = await pair(lab, m, n, i)
      samples.push([round(p.dialMs), round(p.linkMs)])
      boots.push(p.milestones)
      if (p.hedged) hedged++
      if (p.slow !== undefined && slow.length < MAX_SLOW) slow.push(p.slow)
    } catch (e) {
      failed++
      const why = e instanceof Error ? e.message : String(e)
      console.log(`  DIAL pair ${i} failed: ${why}`)
      lab.note(`[DIAL] ${why}`)
      if (failed > Math.max(3, pairs / 10))
        throw new Error(`${failed} pairs failed, the last: ${why}`, { cause: e })
    }
    if ((i + 1) % 10 === 0 || i + 1 === pairs) {
      const so = samples.map(([d]) => d)
      console.log(
        `  DIAL ${i + 1}/${pairs} pairs: dial p50 ${percentile(so, 50)} ms, p95 ${percentile(so, 95)} ms, ${failed} failed`,
      )
    }
  }
  if (samples.length === 0) throw new Error('no pair connected')
  const dials = samples.map(([d]) => d)
  const milestones = Object.fromEntries(
    MILESTONES.map((k) => [
      k,
      percentile(
        boots.map((b) => b[k] ?? NaN).filter((x) => Number.isFinite(x)),
        50,
      ),
    ]),
  )
  return {
    pairs: samples.length,
    failed,
    dial: { ...spread(dials), over2s: dials.filter((d) => d > OVER_MS).length },
    link: spread(samples.map(([, l]) => l)),
    samples,
    milestones,
    hedged,
    load: [round(loadBefore), round(os.loadavg()[0]!)],
    slow,
  }
}

/** The slow pairs' traces, for the console. */
export function describeSlow(slow: SlowPair[]): string {
  const lines: string[] = []
  const sideLines = (name: string, s: SideTrace): void => {
    lines.push(`    ${name}:`)
    for (const [t, l] of s.app) lines.push(`      ${t.toFixed(0).padStart(6)}  ${l}`)
    for (const r of s.rtc) {
      lines.push(`      RTCPeerConnection made at ${r.at.toFixed(0)}:`)
      for (const [t, e] of r.events) lines.push(`        +${t.toFixed(0).padStart(5)}  ${e}`)
    }
  }
  for (const p of slow) {
    lines.push(`  pair ${p.pair}: dial ${p.dialMs.toFixed(0)} ms, link ${p.linkMs.toFixed(0)} ms`)
    sideLines('newcomer', p.newcomer)
    sideLines('member', p.member)
  }
  return lines.join('\n')
}
