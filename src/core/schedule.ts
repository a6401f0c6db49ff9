/**
 * Runs a callback in a new macrotask as soon as possible. Local edits made in one task (a loop
 * of `await state.set(...)` runs in one task) are committed together in the next one, which is
 * what makes thousands of sets per second affordable. In Chromium the task is posted with
 * `scheduler.postTask` at 'user-blocking' priority, so it runs ahead of storage callbacks and
 * rendering work queued meanwhile; elsewhere MessageChannel (setTimeout(0) is clamped to 4 ms once
 * nested); Node has setImmediate.
 */
type Task = () => void

const queue: Task[] = []
let posted = false

const g = globalThis as {
  setImmediate?: (fn: () => void) => unknown
  scheduler?: { postTask?: (fn: () => void, opts: { priority: string }) => Promise<unknown> }
}
let post: () => void
const postTask = g.scheduler?.postTask?.bind(g.scheduler)
if (postTask !== undefined) {
  post = () => {
    postTask(run, { priority: 'user-blocking' }).catch(() => undefined)
  }
} else if (typeof g.setImmediate === 'function') {
  const si = g.setImmediate
  post = () => {
    si(run)
  }
} else if (typeof MessageChannel !== 'undefined') {
  const ch = new MessageChannel()
  ch.port1.onmessage = run
  post = () => ch.port2.postMessage(null)
} else {
  post = () => setTimeout(run, 0)
}

function run(): void {
  posted = false
  const tasks = queue.splice(0)
  for (const t of tasks) t()
}

export function scheduleTask(task: Task): void {
  queue.push(task)
  if (!posted) {
    posted = true
    post()
  }
}

/**
 * How long a write to storage waits for others (group commit over time). Each IndexedDB
 * transaction costs 1-2 ms of main thread (and a tab-bus message), more than a W1 round trip's
 * whole budget: a live exchange of single edits then writes once per WRITE_DELAY_MS instead of
 * several times per edit (automerge-repo debounces its saves by 100 ms too). A page that goes
 * away writes what waits at once (Repo.flushNow); so does `whenSaved`. What a crash of the whole
 * browser can lose is the last WRITE_DELAY_MS of edits.
 */
export const WRITE_DELAY_MS = 100

const writes: Task[] = []
let writeTimer: ReturnType<typeof setTimeout> | undefined

function runWrites(): void {
  writeTimer = undefined
  const tasks = writes.splice(0)
  for (const t of tasks) t()
}

/**
 * Runs `task` WRITE_DELAY_MS from the first call still waiting, together with every other task
 * scheduled meanwhile, in one macrotask: their storage writes go in one batch (one IndexedDB
 * transaction through CoalescingStorage).
 */
export function scheduleWrite(task: Task): void {
  writes.push(task)
  writeTimer ??= setTimeout(runWrites, WRITE_DELAY_MS)
}

/** Runs the writes waiting for their group commit at once (tests: before switching clocks). */
export function runScheduledWrites(): void {
  if (writeTimer === undefined) return
  clearTimeout(writeTimer)
  runWrites()
}

/**
 * Resolves in a task that yields to the page's own work: in Chromium a `scheduler.postTask` task
 * of 'background' priority, which runs after the sync messages and edits queued meanwhile (at
 * most `maxWaitMs` late, so a busy page never starves it); elsewhere the next macrotask. Work
 * that may wait (the mirror's uploads and pulls) runs in steps between such hops, so no round
 * trip of a live exchange waits behind a whole upload.
 */
export function backgroundTask(maxWaitMs = 100): Promise<void> {
  return new Promise((resolve) => {
    if (postTask === undefined) {
      if (typeof g.setImmediate === 'function') g.setImmediate(resolve)
      else setTimeout(resolve, 0)
      return
    }
    const timer = setTimeout(resolve, maxWaitMs)
    postTask(
      () => {
        clearTimeout(timer)
        resolve()
      },
      { priority: 'background' },
    ).catch(() => resolve())
  })
}
