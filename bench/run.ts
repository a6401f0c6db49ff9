/**
 * `npm run bench [-- --runs N] [-- --only W1,W3]`: two or three headless peers (each its own
 * Chromium process) and the real relay, driven through window.orrery. Every run starts a fresh
 * relay (fresh data directory) and fresh browsers:
 *
 *   W1 round trip  A sets ping = i, B answers pong = i, 200 rounds (p50 / p95 / max)
 *   W2 burst       A makes 5,000 sequential sets; until B has seen them all (ms, changes/s)
 *   W3 cold join   a fresh peer C opens A's 10,000-key (~1 MB) document (navigation start ->
 *                  all keys present)
 *   W4 reload      C reloads (navigation start -> all keys present again, from IndexedDB)
 *
 * Prints a table of medians and writes bench/results.json. See scripts/bench.sh.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { closeLabsOnSignals, interrupted, Lab, type BenchPeer } from './lab'
import { table, WORKLOADS, writeResults, type Outcome, type Results, type Workload } from './report'
import { bigDoc, burst, coldJoin, reload, roundTrip, type LoadResult } from './workloads'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function parseArgs(argv: string[]): { runs: number; only: Workload[] } {
  let runs = 3
  let only: Workload[] = [...WORKLOADS]
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2)
    const value = (): string => inline ?? argv[++i] ?? ''
    if (flag === '--runs') runs = Number(value())
    else if (flag === '--only') {
      const names = value().toUpperCase().split(',').filter(Boolean)
      const bad = names.filter((n) => !(WORKLOADS as readonly string[]).includes(n))
      if (bad.length > 0 || names.length === 0) usage(`unknown workload(s): ${bad.join(', ')}`)
      only = WORKLOADS.filter((w) => names.includes(w))
    } else usage(`unknown argument ${argv[i]}`)
  }
  if (!Number.isInteger(runs) || runs < 1) usage('--runs needs a positive integer')
  return { runs, only }
}

function usage(problem: string): never {
  console.error(`${problem}\nusage: npm run bench -- [--runs N] [--only W1,W2,W3,W4]`)
  process.exit(2)
}

const ms = (x: number): string => `${x.toFixed(x < 100 ? 2 : 0)} ms`
const MILESTONES = ['relay-connected', 'discovery-answer', 'peer-dialled', 'sync-first-message']
const milestones = (t: Record<string, number>): string =>
  MILESTONES.map((k) => `${k} ${t[k]?.toFixed(0) ?? '-'}`).join(', ')

const summary: { [W in Workload]: (v: NonNullable<Ok<Results[W]>>) => string } = {
  W1: (v) => `p50 ${ms(v.p50)}, p95 ${ms(v.p95)}, max ${ms(v.max)} over ${v.transport}`,
  W2: (v) =>
    `${ms(v.totalMs)}, ${v.perSecond.toFixed(0)} changes/s (A's own sets took ${ms(v.localMs)})`,
  W3: (v) =>
    `${ms(v.ms)} (ready at ${ms(v.readyMs)}, over ${v.transport}; ${milestones(v.timings)})`,
  W4: (v) => `${ms(v.ms)} (ready at ${ms(v.readyMs)})`,
}
type Ok<T> = T extends Outcome<infer V>[] ? V : never

/** One run: a fresh relay and browsers; the selected workloads in order. */
async function oneRun(lab: Lab, only: Set<Workload>, results: Results): Promise<string> {
  let logFrom = 0
  const measure = async <W extends Workload>(
    w: W,
    work: () => Promise<Ok<Results[W]>>,
    record = true,
  ): Promise<Ok<Results[W]> | undefined> => {
    logFrom = lab.log.length
    try {
      const value = await work()
      if (record) {
        ;(results[w] as Outcome<Ok<Results[W]>>[]).push({ ok: true, value })
        console.log(`  ${w}: ${summary[w](value)}`)
      }
      return value
    } catch (e) {
      if (interrupted()) return undefined
      const error = e instanceof Error ? e.message : String(e)
      if (record) (results[w] as Outcome<unknown>[]).push({ ok: false, error })
      console.log(`  ${w} FAILED: ${error}`)
      const seen = lab.log.slice(logFrom)
      console.log(seen.length > 0 ? seen.map((l) => `    ${l}`).join('\n') : '    (no page errors)')
      return undefined
    }
  }

  const needB = only.has('W1') || only.has('W2')
  const needC = only.has('W3') || only.has('W4')
  const [a, b] = await Promise.all([
    lab.peer('A', '/'),
    needB ? lab.peer('B') : Promise.resolve(undefined),
  ])
  const chromium = a.browser.version()
  if (b !== undefined) {
    if (only.has('W1')) await measure('W1', () => roundTrip(lab, a, b))
    if (only.has('W2')) await measure('W2', () => burst(lab, a, b))
    await lab.closePeer(b) // not part of W3/W4
  }
  if (needC) {
    let c: BenchPeer | undefined
    let doc = ''
    const join = async (): Promise<LoadResult> => {
      doc = await bigDoc(a)
      c = await lab.peer('C')
      return coldJoin(lab, c, doc)
    }
    const w3 = await measure('W3', join, only.has('W3'))
    if (only.has('W4') && !interrupted()) {
      if (w3 === undefined || c === undefined) {
        results.W4.push({ ok: false, error: 'W3 (its set-up) failed' })
        console.log('  W4 skipped: W3 (its set-up) failed')
      } else await measure('W4', () => reload(c!, doc))
    }
  }
  return chromium
}

async function main(): Promise<void> {
  const { runs, only } = parseArgs(process.argv.slice(2))
  process.chdir(root)
  closeLabsOnSignals()
  const results: Results = { W1: [], W2: [], W3: [], W4: [] }
  let chromium = 'unknown'
  const started = Date.now()
  for (let run = 1; run <= runs && !interrupted(); run++) {
    console.log(`run ${run}/${runs}`)
    let lab: Lab | undefined
    try {
      lab = await Lab.start()
      chromium = await oneRun(lab, new Set(only), results)
    } catch (e) {
      console.log(`  run ${run} FAILED: ${e instanceof Error ? e.message : String(e)}`)
      for (const w of only)
        if (results[w].length < run) results[w].push({ ok: false, error: 'run failed' })
    } finally {
      const problems = interrupted() ? [] : [...new Set(lab?.log ?? [])]
      if (problems.length > 0) {
        console.log(`  page/relay errors and warnings this run (${problems.length} distinct):`)
        for (const p of problems.slice(0, 20)) console.log(`    ${p.slice(0, 400)}`)
      }
      await lab?.close()
    }
  }
  if (interrupted()) return new Promise(() => undefined) // the signal handler exits
  console.log(`\n${table(results, new Set(only))}\n`)
  const file = path.join(root, 'bench', 'results.json')
  writeResults(file, results, { chromium, runs, only })
  console.log(
    `wrote ${path.relative(root, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  )
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
