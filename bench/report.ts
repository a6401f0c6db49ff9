/** The benchmark's outputs: the table printed at the end and bench/results.json. */
import fs from 'node:fs'
import os from 'node:os'
import type { AppLoadResult, FetchResult } from './apps'
import { APP_ROWS, appResultsJson } from './apps-report'
import type { DialResult } from './dial'
import { DIAL_ROWS, dialResultsJson } from './dial-report'
import { ISSUE_ROWS, issueResultsJson } from './issue-report'
import type { N1Result } from './newcomer'
import type { ColdStart, P3Result } from './pwa'
import type { RawResult } from './rtc'
import type { S1Result, S2Result } from './signed'
import type { DocView, LoadResult, W1Result, W2Result } from './workloads'
import { none, values } from './rows'
import { median } from './stats'

export const WORKLOADS = [
  'W1',
  'W2',
  'S1',
  'S2',
  'W3',
  'W4',
  'M3',
  'M3S',
  'A1',
  'A3',
  'ARAW',
  'AAPP',
  'N1',
  'P1',
  'P2',
  'P3',
  'DIAL',
] as const
export type Workload = (typeof WORKLOADS)[number]
export const APP_WORKLOADS: readonly Workload[] = ['A1', 'A3', 'ARAW', 'AAPP']

/** One run of one workload: its result, or what went wrong. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string }

export interface Results {
  W1: Outcome<W1Result>[]
  W2: Outcome<W2Result>[]
  W3: Outcome<LoadResult>[]
  W4: Outcome<LoadResult>[]
  M3: Outcome<LoadResult>[]
  M3S: Outcome<LoadResult>[]
  A1: Outcome<FetchResult>[]
  A3: Outcome<FetchResult>[]
  ARAW: Outcome<RawResult>[]
  AAPP: Outcome<AppLoadResult>[]
  S1: Outcome<S1Result>[]
  S2: Outcome<S2Result>[]
  N1: Outcome<N1Result>[]
  P1: Outcome<ColdStart>[]
  P2: Outcome<ColdStart>[]
  P3: Outcome<P3Result>[]
  DIAL: Outcome<DialResult>[]
}

export const emptyResults = (): Results => ({
  W1: [],
  W2: [],
  W3: [],
  W4: [],
  M3: [],
  M3S: [],
  A1: [],
  A3: [],
  ARAW: [],
  AAPP: [],
  S1: [],
  S2: [],
  N1: [],
  P1: [],
  P2: [],
  P3: [],
  DIAL: [],
})

export { median }

export interface Row {
  workload: Workload
  metric: string
  pick: (r: Results) => (number | undefined)[]
  /** true when the median meets the target */
  meets: (median: number) => boolean
  target: string
  alternative: string
}

const LISTED: Row[] = [
  {
    workload: 'W1',
    metric: 'round trip p50 (ms)',
    pick: (r) => values(r.W1, (v) => v.p50),
    meets: (m) => m <= 4.5,
    target: '<= 4.5',
    alternative: 'y-webrtc 4.7',
  },
  {
    workload: 'W1',
    metric: 'round trip p95 (ms)',
    pick: (r) => values(r.W1, (v) => v.p95),
    meets: (m) => m <= 10,
    target: '<= 10',
    alternative: 'y-webrtc 11.0',
  },
  {
    workload: 'W1',
    metric: 'round trip max (ms)',
    pick: (r) => values(r.W1, (v) => v.max),
    ...none,
  },
  {
    workload: 'W2',
    metric: '5,000 changes seen by B (ms)',
    pick: (r) => values(r.W2, (v) => v.totalMs),
    meets: (m) => m <= 2200,
    target: '<= 2200',
    alternative: 'y-webrtc 4400',
  },
  {
    workload: 'W2',
    metric: 'changes/s',
    pick: (r) => values(r.W2, (v) => v.perSecond),
    meets: (m) => m >= 2300,
    target: '>= 2300',
    alternative: 'y-webrtc 1136',
  },
  {
    workload: 'W3',
    metric: 'cold join, 10,000 keys (ms)',
    pick: (r) => values(r.W3, (v) => v.ms),
    meets: (m) => m <= 1200,
    target: '<= 1200',
    alternative: 'automerge-repo 1430',
  },
  {
    workload: 'W4',
    metric: 'reload, 10,000 keys (ms)',
    pick: (r) => values(r.W4, (v) => v.ms),
    meets: (m) => m <= 240,
    target: '<= 240',
    alternative: 'y-webrtc 250',
  },
  {
    workload: 'M3',
    metric: 'link, every member offline, 10,000 keys (ms)',
    pick: (r) => values(r.M3, (v) => v.ms),
    meets: (m) => m <= 2000,
    target: '<= 2000',
    alternative: 'none without a server',
  },
  {
    workload: 'M3S',
    metric: 'link, every member offline, 10 keys (ms)',
    pick: (r) => values(r.M3S, (v) => v.ms),
    meets: (m) => m <= 1500,
    target: '<= 1500',
    alternative: 'none without a server',
  },
  ...APP_ROWS,
  ...ISSUE_ROWS,
  ...DIAL_ROWS,
]

/** Each workload's rows together, in the order of WORKLOADS (S1/S2 next to W1/W2). */
const ROWS = [...LISTED].sort(
  (x, y) => WORKLOADS.indexOf(x.workload) - WORKLOADS.indexOf(y.workload),
) // stable

const fmt = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? 'failed' : x < 100 ? x.toFixed(2) : x.toFixed(0)

export function table(results: Results, only: Set<Workload>): string {
  const head = ['workload', 'metric', 'median', 'runs', 'target', 'best alternative']
  const body = ROWS.filter((r) => only.has(r.workload)).map((row) => {
    const runs = row.pick(results)
    const m = median(runs.filter((x): x is number => x !== undefined))
    const verdict =
      row.target === '' ? '' : Number.isNaN(m) ? ' (no data)' : row.meets(m) ? ' ok' : ' MISSED'
    return [
      row.workload,
      row.metric,
      fmt(m),
      runs.map(fmt).join(' / '),
      row.target + verdict,
      row.alternative,
    ]
  })
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd()
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line)].join('\n')
}

const okValues = <T>(outcomes: Outcome<T>[]): T[] =>
  outcomes.flatMap((o) => (o.ok ? [o.value] : []))

/** The entries of `keys` that `all` has, in the order of `keys`. */
const pick = <T>(
  keys: readonly Workload[],
  all: Partial<Record<Workload, T>>,
): Partial<Record<Workload, T>> =>
  Object.fromEntries(keys.filter((k) => all[k] !== undefined).map((k) => [k, all[k]]))

/**
 * The previous file's entries for workloads not run this time: kept, each with the date and
 * Chromium of the run that measured it (`carriedOver`).
 */
function previous(
  file: string,
  only: Workload[],
): { workloads: Record<string, unknown>; carriedOver?: Record<string, unknown> } {
  let old: {
    machine?: { date?: string; chromium?: string }
    carriedOver?: Record<string, unknown>
    workloads?: Record<string, unknown>
  }
  try {
    old = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof old
  } catch {
    return { workloads: {} }
  }
  const kept = WORKLOADS.filter((w) => !only.includes(w) && old.workloads?.[w] !== undefined)
  if (kept.length === 0) return { workloads: {} }
  const from = { date: old.machine?.date, chromium: old.machine?.chromium }
  return {
    workloads: Object.fromEntries(kept.map((w) => [w, old.workloads![w]])),
    carriedOver: Object.fromEntries(kept.map((w) => [w, old.carriedOver?.[w] ?? from])),
  }
}

export function writeResults(
  file: string,
  results: Results,
  meta: {
    chromium: string
    runs: number
    only: Workload[]
    view: DocView
    /** the relay's peak resident set in each run of the document workloads */
    relayRssPeakMiB: number[]
  },
): void {
  const w1 = okValues(results.W1)
  const w2 = okValues(results.W2)
  const load = (outcomes: Outcome<LoadResult>[]): Record<string, unknown> => ({
    runs: outcomes,
    median: { ms: median(okValues(outcomes).map((v) => v.ms)) },
    timings: okValues(outcomes).map((v) => v.timings),
  })
  const prev = previous(file, meta.only)
  const json = {
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      platform: `${os.platform()} ${os.release()}`,
      node: process.version,
      chromium: meta.chromium,
      date: new Date().toISOString(),
    },
    options: { runs: meta.runs, only: meta.only, view: meta.view },
    relayRssPeakMiB: meta.relayRssPeakMiB.map((x) => Math.round(x * 10) / 10),
    ...(prev.carriedOver ? { carriedOver: prev.carriedOver } : {}),
    workloads: pick(WORKLOADS, {
      ...prev.workloads,
      ...pick(meta.only, {
        W1: {
          runs: results.W1,
          median: {
            p50: median(w1.map((v) => v.p50)),
            p95: median(w1.map((v) => v.p95)),
            max: median(w1.map((v) => v.max)),
          },
        },
        W2: {
          runs: results.W2,
          median: {
            totalMs: median(w2.map((v) => v.totalMs)),
            perSecond: median(w2.map((v) => v.perSecond)),
            localMs: median(w2.map((v) => v.localMs)),
          },
        },
        W3: load(results.W3),
        W4: load(results.W4),
        M3: load(results.M3),
        M3S: load(results.M3S),
        ...appResultsJson(results, median),
        ...issueResultsJson(results, median),
        ...dialResultsJson(results, median),
      }),
    }),
  }
  const round = (_: string, v: unknown): unknown =>
    typeof v === 'number' ? Math.round(v * 100) / 100 : v
  fs.writeFileSync(file, JSON.stringify(json, round, 2) + '\n')
}
