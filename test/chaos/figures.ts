/**
 * The chaos suite's figures: per layer, schedules run and converged, acknowledged writes and
 * how many were lost, convergence after heal (p50/p95). `npm run chaos` sets CHAOS_FIGURES to a
 * file; each layer merges its figures into it.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import type { RunFigures } from './model'

export interface LayerFigures {
  schedules: number
  converged: number
  acknowledgedWrites: number
  acknowledgedLost: number
  /** writes acknowledged but never flushed by a page that was then SIGKILLed (not promised) */
  unpromisedLost: number
  deliveries: number
  dropped: number
  duplicated: number
  reordered: number
  crashes: number
  reloads: number
  restarts: number
  throttled: number
  convergeAfterHealWallMs: { p50: number; p95: number; max: number }
  convergeAfterHealModelMs: { p50: number; p95: number; max: number }
  seed: number
  at: string
}

export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number
}

const spread = (xs: number[]) => ({
  p50: Math.round(percentile(xs, 50)),
  p95: Math.round(percentile(xs, 95)),
  max: Math.round(Math.max(0, ...xs)),
})

export function summarize(runs: RunFigures[], schedules: number, seed: number): LayerFigures {
  const sum = (k: keyof RunFigures) => runs.reduce((n, r) => n + r[k], 0)
  return {
    schedules,
    converged: runs.length,
    acknowledgedWrites: sum('acked'),
    acknowledgedLost: sum('lost'),
    unpromisedLost: sum('unpromisedLost'),
    deliveries: sum('deliveries'),
    dropped: sum('dropped'),
    duplicated: sum('duplicated'),
    reordered: sum('reordered'),
    crashes: sum('crashes'),
    reloads: sum('reloads'),
    restarts: sum('restarts'),
    throttled: sum('throttled'),
    convergeAfterHealWallMs: spread(runs.map((r) => r.convergeWallMs)),
    convergeAfterHealModelMs: spread(runs.map((r) => r.convergeModelMs)),
    seed,
    at: new Date().toISOString(),
  }
}

/** Merges one layer's figures into CHAOS_FIGURES (when set) and prints them. */
export function report(layer: string, figures: LayerFigures): void {
  console.log(`chaos ${layer}: ${JSON.stringify(figures)}`)
  const file = process.env.CHAOS_FIGURES
  if (file === undefined || file === '') return
  const all = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    : {}
  all[layer] = figures
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n')
}
