/**
 * `npx tsx bench/text.ts [--keys N] [--runs R]` (in the lo-only namespace, as scripts/bench.sh
 * runs the others): issue 20's rows, two headless peers (each its own Chromium process) with the
 * page on screen, the real relay and the built app.
 *
 *   TK  keystroke -> shown at the other peer: A types N keys (100 ms apart, a person's pace) at
 *       the end of a paragraph; from A's keydown to B's editor showing the character (p50 / p95;
 *       target p50 <= 20 ms)
 *   TL  keystroke -> shown locally: A's keydown to A's editor showing it (p50 / p95)
 *   TO  a 50-page page (2,000 paragraphs, 162,000 characters, a heading every 10th paragraph,
 *       a bold word in every 3rd) opened from this browser's store: navigation start -> its last
 *       paragraph on screen (target <= 1,000 ms)
 *   TB  typing in that page, in its middle: keydown -> shown (p50 / p95; target <= 16 ms)
 *
 * Clocks: both browsers run on this machine; times are `performance.timeOrigin + now()` (the
 * system clock) in each page. Prints medians over the runs and writes bench/results-text.json.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'
import { closeLabsOnSignals, Lab, within } from './lab'
import { median } from './stats'

const args = process.argv.slice(2)
const opt = (name: string, dflt: number): number => {
  const at = args.indexOf(name)
  return at >= 0 ? Number(args[at + 1]) : dflt
}
const KEYS = opt('--keys', 100)
/** `--profile`: a CPU profile of typing in the 50-page page, its top functions printed */
const PROFILE = args.includes('--profile')
/** `--trace`: where the main thread's time went while typing in it (Chromium's trace events) */
const TRACE = args.includes('--trace')
const RUNS = opt('--runs', 3)
const PARAGRAPHS = 2000
const PARA = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. '

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** Defines `__findEditor()` in a page: its editor, inside the shell's shadow roots. */
const FIND_EDITOR = `window.__findEditor = () => {
  const deep = (root) => {
    const hit = root.querySelector('[data-testid="text-editor"]')
    if (hit !== null) return hit
    for (const el of root.querySelectorAll('*'))
      if (el.shadowRoot !== null) {
        const f = deep(el.shadowRoot)
        if (f !== null) return f
      }
    return null
  }
  return deep(document)
}`

/** Installs, in a page, a record of when its editor's text grew (and a keydown record). */
async function watchEditor(page: Page): Promise<void> {
  await page.evaluate(FIND_EDITOR)
  await page.waitForFunction(
    () => {
      const ed = (window as unknown as { __findEditor: () => Element | null }).__findEditor()
      if (ed === null) return false
      const w = window as unknown as Record<string, unknown>
      const grew: number[] = []
      const painted: number[] = []
      const keys: number[] = []
      let last = ed.textContent?.length ?? 0
      new MutationObserver(() => {
        // the time first: reading a 162,000-character editor's text takes milliseconds itself
        const at = performance.timeOrigin + performance.now()
        const n = ed.textContent?.length ?? 0
        const before = grew.length
        for (; last < n; last++) grew.push(at)
        last = n
        // and when the frame showing it was done (its paint and commit): the next task after
        // the animation frame
        if (grew.length > before)
          requestAnimationFrame(() => {
            const ch = new MessageChannel()
            ch.port1.onmessage = () => {
              const t = performance.timeOrigin + performance.now()
              for (let i = painted.length; i < grew.length; i++) painted.push(t)
            }
            ch.port2.postMessage(0)
          })
      }).observe(ed, { childList: true, characterData: true, subtree: true })
      const queued: number[] = []
      ed.addEventListener(
        'keydown',
        (e) => {
          keys.push(performance.timeOrigin + e.timeStamp)
          queued.push(performance.now() - e.timeStamp) // how long the event waited for the page
        },
        true,
      )
      w['__queued'] = queued
      w['__painted'] = painted
      w['__grew'] = grew
      w['__keys'] = keys
      w['__editor'] = ed
      return true
    },
    undefined,
    { timeout: 30_000 },
  )
}

const grew = (page: Page): Promise<number[]> =>
  page.evaluate(() => (window as unknown as { __grew: number[] }).__grew.slice())
const paintedAt = (page: Page): Promise<number[]> =>
  page.evaluate(() => (window as unknown as { __painted: number[] }).__painted.slice())
const queuedAt = (page: Page): Promise<number[]> =>
  page.evaluate(() => (window as unknown as { __queued: number[] }).__queued.slice())
const keysAt = (page: Page): Promise<number[]> =>
  page.evaluate(() => (window as unknown as { __keys: number[] }).__keys.slice())

/** Puts A's caret at the end of paragraph `n` (0-based) of its editor. */
async function caretAtEnd(page: Page, n: number): Promise<void> {
  await page.evaluate((i) => {
    const ed = (window as unknown as { __editor: HTMLElement }).__editor
    const block = ed.querySelectorAll('p, h1, h2, h3')[i] ?? ed.lastElementChild
    if (block === null || block === undefined) return
    ed.focus()
    const range = document.createRange()
    range.selectNodeContents(block)
    range.collapse(false)
    const sel = getSelection()
    sel?.removeAllRanges()
    sel?.addRange(range)
  }, n)
}

/** Types `n` keys in `typist`, 100 ms apart; what each took to show in each of `shows`. */
async function typeKeys(typist: Page, n: number, shows: Page[]): Promise<number[][]> {
  const before = await Promise.all(shows.map(grew))
  const keysBefore = (await keysAt(typist)).length
  for (let i = 0; i < n; i++) {
    await typist.keyboard.press('x')
    await new Promise((r) => setTimeout(r, 100))
  }
  await new Promise((r) => setTimeout(r, 1000))
  const keys = (await keysAt(typist)).slice(keysBefore)
  return Promise.all(
    shows.map(async (p, j) => {
      const seen = (await grew(p)).slice(before[j]!.length)
      return keys.slice(0, seen.length).map((k, i) => seen[i]! - k)
    }),
  )
}

async function run(): Promise<Record<string, number>> {
  const lab = await Lab.start()
  try {
    const a = await lab.peer('A', '/')
    const doc = await a.page.evaluate(() => window.orrery.docs.createPage('bench'))
    const link = await a.page.evaluate((d) => window.orrery.docs.link(d), doc)
    const hash = new URL(link).hash
    await lab.goto(a, `/${hash}`)
    await watchEditor(a.page)
    await caretAtEnd(a.page, 0)
    await a.page.keyboard.type('Start')
    const b = await lab.peer('B', `/${hash}`)
    await watchEditor(b.page)
    await within(
      b.page.waitForFunction(
        () =>
          ((window as unknown as { __editor: HTMLElement }).__editor.textContent ?? '').includes(
            'Start',
          ),
        undefined,
        { timeout: 60_000 },
      ),
      65_000,
      'B shows the page',
    )
    // the first keystrokes also dial WebRTC: warm up until the link is direct
    await typeKeys(a.page, 20, [b.page])
    const [remote, local] = await typeKeys(a.page, KEYS, [b.page, a.page])

    // the 50-page page, made in A's tab, then opened afresh from its store
    const big = await a.page.evaluate(
      async ({ paragraphs, para }) => {
        const id = await window.orrery.docs.createPage('fifty pages')
        const t = await window.orrery.docs.text(id)
        t.edit((ops) => {
          let at = 1
          ops.splice(at, 0, para)
          at += para.length
          for (let p = 1; p < paragraphs; p++) {
            if (p % 10 === 0) ops.splitBlock(at, 'heading', { level: 2 })
            else ops.splitBlock(at, 'paragraph')
            at += 1
            ops.splice(at, 0, para)
            if (p % 3 === 0)
              ops.mark({ start: at + 6, end: at + 11, expand: 'after' }, 'strong', true)
            at += para.length
          }
        })
        t.close()
        await window.orrery.state.flush()
        return { id, link: await window.orrery.docs.link(id) }
      },
      { paragraphs: PARAGRAPHS, para: PARA },
    )
    await lab.goto(a, '/')
    const bigHash = new URL(big.link).hash
    await a.page.goto(lab.url(`/${bigHash}`))
    await a.page.evaluate(FIND_EDITOR)
    const openMs = await a.page.evaluate(async (want) => {
      const find = (window as unknown as { __findEditor: () => Element | null }).__findEditor
      for (;;) {
        const ed = find()
        if (ed !== null && ed.querySelectorAll('p, h2').length >= want) return performance.now()
        await new Promise((r) => requestAnimationFrame(r))
      }
    }, PARAGRAPHS)
    await watchEditor(a.page)
    await caretAtEnd(a.page, PARAGRAPHS / 2)
    const profiler = PROFILE ? await startProfile(a.page) : undefined
    const tracer = TRACE ? await startTrace(a.page) : undefined
    const queuedBefore = await queuedAt(a.page)
    const [paintedBefore, keysBefore] = [await paintedAt(a.page), await keysAt(a.page)]
    const [bigLocal] = await typeKeys(a.page, Math.min(KEYS, 50), [a.page])
    const bigQueued = (await queuedAt(a.page)).slice(queuedBefore.length)
    const bigKeys = (await keysAt(a.page)).slice(keysBefore.length)
    const bigPainted = (await paintedAt(a.page))
      .slice(paintedBefore.length)
      .slice(0, bigKeys.length)
      .map((t, i) => t - bigKeys[i]!)
    if (profiler !== undefined) printProfile(await profiler())
    if (tracer !== undefined) printTrace(await tracer())
    return {
      keystrokeRemoteP50: pct(remote!, 50),
      keystrokeRemoteP95: pct(remote!, 95),
      keystrokeRemoteSeen: remote!.length,
      keystrokeLocalP50: pct(local!, 50),
      keystrokeLocalP95: pct(local!, 95),
      bigOpenMs: openMs,
      bigKeystrokeP50: pct(bigLocal!, 50),
      bigKeystrokeP95: pct(bigLocal!, 95),
      bigKeyQueuedP50: pct(bigQueued, 50),
      bigPaintedP50: pct(bigPainted, 50),
      bigPaintedP95: pct(bigPainted, 95),
    }
  } catch (e) {
    console.error(lab.log.slice(-30).join('\n'))
    throw e
  } finally {
    await lab.close()
  }
}

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface CpuProfile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Starts Chromium's sampling profiler in `page`; the function stops it and returns the profile. */
async function startProfile(page: Page): Promise<() => Promise<CpuProfile>> {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 })
  await cdp.send('Profiler.start')
  return async () => ((await cdp.send('Profiler.stop')) as { profile: CpuProfile }).profile
}

/** The functions that took the most time, themselves (self) and with what they called (total). */
function printProfile(profile: CpuProfile): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const name = (n: ProfileNode): string => {
    const f = n.callFrame
    return `${f.functionName || '(anonymous)'} ${f.url.split('/').pop() ?? ''}:${f.lineNumber + 1}`
  }
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  let busy = 0
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)
    const dt = (profile.timeDeltas[i] ?? 0) / 1000
    const fn = node?.callFrame.functionName
    if (node === undefined || fn === '(idle)' || fn === '(program)') return
    busy += dt
    self.set(name(node), (self.get(name(node)) ?? 0) + dt)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)
      if (n === undefined || n.callFrame.functionName === '(root)') continue
      const k = name(n)
      if (seen.has(k)) continue
      seen.add(k)
      total.set(k, (total.get(k) ?? 0) + dt)
    }
  })
  const top = (m: Map<string, number>, n: number): string[] =>
    [...m]
      .sort((x, y) => y[1] - x[1])
      .slice(0, n)
      .map(([k, ms]) => `  ${ms.toFixed(1).padStart(8)} ms  ${k}`)
  console.log(`profile: ${busy.toFixed(0)} ms busy while typing\nself:`)
  console.log(top(self, 20).join('\n'))
  console.log('total:')
  console.log(top(total, 40).join('\n'))
}

interface TraceEvent {
  name: string
  ph: string
  dur?: number
  tid: number
  args?: { data?: { type?: string } }
}

async function startTrace(page: Page): Promise<() => Promise<TraceEvent[]>> {
  const cdp = await page.context().newCDPSession(page)
  const events: TraceEvent[] = []
  cdp.on('Tracing.dataCollected', (e) => events.push(...(e.value as unknown as TraceEvent[])))
  await cdp.send('Tracing.start', {
    categories: 'devtools.timeline,disabled-by-default-devtools.timeline,v8.execute',
    transferMode: 'ReportEvents',
  })
  return async () => {
    const done = new Promise<void>((r) => cdp.once('Tracing.tracingComplete', () => r()))
    await cdp.send('Tracing.end')
    await done
    return events
  }
}

/** Total time per kind of complete event on the renderer's main thread. */
function printTrace(events: TraceEvent[]): void {
  const main = events.find((e) => e.name === 'EventDispatch')?.tid
  const per = new Map<string, number>()
  for (const e of events) {
    if (e.tid !== main || e.ph !== 'X' || e.dur === undefined) continue
    const name = e.name === 'EventDispatch' ? `EventDispatch ${e.args?.data?.type ?? ''}` : e.name
    per.set(name, (per.get(name) ?? 0) + e.dur / 1000)
  }
  console.log('trace (main thread, ms, events nest):')
  for (const [k, ms] of [...per].sort((x, y) => y[1] - x[1]).slice(0, 30))
    console.log(`  ${ms.toFixed(1).padStart(8)}  ${k}`)
}

closeLabsOnSignals()
const runs: Record<string, number>[] = []
for (let r = 0; r < RUNS; r++) {
  const got = await run()
  console.log(`run ${r + 1}: ${JSON.stringify(got)}`)
  runs.push(got)
}
const med = (k: string): number => Math.round(median(runs.map((r) => r[k]!)) * 10) / 10
const out = {
  at: new Date().toISOString(),
  runs: RUNS,
  keys: KEYS,
  keystrokeRemoteP50: med('keystrokeRemoteP50'),
  keystrokeRemoteP95: med('keystrokeRemoteP95'),
  keystrokeLocalP50: med('keystrokeLocalP50'),
  keystrokeLocalP95: med('keystrokeLocalP95'),
  bigOpenMs: med('bigOpenMs'),
  bigKeystrokeP50: med('bigKeystrokeP50'),
  bigKeystrokeP95: med('bigKeystrokeP95'),
  bigKeyQueuedP50: med('bigKeyQueuedP50'),
  bigPaintedP50: med('bigPaintedP50'),
  bigPaintedP95: med('bigPaintedP95'),
  perRun: runs,
}
console.log(
  [
    `TK keystroke -> shown at the other peer: p50 ${out.keystrokeRemoteP50} ms, p95 ${out.keystrokeRemoteP95} ms (target p50 <= 20)`,
    `TL keystroke -> shown locally: p50 ${out.keystrokeLocalP50} ms, p95 ${out.keystrokeLocalP95} ms`,
    `TO 50-page page (${PARAGRAPHS} paragraphs) opened from the store: ${out.bigOpenMs} ms (target <= 1000)`,
    `TB typing in it: p50 ${out.bigKeystrokeP50} ms, p95 ${out.bigKeystrokeP95} ms per keystroke (target <= 16); the key event waited ${out.bigKeyQueuedP50} ms (p50) for the page; until its frame was painted: p50 ${out.bigPaintedP50} ms, p95 ${out.bigPaintedP95} ms`,
  ].join('\n'),
)
const here = path.dirname(fileURLToPath(import.meta.url))
fs.writeFileSync(path.join(here, 'results-text.json'), `${JSON.stringify(out, null, 2)}\n`)
