/**
 * The shared fuzz harness: feeds a decoder of network input random bytes and mutations of valid
 * frames (truncations, bit flips, lying lengths, splices) under fast-check, and checks that every
 * input is answered with a value or a typed error (`name` and `code`), never a throw.
 *
 * Time and allocation are measured so that pass/fail does not depend on how busy the machine is:
 * every input is timed once (wall clock); the slowest are re-run, timed in CPU time of this
 * process, and only an input that is over the limit on every re-run fails. Allocation is measured
 * around the slowest and the largest inputs (see `allocationOf`).
 *
 * `FUZZ_RUNS` sets the inputs per decoder (10,000 in the test command; `npm run fuzz` runs more)
 * and `FUZZ_SEED` the seed (fixed by default, so a CI failure reproduces).
 */
import fc from 'fast-check'
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { expect } from 'vitest'

export const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000)
export const SEED = Number(process.env.FUZZ_SEED ?? 0x0f022)
export const TIME_LIMIT_MS = 50
export const ALLOC_LIMIT_BYTES = 16 * 1024 * 1024
/** re-runs of each slow input; it fails only if every one of them is over the limit */
const REMEASURES = 5
/** rounds of re-runs, apart in time, before a slow input fails (the machine may be busy) */
const ROUNDS = 5
const ROUND_PAUSE_MS = 500
const SLOWEST_KEPT = 6

// ---- mutations ---------------------------------------------------------------------------------

/** lengths a lying length prefix claims: edges of varint byte counts and of 32/53-bit numbers */
const LIES = [
  0,
  1,
  2,
  31,
  32,
  63,
  64,
  0x7f,
  0x80,
  0xff,
  0x3fff,
  0x4000,
  0xffff,
  0x1fffff,
  0x200000,
  0xffffff,
  0x1000000,
  0xfffffff,
  0x10000000,
  0x7fffffff,
  0xffffffff,
  2 ** 32,
  2 ** 53 - 1,
]

export function varintBytes(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

const MUTATIONS = 12
/** one mutation: [kind, position, x, y] (numbers; each kind reads them its own way) */
export type Mutation = [number, number, number, number]

function splice(b: Uint8Array, at: number, remove: number, insert: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(b.length - remove + insert.length)
  out.set(b.subarray(0, at), 0)
  out.set(insert, at)
  out.set(b.subarray(at + remove), at + insert.length)
  return out
}

/** Applies one mutation; never changes `b` (pool frames are shared). */
export function mutate(b: Uint8Array, m: Mutation, pool: readonly Uint8Array[]): Uint8Array {
  const [kind, p, x, y] = m
  const len = b.length
  const at = len === 0 ? 0 : p % len
  const atOrEnd = p % (len + 1)
  switch (kind % MUTATIONS) {
    case 0: // truncate
      return b.slice(0, atOrEnd)
    case 1: // drop a prefix
      return b.slice(atOrEnd)
    case 2: {
      // flip one bit
      if (len === 0) return b
      const c = b.slice()
      c[at] = (c[at] as number) ^ (1 << (x % 8))
      return c
    }
    case 3: {
      // set one byte
      if (len === 0) return b
      const c = b.slice()
      c[at] = x & 0xff
      return c
    }
    case 4: // insert 1..8 bytes
      return splice(
        b,
        atOrEnd,
        0,
        Array.from({ length: (x % 8) + 1 }, (_, i) => (y >>> ((i % 4) * 8)) & 0xff),
      )
    case 5: // delete 1..16 bytes
      return splice(b, at, Math.min(len - at, (x % 16) + 1), [])
    case 6: {
      // a lying length: overwrite 1..3 bytes with the varint of a big or off-by-one number
      const lie =
        y % 3 === 0 ? Math.max(0, len - at + (x % 5) - 2) : (LIES[x % LIES.length] as number)
      return splice(b, at, Math.min(len - at, (y % 3) + 1), varintBytes(lie))
    }
    case 7: // the same, inserted
      return splice(b, atOrEnd, 0, varintBytes(LIES[x % LIES.length] as number))
    case 8: {
      // splice: this frame's head, another frame's tail
      const other = pool[x % pool.length] as Uint8Array
      const from = other.length === 0 ? 0 : y % other.length
      return splice(b, atOrEnd, len - atOrEnd, other.subarray(from))
    }
    case 9: {
      // duplicate a range (a repeated field or record)
      const n = Math.min(len - at, (x % 64) + 1)
      return splice(b, atOrEnd, 0, b.slice(at, at + n))
    }
    case 10: {
      // a byte off by one (lengths and counts one too big or small)
      if (len === 0) return b
      const c = b.slice()
      c[at] = ((c[at] as number) + (x % 2 === 0 ? 1 : 255)) & 0xff
      return c
    }
    default:
      // an over-long varint: nine continuation bytes
      return splice(b, atOrEnd, 0, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
  }
}

export const mutationArb: fc.Arbitrary<Mutation> = fc.tuple(
  fc.nat(MUTATIONS - 1),
  fc.nat(),
  fc.nat(),
  fc.nat(),
)

export interface InputOptions {
  /** bytes random inputs start with, chosen from (message type codes); any byte if absent */
  firstBytes?: readonly number[]
  maxRandomLength?: number
}

/** Mostly mutated pool frames (1..4 mutations), some untouched, some plain random bytes. */
export function inputArb(
  pool: readonly Uint8Array[],
  o: InputOptions = {},
): fc.Arbitrary<Uint8Array> {
  if (pool.length === 0) throw new Error('fuzz: empty pool')
  const mutated = fc
    .tuple(fc.nat(pool.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
    .map(([i, ms]) => ms.reduce((b, m) => mutate(b, m, pool), pool[i] as Uint8Array))
  const first = o.firstBytes ? fc.constantFrom(...o.firstBytes) : fc.nat(255)
  const random = fc
    .tuple(first, fc.uint8Array({ maxLength: o.maxRandomLength ?? 64 }))
    .map(([t, rest]) => Uint8Array.of(t, ...rest))
  const valid = fc.nat(pool.length - 1).map((i) => pool[i] as Uint8Array)
  return fc.oneof(
    { arbitrary: mutated, weight: 16 },
    { arbitrary: random, weight: 3 },
    { arbitrary: valid, weight: 1 },
  )
}

// ---- typed outcomes ----------------------------------------------------------------------------

/**
 * The outcome's error code ('ok' when accepted); fails (throws) on an error without a string
 * `name` and `code`, which is what "typed errors only" means here.
 */
export function outcomeCode(out: unknown): string {
  if (typeof out === 'boolean') return out ? 'ok' : 'false'
  if (typeof out !== 'object' || out === null || !('ok' in out))
    throw new Error(`fuzz: the decoder returned ${String(out)}, not a Result`)
  const r = out as { ok: boolean; error?: unknown }
  if (r.ok) return 'ok'
  const e = r.error
  if (!(e instanceof Error)) throw new Error(`fuzz: an untyped error value: ${String(e)}`)
  const code = (e as { code?: unknown }).code
  if (typeof code !== 'string' || code === '' || e.name === 'Error' || e.name === '')
    throw new Error(`fuzz: an error without a name and code: ${e.name} ${String(code)}`)
  return code
}

// ---- measuring ---------------------------------------------------------------------------------

// A full GC on demand, to measure allocation from a clean heap (no --expose-gc needed).
setFlagsFromString('--expose-gc')
const fullGc = runInNewContext('gc') as () => void

/**
 * Bytes one call allocates, garbage included: JS heap plus external memory (ArrayBuffers), from
 * a full GC before it, counting what every GC during the call freed (v8.GCProfiler reports each
 * GC's before and after). So a decoder that builds and drops 20 MB counts 20 MB, whether or not a
 * young-generation GC ran in between.
 */
export function allocationOf(run: () => unknown): number {
  // Twice: V8 frees ArrayBuffers after a GC on another thread and lowers `external_memory` only
  // then, so after one GC the count may still hold the previous runs' buffers, and their release
  // during `run` hid what it allocated (an 8 MiB buffer measured as 0). A GC first finishes the
  // last one's freeing.
  fullGc()
  fullGc()
  const before = getHeapStatistics()
  const profiler = new GCProfiler()
  profiler.start()
  const out = run()
  const gcs = profiler.stop().statistics
  const after = getHeapStatistics()
  keep(out)
  let freed = 0
  for (const g of gcs) {
    const b = g.beforeGC.heapStatistics
    const a = g.afterGC.heapStatistics
    freed += b.usedHeapSize - a.usedHeapSize + (b.externalMemory - a.externalMemory)
  }
  const grown =
    after.used_heap_size - before.used_heap_size + (after.external_memory - before.external_memory)
  return Math.max(0, grown + freed)
}

/** holds a result until it has been measured (so it is not garbage yet) */
const held: { value: unknown } = { value: undefined }
function keep(v: unknown): void {
  held.value = v
  held.value = undefined
}

/**
 * The best CPU time of `run` over up to ROUNDS rounds of REMEASURES runs, a pause between rounds: an
 * input is "consistently slow" only if no run in any round was under the limit.
 */
async function confirmedTime(run: () => unknown): Promise<number> {
  let best = Infinity
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, ROUND_PAUSE_MS))
    best = Math.min(best, bestOf(REMEASURES, run))
    if (best < TIME_LIMIT_MS) break
  }
  return best
}

/**
 * The least CPU time (ms, this process: user + system) of `n` runs. CPU time, not wall time:
 * other processes on a busy machine stretch wall time tenfold, not the CPU a call uses.
 */
function bestOf(n: number, run: () => unknown): number {
  let best = Infinity
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage()
    keep(run())
    const d = process.cpuUsage(c0)
    best = Math.min(best, (d.user + d.system) / 1000)
  }
  return best
}

// ---- the runner --------------------------------------------------------------------------------

export interface FuzzTarget<T> {
  name: string
  /** valid inputs, built once */
  pool: readonly Uint8Array[]
  /** calls the decoder (and verifier) on one input */
  run: (input: Uint8Array) => T
  /** extra properties of an outcome (signatures, limits); throw or `expect` to fail */
  check?: (input: Uint8Array, out: T) => void
  /** a custom input generator (default: `inputArb(pool, inputs)`) */
  arbitrary?: fc.Arbitrary<Uint8Array>
  inputs?: InputOptions
  runs?: number
}

export interface FuzzReport {
  name: string
  runs: number
  /** outcome counts by code ('ok' = accepted) */
  outcomes: Record<string, number>
  /** the slowest input's first time, and its best re-measured time (ms) */
  slowestMs: number
  slowestRemeasuredMs: number
  /** the largest allocation measured (bytes) */
  maxAllocBytes: number
}

interface Slow {
  ms: number
  input: Uint8Array
}

/** Runs the target under fast-check and asserts the limits; returns (and prints) the figures. */
export async function fuzz<T>(t: FuzzTarget<T>): Promise<FuzzReport> {
  const runs = t.runs ?? RUNS
  const outcomes: Record<string, number> = {}
  let slowest: Slow[] = []
  let largest: Uint8Array[] = []
  fc.assert(
    fc.property(t.arbitrary ?? inputArb(t.pool, t.inputs), (input) => {
      const t0 = performance.now()
      const out = t.run(input)
      const ms = performance.now() - t0
      if (slowest.length < SLOWEST_KEPT || ms > (slowest.at(-1) as Slow).ms) {
        slowest = [...slowest, { ms, input }].sort((a, b) => b.ms - a.ms).slice(0, SLOWEST_KEPT)
      }
      if (largest.length < 3 || input.length > (largest.at(-1) as Uint8Array).length) {
        largest = [...largest, input].sort((a, b) => b.length - a.length).slice(0, 3)
      }
      const code = outcomeCode(out)
      outcomes[code] = (outcomes[code] ?? 0) + 1
      t.check?.(input, out)
    }),
    { numRuns: runs, seed: SEED },
  )
  // the slowest inputs again: an input fails only if it is over the limit on every re-run
  let remeasured = 0
  for (const s of slowest) {
    const best = await confirmedTime(() => t.run(s.input))
    remeasured = Math.max(remeasured, best)
    expect(best, `${t.name}: an input of ${s.input.length} bytes takes ${best} ms`).toBeLessThan(
      TIME_LIMIT_MS,
    )
  }
  let maxAlloc = 0
  for (const input of [...slowest.map((s) => s.input), ...largest]) {
    const bytes = allocationOf(() => t.run(input))
    maxAlloc = Math.max(maxAlloc, bytes)
    expect(bytes, `${t.name}: an input of ${input.length} bytes allocates ${bytes}`).toBeLessThan(
      ALLOC_LIMIT_BYTES,
    )
  }
  const report: FuzzReport = {
    name: t.name,
    runs,
    outcomes,
    slowestMs: round(slowest[0]?.ms ?? 0),
    slowestRemeasuredMs: round(remeasured),
    maxAllocBytes: maxAlloc,
  }
  const total = Object.values(outcomes).reduce((a, b) => a + b, 0)
  expect(total).toBe(runs)
  console.log(
    `fuzz ${t.name}: ${runs} inputs, 0 thrown, outcomes ${JSON.stringify(outcomes)}, ` +
      `slowest ${report.slowestMs} ms (re-run best ${report.slowestRemeasuredMs} ms CPU, ` +
      `${slowest[0]?.input.length ?? 0} bytes), ` +
      `max allocation ${Math.round(maxAlloc / 1024)} KiB`,
  )
  return report
}

const round = (ms: number): number => Math.round(ms * 100) / 100

/**
 * One hand-made worst case (the largest input the decoder's own limits allow, say): the best of
 * several runs must be under the time limit and its allocation under the allocation limit.
 */
export async function worstCase(
  name: string,
  run: () => unknown,
): Promise<{ ms: number; bytes: number }> {
  const code = outcomeCode(run())
  const ms = round(await confirmedTime(run))
  const bytes = allocationOf(run)
  console.log(
    `fuzz worst case ${name}: ${code}, best ${ms} ms CPU, allocation ${Math.round(bytes / 1024)} KiB`,
  )
  expect(ms, `${name}: ${ms} ms`).toBeLessThan(TIME_LIMIT_MS)
  expect(bytes, `${name}: ${bytes} bytes`).toBeLessThan(ALLOC_LIMIT_BYTES)
  return { ms, bytes }
}

/** Bytes that differ from every pool frame (a mutation can give back a valid frame). */
export function differsFromAll(input: Uint8Array, pool: readonly Uint8Array[]): boolean {
  return !pool.some((p) => p.length === input.length && p.every((v, i) => v === input[i]))
}
