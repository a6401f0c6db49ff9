/**
 * `npm run bench:profile [-- --shell] [-- --rounds N] [-- --no-mirror]`: where a W1 round trip's time goes. Two
 * headless peers (the real relay, the built app), W1's ping/pong, with the V8 sampling profiler
 * and the Performance domain on both renderers (CDP). Prints the CPU per round trip (both
 * renderers' TaskDuration / rounds), the p50/p95 round trip, and self time grouped by bundle
 * module and by function. `--shell`: both peers show the document (`#/doc/<id>`), as a person
 * would; without it, A stays on the home screen (W1 as bench/run.ts measures it).
 * Results: bench/profile-w1.json (the last run of each mode).
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CDPSession, Page } from 'playwright-core'
import { closeLabsOnSignals, Lab, type BenchPeer } from './lab'
import { percentile, syncedDoc, type DocMaker } from './workloads'
import { floor } from './floor'
import { samplesOf, summarize, type CpuProfile } from './profile-summary'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

interface Probe {
  cdp: CDPSession
  taskStart: number
  scriptStart: number
}

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = (await cdp.send('Performance.getMetrics')) as {
    metrics: { name: string; value: number }[]
  }
  return Object.fromEntries(metrics.map((m) => [m.name, m.value]))
}

async function startProbe(page: Page, sampleUs: number): Promise<Probe> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Performance.enable', { timeDomain: 'threadTicks' })
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: sampleUs })
  const m = await metrics(cdp)
  await cdp.send('Profiler.start')
  return { cdp, taskStart: m.TaskDuration ?? 0, scriptStart: m.ScriptDuration ?? 0 }
}

async function stopProbe(
  p: Probe,
): Promise<{ profile: CpuProfile; taskMs: number; scriptMs: number }> {
  const { profile } = (await p.cdp.send('Profiler.stop')) as { profile: CpuProfile }
  const m = await metrics(p.cdp)
  return {
    profile,
    taskMs: ((m.TaskDuration ?? 0) - p.taskStart) * 1000,
    scriptMs: ((m.ScriptDuration ?? 0) - p.scriptStart) * 1000,
  }
}

/** W1's document, shown in both shells when `shell`, else opened through the API only. */
const shownDoc = (shell: boolean): DocMaker => syncedDoc({ shell, nested: false })

async function rounds(a: BenchPeer, b: BenchPeer, doc: string, n: number): Promise<number[]> {
  await b.page.evaluate((doc) => {
    let last = -1
    window.orrery.state.subscribe(`/${doc}/ping`, (v) => {
      if (typeof v !== 'number' || v === last) return
      last = v
      ;(globalThis as { __orreryTrace?: [string, number][] }).__orreryTrace?.push([
        'ping seen',
        performance.timeOrigin + performance.now(),
      ])
      window.orrery.state.set(`/${doc}/pong`, v).catch((e: unknown) => console.error('pong', e))
    })
  }, doc)
  return a.page.evaluate(
    async ({ doc, n }) => {
      let waiting: { i: number; resolve: (t: number) => void } | undefined
      const off = window.orrery.state.subscribe(`/${doc}/pong`, (v) => {
        if (typeof v === 'number' && waiting?.i === v) waiting.resolve(performance.now())
        ;(globalThis as { __orreryTrace?: [string, number][] }).__orreryTrace?.push([
          'pong seen',
          performance.timeOrigin + performance.now(),
        ])
      })
      const out: number[] = []
      const sink = (globalThis as { __orreryTrace?: [string, number][] }).__orreryTrace
      for (let i = 0; i < n; i++) {
        const pong = new Promise<number>((resolve) => (waiting = { i, resolve }))
        const t0 = performance.now()
        sink?.push(['round', performance.timeOrigin + t0])
        await window.orrery.state.set(`/${doc}/ping`, i)
        out.push((await pong) - t0)
      }
      off()
      return out
    },
    { doc, n },
  )
}

type Trace = [string, number][]

/** Init script (`--trace`): RTCDataChannel sends and message events into the core's trace. */
function traceChannels(): void {
  const now = (): number => performance.timeOrigin + performance.now()
  const sink = (label: string): void => {
    ;(globalThis as { __orreryTrace?: [string, number][] }).__orreryTrace?.push([label, now()])
  }
  const proto = RTCDataChannel.prototype
  const send = Object.getOwnPropertyDescriptor(proto, 'send')!.value as (
    this: RTCDataChannel,
    d: ArrayBuffer,
  ) => void
  proto.send = function (this: RTCDataChannel, d: ArrayBuffer) {
    sink(`dc send ${(d as ArrayBuffer).byteLength}`)
    send.call(this, d)
  } as typeof proto.send
  const desc = Object.getOwnPropertyDescriptor(proto, 'onmessage')!
  Object.defineProperty(proto, 'onmessage', {
    ...desc,
    set(this: RTCDataChannel, fn: ((e: MessageEvent) => unknown) | null) {
      desc.set!.call(
        this,
        fn === null
          ? null
          : (e: MessageEvent) => {
              sink(`dc message ${(e.data as ArrayBuffer).byteLength}`)
              return fn.call(this, e)
            },
      )
    },
  })
}

/**
 * `--trace`: the core's trace points (src/core/timings.ts) on both pages over `n` rounds; prints,
 * for each step of a round in order, its median time since the round began (a shared wall clock:
 * both browsers run on this machine).
 */
async function timeline(a: BenchPeer, b: BenchPeer, doc: string, n: number): Promise<void> {
  const on = (p: Page): Promise<void> =>
    p.evaluate(() => {
      ;(globalThis as { __orreryTrace?: Trace }).__orreryTrace = []
    })
  const off = (p: Page): Promise<Trace> =>
    p.evaluate(() => {
      const g = globalThis as { __orreryTrace?: Trace }
      const t = g.__orreryTrace ?? []
      delete g.__orreryTrace
      return t
    })
  await Promise.all([on(a.page), on(b.page)])
  const probes = await Promise.all([startProbe(a.page, 100), startProbe(b.page, 100)])
  // a known busy stretch in each page ties its profile's clock to its wall clock
  const calibrate = (p: Page): Promise<number> =>
    p.evaluate(() => {
      const t = performance.timeOrigin + performance.now()
      function orreryCalibrate(): void {
        const end = performance.now() + 3
        while (performance.now() < end);
      }
      orreryCalibrate()
      return t
    })
  const marks = await Promise.all([calibrate(a.page), calibrate(b.page)])
  const rtts = await rounds(a, b, doc, n)
  const [ta, tb] = await Promise.all([off(a.page), off(b.page)])
  const profiles = await Promise.all(probes.map(stopProbe))
  const starts = ta.filter(([l]) => l === 'round').map(([, t]) => t)
  const events = [
    ...ta.filter(([l]) => l !== 'round').map(([l, t]) => [`A ${l}`, t] as const),
    ...tb.map(([l, t]) => [`B ${l}`, t] as const),
  ].sort((x, y) => x[1] - y[1])
  // per round: the k-th occurrence of each label, as "label#k"; the median offset of each
  const offsets = new Map<string, number[]>()
  const order = new Map<string, number[]>()
  let e = 0
  for (let r = 0; r < starts.length; r++) {
    const t0 = starts[r]!
    const end = starts[r + 1] ?? Infinity
    while (e < events.length && events[e]![1] < t0) e++
    const seen = new Map<string, number>()
    let pos = 0
    for (; e < events.length && events[e]![1] < end; e++) {
      const [label, t] = events[e]!
      const l = process.env.TRACE_SIZES === undefined ? label.replace(/ \d+$/, ' n') : label
      const k = (seen.get(l) ?? 0) + 1
      seen.set(l, k)
      const key = `${l}#${k}`
      ;(offsets.get(key) ?? offsets.set(key, []).get(key)!).push(t - t0)
      ;(order.get(key) ?? order.set(key, []).get(key)!).push(pos++)
    }
  }
  console.log(`W1 timeline over ${n} rounds: p50 ${percentile(rtts, 50).toFixed(1)} ms`)
  const rows = [...offsets]
    .filter(([, xs]) => xs.length >= n / 2)
    .map(([k, xs]) => ({ k, at: percentile(xs, 50), count: xs.length }))
    .sort((x, y) => x.at - y.at)
  for (const r of rows)
    console.log(`  ${r.at.toFixed(2).padStart(7)} ms  ${r.k}  (${r.count} rounds)`)
  for (const [i, side] of (['A', 'B'] as const).entries())
    busyTimeline(side, profiles[i]!.profile, marks[i]!, starts)
}

/** What `side`'s main thread did in each 0.5 ms of a round (share of rounds, top modules). */
function busyTimeline(side: string, profile: CpuProfile, mark: number, starts: number[]): void {
  const samples = samplesOf(profile, path.join(root, 'dist'))
  const cal = samples.find(([, , fn]) => fn.startsWith('orreryCalibrate'))
  if (cal === undefined) {
    console.log(`${side}: no calibration sample`)
    return
  }
  const offsetMs = mark - cal[0] / 1000 // wall = profile ms + offset
  console.log(
    `${side}: ${samples.length} busy samples, from ${(samples[0]![0] / 1000 + offsetMs - starts[0]!).toFixed(1)} to ${(samples[samples.length - 1]![0] / 1000 + offsetMs - starts[0]!).toFixed(1)} ms after the first round (rounds end at ${(starts[starts.length - 1]! - starts[0]!).toFixed(1)})`,
  )
  const SLOT = 0.5
  const slots = new Map<number, Map<string, number>>()
  let r = 0
  for (const [t, module, , us] of samples) {
    const wall = t / 1000 + offsetMs
    while (r + 1 < starts.length && starts[r + 1]! <= wall) r++
    if (wall < starts[0]! || r + 1 >= starts.length) continue
    const slot = Math.floor((wall - starts[r]!) / SLOT)
    const m = slots.get(slot) ?? slots.set(slot, new Map()).get(slot)!
    m.set(module, (m.get(module) ?? 0) + us / 1000)
  }
  const rounds = starts.length - 1
  console.log(`\n${side} busy per 0.5 ms of a round (share of the slot, over ${rounds} rounds):`)
  for (const slot of [...slots.keys()].sort((x, y) => x - y)) {
    if (slot > 60) break
    const m = slots.get(slot)!
    const total = [...m.values()].reduce((x, y) => x + y, 0)
    const top = [...m]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 3)
      .map(([k, v]) => `${k} ${Math.round((100 * v) / (rounds * SLOT))}%`)
      .join(', ')
    console.log(
      `  ${(slot * SLOT).toFixed(1).padStart(5)} ms  ${String(Math.round((100 * total) / (rounds * SLOT))).padStart(3)}%  ${top}`,
    )
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const shell = argv.includes('--shell')
  const at = argv.indexOf('--rounds')
  const n = at >= 0 ? Number(argv[at + 1]) : 500
  const sampleUs = 100
  closeLabsOnSignals()
  // `--no-mirror`: a relay without its mirror (the tabs upload nothing), to see what it costs
  const lab = await Lab.start(
    undefined,
    [],
    argv.includes('--no-mirror') ? { ORRERY_MIRROR: '0' } : {},
  )
  try {
    const [a, b] = await Promise.all([lab.peer('A'), lab.peer('B')])
    if (argv.includes('--trace'))
      await Promise.all([a, b].map((p) => p.page.addInitScript(traceChannels)))
    await lab.goto(a, '/')
    const doc = await shownDoc(shell)(lab, a, b)
    await rounds(a, b, doc, 50) // warm-up: JIT, connection windows
    if (argv.includes('--trace')) {
      await timeline(a, b, doc, n)
      return
    }
    if (argv.includes('--floor')) {
      const f = await floor(a, b, n)
      console.log(
        `floor on these pages: raw data channel p50 ${f.rawP50.toFixed(2)} / p95 ${f.rawP95.toFixed(2)} ms; ` +
          `bare libp2p stream p50 ${f.libp2pP50.toFixed(2)} / p95 ${f.libp2pP95.toFixed(2)} ms`,
      )
      return
    }
    const probes = await Promise.all([startProbe(a.page, sampleUs), startProbe(b.page, sampleUs)])
    const rtts = await rounds(a, b, doc, n)
    const [pa, pb] = await Promise.all(probes.map(stopProbe))
    const out = {
      mode: shell ? 'shell' : 'bare-pages',
      rounds: n,
      p50: percentile(rtts, 50),
      p95: percentile(rtts, 95),
      cpuPerRoundMs: (pa!.taskMs + pb!.taskMs) / n,
      scriptPerRoundMs: (pa!.scriptMs + pb!.scriptMs) / n,
      A: summarize(pa!.profile, n, path.join(root, 'dist')),
      B: summarize(pb!.profile, n, path.join(root, 'dist')),
    }
    console.log(
      `W1 ${out.mode}: p50 ${out.p50.toFixed(1)} ms, p95 ${out.p95.toFixed(1)} ms; CPU per round ` +
        `trip (both renderers) ${out.cpuPerRoundMs.toFixed(2)} ms, script ${out.scriptPerRoundMs.toFixed(2)} ms`,
    )
    for (const side of ['A', 'B'] as const) {
      const s = out[side]
      console.log(`\n${side}: sampled ${s.totalPerRoundMs.toFixed(2)} ms per round (idle excluded)`)
      for (const [k, v] of s.buckets) console.log(`  ${v.toFixed(3).padStart(7)}  ${k}`)
      console.log('  our functions, inclusive (ms per round):')
      for (const f of s.inclusive.slice(0, 45))
        console.log(`  ${f.ms.toFixed(3).padStart(7)}  ${f.name}`)
      console.log('  top functions (self ms per round):')
      for (const f of s.top.slice(0, 25))
        console.log(`  ${f.ms.toFixed(3).padStart(7)}  ${f.name}  [${f.url}]`)
    }
    const file = path.join(root, 'bench', 'profile-w1.json')
    const all = fs.existsSync(file)
      ? (JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>)
      : {}
    all[out.mode] = { ...out, at: new Date().toISOString() }
    fs.writeFileSync(file, JSON.stringify(all, null, 2) + '\n')
  } finally {
    await lab.close()
  }
}

await main()
