/** The apps workloads' rows in the printed table, their one-line summaries and their JSON. */
import type { AppLoad, AppLoadResult, FetchResult } from './apps'
import type { Outcome, Results, Row } from './report'
import type { RawResult } from './rtc'
import { none, values } from './rows'

export const APP_ROWS: Row[] = [
  {
    workload: 'A1',
    metric: '1 MB app from 1 peer (ms)',
    pick: (r) => values(r.A1, (v) => v.ms),
    ...none,
  },
  {
    workload: 'A1',
    metric: 'block fetch, 1 peer (MB/s)',
    pick: (r) => values(r.A1, (v) => v.mbps),
    ...none,
  },
  {
    workload: 'A1',
    metric: '1 peer / raw channel',
    pick: (r) => values(r.A1, (v) => v.ratio),
    ...none,
  },
  {
    workload: 'A3',
    metric: '1 MB app from 3 peers (ms)',
    pick: (r) => values(r.A3, (v) => v.ms),
    ...none,
  },
  {
    workload: 'A3',
    metric: 'block fetch, 3 peers (MB/s)',
    pick: (r) => values(r.A3, (v) => v.mbps),
    ...none,
  },
  {
    workload: 'A3',
    metric: '3 peers / raw channel',
    pick: (r) => values(r.A3, (v) => v.ratio),
    meets: (m) => m >= 0.7,
    target: '>= 0.70',
    alternative: '',
  },
  {
    workload: 'ARAW',
    metric: 'raw data channel, 4 MiB (MB/s)',
    pick: (r) => values(r.ARAW, (v) => v.mbps),
    ...none,
  },
  {
    workload: 'AAPP',
    metric: 'fresh peer opens app, 3 providers (ms)',
    pick: (r) => values(r.AAPP, (v) => v.three.ms),
    ...none,
  },
  {
    workload: 'AAPP',
    metric: 'fresh peer opens app, 1 provider (ms)',
    pick: (r) => r.AAPP.map((o) => (o.ok ? o.value.one?.ms : undefined)),
    ...none,
  },
]

const ms = (x: number): string => `${x.toFixed(0)} ms`
const split = (served: Record<string, number>): string =>
  Object.entries(served)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ')
const fetched = (v: FetchResult): string =>
  `${ms(v.ms)}, ${v.mbps.toFixed(2)} MB/s = ${v.ratio.toFixed(2)} x raw ${v.rawMBps.toFixed(2)} MB/s; ${v.blocks} blocks served by ${split(v.served)} (of ${v.samplesMs.map((x) => x.toFixed(0)).join(' / ')} ms)`
const MILESTONES = ['relay-connected', 'discovery-answer', 'peer-dialled']
const PHASES = ['install-start', 'phase-blocks', 'install-end', 'mount-end']
const load = (v: AppLoad): string => {
  const at = (t: Record<string, number>, ks: string[]): string =>
    ks.map((k) => `${k} ${t[k]?.toFixed(0) ?? '-'}`).join(', ')
  return `${ms(v.ms)} (${v.fetchedBlocks} blocks from ${split(v.served)}; relay served ${v.relayServed}; ${at(v.timings, MILESTONES)}; ${at(v.phases, PHASES)})`
}

export const APP_SUMMARY = {
  A1: fetched,
  A3: fetched,
  ARAW: (v: RawResult): string =>
    `${v.mbps.toFixed(2)} MB/s (${(v.bytes / 1048576).toFixed(0)} MiB in ${ms(v.ms)} at the receiver, ${v.messageBytes / 1024} KiB messages; of ${(v.samplesMBps ?? []).map((x) => x.toFixed(2)).join(' / ')} MB/s)`,
  AAPP: (v: AppLoadResult): string =>
    `3 providers ${load(v.three)}; 1 provider ${v.one !== undefined ? load(v.one) : `FAILED: ${v.oneError}`}`,
}

export function appResultsJson(
  results: Results,
  median: (xs: number[]) => number,
): Record<'A1' | 'A3' | 'ARAW' | 'AAPP', unknown> {
  const ok = <T>(outcomes: Outcome<T>[]): T[] => outcomes.flatMap((o) => (o.ok ? [o.value] : []))
  const fetch = (outcomes: Outcome<FetchResult>[]): unknown => ({
    runs: outcomes,
    median: {
      ms: median(ok(outcomes).map((v) => v.ms)),
      mbps: median(ok(outcomes).map((v) => v.mbps)),
      rawMBps: median(ok(outcomes).map((v) => v.rawMBps)),
      ratio: median(ok(outcomes).map((v) => v.ratio)),
    },
  })
  const loads = ok(results.AAPP)
  return {
    A1: fetch(results.A1),
    A3: fetch(results.A3),
    ARAW: { runs: results.ARAW, median: { mbps: median(ok(results.ARAW).map((v) => v.mbps)) } },
    AAPP: {
      runs: results.AAPP,
      median: {
        threeProvidersMs: median(loads.map((v) => v.three.ms)),
        oneProviderMs: median(loads.flatMap((v) => (v.one !== undefined ? [v.one.ms] : []))),
      },
    },
  }
}
