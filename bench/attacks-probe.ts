/**
 * What an attack costs the victim's process, measured from inside it (bench/attacks.ts): memory
 * growth over a baseline, the event loop's longest stall, and round-trip percentiles.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const MiB = 1024 * 1024

setFlagsFromString('--expose-gc')
const gcFn = runInNewContext('gc') as (() => void) | undefined

/** A full collection, so a baseline is not inflated by garbage the last attack left. */
export function collect(): void {
  gcFn?.()
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN
}

export interface Cost {
  /**
   * peak growth of V8 heap + external (array buffers and Automerge's wasm memory), MiB, sampled
   * every 100 ms: it includes garbage not yet collected (V8 starts a collection for array buffers
   * only once external memory has grown by about 64 MiB since the last one)
   */
  memPeakMiB: number
  /** growth still reachable while the attack runs: the most of 5 samples, each after a full GC */
  liveMiB: number
  /** peak growth of the resident set, MiB */
  rssPeakMiB: number
  /** growth still held after the attack stopped and a full collection, MiB */
  memAfterMiB: number
  /** wasm memory (external minus array buffers) growth at the end, MiB */
  wasmMiB: number
  /** longest event-loop delay (monitorEventLoopDelay, 10 ms resolution), ms */
  loopMaxMs: number
  /** worst lateness of a 10 ms interval timer, ms */
  timerLateMs: number
}

const held = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external
const wasm = (m: NodeJS.MemoryUsage): number => m.external - m.arrayBuffers
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Collects twice around a pause: external memory is accounted some time after it is freed. */
async function settle(): Promise<void> {
  collect()
  await sleep(500)
  collect()
}

/**
 * Starts measuring now (collect first). `live()`, called while the attack still runs, ends the
 * stall timers (its collections would stall the loop) and samples reachable memory; `stop()`
 * after the attack gives the cost.
 */
export function probe(): { live: () => Promise<void>; stop: () => Promise<Cost> } {
  collect()
  const base = process.memoryUsage()
  let peak = held(base)
  let peakRss = base.rss
  let live = 0
  const sample = (): void => {
    const m = process.memoryUsage()
    peak = Math.max(peak, held(m))
    peakRss = Math.max(peakRss, m.rss)
  }
  const sampler = setInterval(sample, 100)
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  let expected = performance.now() + 10
  let late = 0
  const timer = setInterval(() => {
    const now = performance.now()
    late = Math.max(late, now - expected)
    expected = now + 10
  }, 10)
  let timing = true
  const endTiming = (): void => {
    if (!timing) return
    timing = false
    sample()
    clearInterval(sampler)
    clearInterval(timer)
    loop.disable()
  }
  return {
    live: async () => {
      endTiming()
      for (let i = 0; i < 5; i++) {
        await sleep(200)
        collect()
        live = Math.max(live, held(process.memoryUsage()) - held(base))
      }
    },
    stop: async () => {
      endTiming()
      // what is kept: after the victim has seen the attacker's streams end
      await sleep(1000)
      await settle()
      const end = process.memoryUsage()
      return {
        memPeakMiB: (peak - held(base)) / MiB,
        liveMiB: live / MiB,
        rssPeakMiB: (peakRss - base.rss) / MiB,
        memAfterMiB: (held(end) - held(base)) / MiB,
        wasmMiB: (wasm(end) - wasm(base)) / MiB,
        loopMaxMs: loop.max / 1e6,
        timerLateMs: late,
      }
    },
  }
}
