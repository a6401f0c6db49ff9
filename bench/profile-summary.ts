/**
 * Sums a V8 CPU profile (CDP `Profiler.stop`) by self time: per source module and per function,
 * mapped back through the build's source maps (dist/assets/*.js.map) when they are there.
 */
import fs from 'node:fs'
import path from 'node:path'
import { SourceMapConsumer, type RawSourceMap } from 'source-map-js'

export interface CpuProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }
  children?: number[]
}
export interface CpuProfile {
  startTime: number
  nodes: CpuProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  /** sampled time per round, excluding (idle) and (program) */
  totalPerRoundMs: number
  /** our own functions (src/), with everything they called: ms per round */
  inclusive: { name: string; ms: number }[]
  buckets: [string, number][]
  top: { name: string; url: string; ms: number }[]
}

const maps = new Map<string, SourceMapConsumer | undefined>()

/** The source map of a built script (by its file name under `dist/assets`), if there is one. */
function mapOf(url: string, dist: string): SourceMapConsumer | undefined {
  const file = url.split('/').pop() ?? ''
  if (!maps.has(file)) {
    const at = path.join(dist, 'assets', `${file}.map`)
    maps.set(
      file,
      file.endsWith('.js') && fs.existsSync(at)
        ? new SourceMapConsumer(JSON.parse(fs.readFileSync(at, 'utf8')) as RawSourceMap)
        : undefined,
    )
  }
  return maps.get(file)
}

/** The source module a path from a source map stands for: a package, or a file of ours. */
function moduleOf(source: string): string {
  const nm = source.lastIndexOf('node_modules/')
  if (nm >= 0) {
    const rest = source.slice(nm + 'node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  return source.replace(/^(\.\.\/)+/, '')
}

/** Which part of the bundle a script URL belongs to, by file name. */
export function bucketOf(url: string): string {
  if (url === '') return 'native/VM'
  if (url.includes('.wasm') || url.startsWith('wasm://')) return 'wasm'
  const file = url.split('/').pop() ?? url
  return file.replace(/-[A-Za-z0-9_-]{8}\.js$/, '.js')
}

/**
 * Self time per round, by source module and by function; `dist` is the build whose source maps
 * name the frames of its scripts.
 */
export function summarize(p: CpuProfile, rounds: number, dist?: string): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!
    self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0))
  }
  const buckets = new Map<string, number>()
  const fns = new Map<string, { name: string; url: string; ms: number }>()
  let total = 0
  for (const [id, us] of self) {
    const n = byId.get(id)
    if (n === undefined) continue
    const { functionName, url, lineNumber, columnNumber } = n.callFrame
    if (functionName === '(idle)' || functionName === '(program)') continue
    const ms = us / 1000 / rounds
    total += ms
    const special = functionName.startsWith('(') ? functionName : undefined
    const map = dist === undefined ? undefined : mapOf(url, dist)
    const at = map?.originalPositionFor({ line: lineNumber + 1, column: columnNumber })
    const source = at?.source ?? undefined
    const bucket = special ?? (source ? moduleOf(source) : bucketOf(url))
    buckets.set(bucket, (buckets.get(bucket) ?? 0) + ms)
    const key = `${functionName}@${url}:${lineNumber}:${columnNumber}`
    const where =
      source && at
        ? `${source.replace(/^(\.\.\/)+/, '').replace(/^.*node_modules\//, '')}:${at.line}`
        : `${bucketOf(url)}:${lineNumber + 1}:${columnNumber + 1}`
    const f = fns.get(key) ?? {
      name: `${at?.name ?? (functionName || '(anonymous)')} ${where}`,
      url: bucket,
      ms: 0,
    }
    f.ms += ms
    fns.set(key, f)
  }
  // inclusive time of our own functions (and Automerge's API): a frame's self time counts for
  // each distinct function of ours on its stack
  const parent = new Map<number, number>()
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const inclusive = new Map<string, number>()
  for (const [id, us] of self) {
    const leaf = byId.get(id)
    if (leaf === undefined || leaf.callFrame.functionName === '(idle)') continue
    if (leaf.callFrame.functionName === '(program)') continue
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at)!
      const { url, lineNumber, columnNumber, functionName } = n.callFrame
      const map = dist === undefined ? undefined : mapOf(url, dist)
      const pos = map?.originalPositionFor({ line: lineNumber + 1, column: columnNumber })
      if (!pos?.source) continue
      // Automerge's own entry points too (its wasm-bindgen wrappers): which calls cost the wasm
      const wasmApi = pos.source.includes('automerge_wasm.js') && functionName !== ''
      if (pos.source.includes('node_modules') && !wasmApi) continue
      const name = wasmApi
        ? `automerge.${functionName}`
        : `${pos.name ?? functionName} ${moduleOf(pos.source)}:${pos.line}`
      if (seen.has(name)) continue
      seen.add(name)
      inclusive.set(name, (inclusive.get(name) ?? 0) + us / 1000 / rounds)
    }
  }
  return {
    totalPerRoundMs: total,
    inclusive: [...inclusive]
      .map(([name, ms]) => ({ name, ms }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 60),
    buckets: [...buckets].sort((a, b) => b[1] - a[1]),
    top: [...fns.values()].sort((a, b) => b.ms - a.ms).slice(0, 60),
  }
}

/**
 * Each sample of a profile as [time in µs on the profile's clock, what ran: the source module
 * (or the native function) of the sampled frame, and the function, the µs since the previous
 * sample]; idle samples are left out.
 */
export function samplesOf(p: CpuProfile, dist?: string): [number, string, string, number][] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]))
  const label = new Map<number, [string, string]>()
  const out: [number, string, string, number][] = []
  let t = p.startTime
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0
    const id = p.samples[i]!
    let l = label.get(id)
    if (l === undefined) {
      const n = byId.get(id)
      const { functionName = '', url = '', lineNumber = 0, columnNumber = 0 } = n?.callFrame ?? {}
      const map = dist === undefined ? undefined : mapOf(url, dist)
      const at = map?.originalPositionFor({ line: lineNumber + 1, column: columnNumber })
      const source = at?.source ?? undefined
      const module =
        functionName.startsWith('(') || url === ''
          ? functionName || '(native)'
          : source
            ? moduleOf(source)
            : bucketOf(url)
      l = [module, `${at?.name ?? functionName} ${source ? `${moduleOf(source)}:${at?.line}` : ''}`]
      label.set(id, l)
    }
    if (l[0] === '(idle)' || l[0] === '(program)') continue
    out.push([t, l[0], l[1], p.timeDeltas[i] ?? 0])
  }
  return out
}
