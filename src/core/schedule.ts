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
