/** Runs one workload of one run: records its result (or error), prints a one-line summary. */
import { APP_SUMMARY } from './apps-report'
import { DIAL_SUMMARY } from './dial-report'
import { ISSUE_SUMMARY } from './issue-report'
import { interrupted, type Lab } from './lab'
import type { Outcome, Results, Workload } from './report'

export type Ok<T> = T extends Outcome<infer V>[] ? V : never

export type Measure = <W extends Workload>(
  w: W,
  work: () => Promise<Ok<Results[W]>>,
  record?: boolean,
) => Promise<Ok<Results[W]> | undefined>

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
  M3: (v) => `${ms(v.ms)} (ready at ${ms(v.readyMs)}), from the mirror alone`,
  M3S: (v) => `${ms(v.ms)} (ready at ${ms(v.readyMs)}), from the mirror alone`,
  ...APP_SUMMARY,
  ...ISSUE_SUMMARY,
  ...DIAL_SUMMARY,
}

/**
 * `measure(w, work, record)`: runs `work`; when `record`, its value (or its error) is this run's
 * outcome of `w`. A failure prints the page and relay errors seen meanwhile.
 */
export function measurer(lab: Lab, results: Results): Measure {
  return async (w, work, record = true) => {
    const logFrom = lab.log.length
    try {
      const value = await work()
      if (record) {
        ;(results[w] as Outcome<typeof value>[]).push({ ok: true, value })
        console.log(`  ${w}: ${summary[w](value as never)}`)
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
}
