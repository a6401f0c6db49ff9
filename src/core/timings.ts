/**
 * First-occurrence milestones of this peer's life (ms since the page's navigation start, or since
 * process start in Node), for the benchmark and for finding where boot time goes.
 */
const marks = new Map<string, number>()

export function mark(name: string): void {
  if (marks.has(name)) return
  marks.set(name, Math.round(performance.now() * 10) / 10)
  trace(`mark ${name}`)
}

export function timings(): Record<string, number> {
  return Object.fromEntries(marks)
}

/** Fine-grained tracing for performance work: off unless `globalThis.__orreryTrace` is an array. */
export function trace(label: string): void {
  const sink = (globalThis as { __orreryTrace?: [string, number][] }).__orreryTrace
  if (sink !== undefined) sink.push([label, performance.timeOrigin + performance.now()])
}
