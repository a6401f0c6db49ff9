/** The DIAL workload's (issue 10) rows in the printed table, its summary line and its JSON. */
import type { DialResult } from './dial'
import type { Outcome, Results, Row } from './report'
import { none, values } from './rows'

export const DIAL_ROWS: Row[] = [
  {
    workload: 'DIAL',
    metric: 'dial p50 (ms)',
    pick: (r) => values(r.DIAL, (v) => v.dial.p50),
    ...none,
  },
  {
    workload: 'DIAL',
    metric: 'dial p95 (ms)',
    pick: (r) => values(r.DIAL, (v) => v.dial.p95),
    meets: (m) => m <= 1000,
    target: '<= 1000',
    alternative: '',
  },
  {
    workload: 'DIAL',
    metric: 'dial max (ms)',
    pick: (r) => values(r.DIAL, (v) => v.dial.max),
    meets: (m) => m <= 2000,
    target: '<= 2000',
    alternative: '',
  },
  {
    workload: 'DIAL',
    metric: 'dials over 2 s',
    pick: (r) => values(r.DIAL, (v) => v.dial.over2s),
    meets: (m) => m === 0,
    target: '0',
    alternative: '',
  },
  {
    workload: 'DIAL',
    metric: 'link -> direct connection p50 (ms)',
    pick: (r) => values(r.DIAL, (v) => v.link.p50),
    ...none,
  },
  {
    workload: 'DIAL',
    metric: 'link -> direct connection p95 (ms)',
    pick: (r) => values(r.DIAL, (v) => v.link.p95),
    meets: (m) => m <= 1500,
    target: '<= 1500',
    alternative: '',
  },
  {
    workload: 'DIAL',
    metric: 'link -> direct connection max (ms)',
    pick: (r) => values(r.DIAL, (v) => v.link.max),
    ...none,
  },
  {
    workload: 'DIAL',
    metric: 'pairs connected',
    pick: (r) => values(r.DIAL, (v) => v.pairs),
    ...none,
  },
  {
    workload: 'DIAL',
    metric: 'pairs with no direct connection',
    pick: (r) => values(r.DIAL, (v) => v.failed),
    meets: (m) => m === 0,
    target: '0',
    alternative: '',
  },
]

const ms = (x: number): string => `${x.toFixed(0)} ms`
const at = (t: Record<string, number>): string =>
  Object.entries(t)
    .map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(0) : '-'}`)
    .join(', ')

export const DIAL_SUMMARY = {
  DIAL: (v: DialResult): string =>
    `${v.pairs} pairs (${v.failed} failed): dial p50 ${ms(v.dial.p50)}, p95 ${ms(v.dial.p95)}, max ${ms(v.dial.max)}, ${v.dial.over2s} over 2 s; link -> direct p50 ${ms(v.link.p50)}, p95 ${ms(v.link.p95)}, max ${ms(v.link.max)}; ${v.hedged} hedged; load ${v.load.join(' -> ')} (newcomer medians: ${at(v.milestones)})`,
}

export function dialResultsJson(
  results: Results,
  median: (xs: number[]) => number,
): Record<'DIAL', unknown> {
  const ok = (outcomes: Outcome<DialResult>[]): DialResult[] =>
    outcomes.flatMap((o) => (o.ok ? [o.value] : []))
  const runs = ok(results.DIAL)
  const med = (f: (v: DialResult) => number): number => median(runs.map(f))
  return {
    DIAL: {
      runs: results.DIAL,
      median: {
        dialP50: med((v) => v.dial.p50),
        dialP95: med((v) => v.dial.p95),
        dialMax: med((v) => v.dial.max),
        over2s: med((v) => v.dial.over2s),
        linkP50: med((v) => v.link.p50),
        linkP95: med((v) => v.link.p95),
        linkMax: med((v) => v.link.max),
        pairs: med((v) => v.pairs),
      },
    },
  }
}
