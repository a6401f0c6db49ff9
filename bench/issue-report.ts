/**
 * The signed-writes (S1, S2, N1; issue 4) and PWA (P1, P2, P3; issue 5) workloads' rows in the
 * printed table, their one-line summaries and their JSON.
 */
import type { N1Result } from './newcomer'
import type { ColdStart, P3Result } from './pwa'
import type { Outcome, Results, Row } from './report'
import type { S1Result, S2Result } from './signed'
import { none, values } from './rows'

export const ISSUE_ROWS: Row[] = [
  {
    workload: 'S1',
    metric: 'signed round trip p50 (ms)',
    pick: (r) => values(r.S1, (v) => v.p50),
    ...none,
  },
  {
    workload: 'S1',
    metric: 'signed round trip p95 (ms)',
    pick: (r) => values(r.S1, (v) => v.p95),
    ...none,
  },
  {
    workload: 'S1',
    metric: 'signed round trip max (ms)',
    pick: (r) => values(r.S1, (v) => v.max),
    ...none,
  },
  {
    workload: 'S1',
    metric: 'p50 signed / W1 p50 same run',
    pick: (r) => values(r.S1, (v) => v.ratio),
    ...none,
  },
  {
    workload: 'S2',
    metric: '5,000 signed changes seen by B (ms)',
    pick: (r) => values(r.S2, (v) => v.totalMs),
    ...none,
  },
  {
    workload: 'S2',
    metric: 'signed changes/s',
    pick: (r) => values(r.S2, (v) => v.perSecond),
    ...none,
  },
  {
    workload: 'S2',
    metric: 'S2 ms / W2 ms same run',
    pick: (r) => values(r.S2, (v) => v.ratio),
    meets: (m) => m <= 1.15,
    target: '<= 1.15',
    alternative: '',
  },
  {
    workload: 'N1',
    metric: 'share link -> app ready (ms)',
    pick: (r) => values(r.N1, (v) => v.ms),
    meets: (m) => m <= 2500,
    target: '<= 2500',
    alternative: '',
  },
  {
    workload: 'N1',
    metric: '  sign-up form shown at (ms)',
    pick: (r) => values(r.N1, (v) => v.formMs),
    ...none,
  },
  {
    workload: 'N1',
    metric: '  Join pressed -> joined (ms)',
    pick: (r) => values(r.N1, (v) => v.joinMs),
    ...none,
  },
  {
    workload: 'N1',
    metric: '  joined -> app ready (ms)',
    pick: (r) => values(r.N1, (v) => v.afterJoinMs),
    ...none,
  },
  {
    workload: 'P1',
    metric: 'online cold start -> docs shown (ms)',
    pick: (r) => values(r.P1, (v) => v.ms),
    ...none,
  },
  {
    workload: 'P1',
    metric: 'online reload -> docs shown (ms)',
    pick: (r) => values(r.P1, (v) => v.reloadMs),
    ...none,
  },
  {
    workload: 'P2',
    metric: 'offline cold start -> docs shown (ms)',
    pick: (r) => values(r.P2, (v) => v.ms),
    meets: (m) => m <= 800,
    target: '<= 800',
    alternative: '',
  },
  {
    workload: 'P2',
    metric: 'offline reload -> docs shown (ms)',
    pick: (r) => values(r.P2, (v) => v.reloadMs),
    ...none,
  },
  {
    workload: 'P3',
    metric: 'reconnect -> B has 1,000 offline edits (ms)',
    pick: (r) => values(r.P3, (v) => v.peerMs),
    meets: (m) => m <= 2000,
    target: '<= 2000',
    alternative: '',
  },
  {
    workload: 'P3',
    metric: 'reconnect -> A reports all synced (ms)',
    pick: (r) => values(r.P3, (v) => v.syncedMs),
    meets: (m) => m <= 2000,
    target: '<= 2000',
    alternative: '',
  },
]

const ms = (x: number | undefined): string =>
  x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(x < 100 ? 2 : 0)} ms`
const at = (t: Record<string, number>, ks: string[]): string =>
  ks.map((k) => `${k} ${t[k]?.toFixed(0) ?? '-'}`).join(', ')
const cold = (v: ColdStart): string =>
  `${ms(v.ms)} cold, ${ms(v.reloadMs)} reload (${v.controlled ? 'served by the service worker' : 'NOT controlled'}; ${at(v.nav, ['responseEnd', 'domInteractive', 'scriptsEnd', 'firstContentfulPaint', 'wasmStart', 'wasmEnd'])}; ${at(v.timings, ['relay-info', 'libp2p-started', 'wasm', 'profile', 'relay-connected'])})`

export const ISSUE_SUMMARY = {
  S1: (v: S1Result): string =>
    `p50 ${ms(v.p50)}, p95 ${ms(v.p95)}, max ${ms(v.max)} over ${v.transport} (W1 same run p50 ${ms(v.unsignedP50)})`,
  S2: (v: S2Result): string =>
    `${ms(v.totalMs)}, ${v.perSecond.toFixed(0)} changes/s, ${v.signedChanges} signed changes (A's own sets ${ms(v.localMs)}; W2 same run ${ms(v.unsignedMs)}, ratio ${v.ratio?.toFixed(2) ?? '-'})`,
  N1: (v: N1Result): string =>
    `${ms(v.ms)} (form ${ms(v.formMs)}, join ${ms(v.joinMs)}, then ${ms(v.afterJoinMs)}; steps ${at(v.steps, ['form', 'joined', 'mounted', 'doc', 'role'])}; ${at(v.timings, ['relay-connected', 'discovery-answer', 'peer-dialled', 'sync-first-message'])})`,
  P1: cold,
  P2: cold,
  P3: (v: P3Result): string =>
    `B has all ${ms(v.peerMs)}, A all synced ${ms(v.syncedMs)} after reconnecting (${v.waiting} changes waiting, made in ${ms(v.editsMs)}; ${v.onlineEvent ? "from the 'online' event" : 'NO online event: from setOffline(false)'}; ${at(v.after, ['relay-connected', 'discovery-answer', 'peer-dialled', 'sync-first-message'])})`,
}

export function issueResultsJson(
  results: Results,
  median: (xs: number[]) => number,
): Record<'S1' | 'S2' | 'N1' | 'P1' | 'P2' | 'P3', unknown> {
  const ok = <T>(outcomes: Outcome<T>[]): T[] => outcomes.flatMap((o) => (o.ok ? [o.value] : []))
  const med = <T>(outcomes: Outcome<T>[], keys: (keyof T)[]): Record<string, number> =>
    Object.fromEntries(keys.map((k) => [k, median(ok(outcomes).map((v) => Number(v[k] ?? NaN)))]))
  return {
    S1: {
      runs: results.S1,
      median: med(results.S1, ['p50', 'p95', 'max', 'unsignedP50', 'ratio']),
    },
    S2: {
      runs: results.S2,
      median: med(results.S2, ['totalMs', 'perSecond', 'localMs', 'unsignedMs', 'ratio']),
    },
    N1: { runs: results.N1, median: med(results.N1, ['ms', 'formMs', 'joinMs', 'afterJoinMs']) },
    P1: { runs: results.P1, median: med(results.P1, ['ms', 'reloadMs']) },
    P2: { runs: results.P2, median: med(results.P2, ['ms', 'reloadMs']) },
    P3: { runs: results.P3, median: med(results.P3, ['peerMs', 'syncedMs', 'waiting', 'editsMs']) },
  }
}
