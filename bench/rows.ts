/** Helpers for the table's rows (report.ts, apps-report.ts, issue-report.ts). */
import type { Outcome } from './report'

/** One number per run (undefined for a failed run). */
export const values = <T>(
  outcomes: Outcome<T>[],
  f: (v: T) => number | undefined,
): (number | undefined)[] => outcomes.map((o) => (o.ok ? f(o.value) : undefined))

/** A row without a target. */
export const none = { meets: (): boolean => true, target: '', alternative: '' }
