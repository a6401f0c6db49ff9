/** One L3 schedule end to end: set up, run the steps, heal, judge. */
import type { Browser } from '@playwright/test'
import fs from 'node:fs'
import { L3Cluster, type Counts } from './cluster'
import { heal, type HealResult } from './heal'
import { describeStep, makeSchedule, type Step } from './schedule'

export interface L3Run {
  seed: number
  steps: number
  acked: number
  counts: Counts
  heal: HealResult
  /** what ran, step by step, with notes (printed on a failure) */
  log: string[]
  error?: string
}

const STEP_TIMEOUT_MS = 45_000

async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(timer)
  }
}

async function runStep(c: L3Cluster, s: Step): Promise<void> {
  switch (s.op) {
    case 'write':
      return c.write(s.p, s.tab, s.doc, s.n, s.shared)
    case 'writeReload':
      return c.write(s.p, s.tab, s.doc, 1, false, 'reload')
    case 'writeClose':
      await c.write(s.p, s.tab, s.doc, s.n)
      return c.close(s.p, s.tab)
    case 'open':
      await c.open(s.p)
      return
    case 'close':
      return c.close(s.p, s.tab)
    case 'offline':
      return c.offline(s.p)
    case 'twoTabs': {
      const tabs = c.profiles[s.p]!.tabs
      while (tabs.length < 2) await c.open(s.p)
      await c.write(s.p, 0, s.doc, 2)
      await c.write(s.p, 1, s.doc, 2)
      await c.close(s.p, 0)
      await c.write(s.p, 0, s.doc, 2)
      return c.offline(s.p)
    }
    case 'killRelay':
      return c.killRelay()
    case 'startRelay':
      return c.startRelay()
    case 'wait':
      await new Promise((r) => setTimeout(r, s.ms))
      return
  }
}

export async function runSchedule(
  browser: Browser,
  seed: number,
  length: number,
  healTimeoutMs: number,
): Promise<L3Run> {
  const log: string[] = [`seed ${seed}`]
  const t0 = Date.now()
  const at = (): string => `+${((Date.now() - t0) / 1000).toFixed(1)}s`
  const c = new L3Cluster(browser, (line) => log.push(`${at()}${line}`))
  const steps = makeSchedule(seed, length)
  const failed = (error: string, h?: HealResult): L3Run => ({
    seed,
    steps: steps.length,
    acked: c.acked.size,
    counts: c.counts,
    heal: h ?? {
      converged: false,
      ms: 0,
      lost: 0,
      statusClaims: 0,
      problems: [error],
      settled: 0,
      tabs: 0,
    },
    log,
    error,
  })
  try {
    await within(90_000, 'setup', c.start())
    log.push(`${at()} setup: free ${c.docs.free}, space doc ${c.docs.space}`)
    for (const [i, s] of steps.entries()) {
      log.push(`${at()} ${i}: ${describeStep(s)}`)
      await within(STEP_TIMEOUT_MS, `step ${i} (${describeStep(s)})`, runStep(c, s))
    }
    log.push(`${at()} heal`)
    const h = await within(healTimeoutMs + 60_000, 'heal', heal(c, healTimeoutMs))
    log.push(
      `${at()} healed: converged ${h.converged} in ${h.ms} ms, ${c.acked.size} acked, lost ${h.lost}, ${h.statusClaims} synced claims checked, top bar settled ${h.settled}/${h.tabs}`,
    )
    if (!h.converged) return failed(h.problems.join('\n'), h)
    return { seed, steps: steps.length, acked: c.acked.size, counts: c.counts, heal: h, log }
  } catch (e) {
    return failed(e instanceof Error ? (e.stack ?? e.message) : String(e))
  } finally {
    await c.stop()
    if (c.relayDir !== '') fs.rmSync(c.relayDir, { recursive: true, force: true })
  }
}
