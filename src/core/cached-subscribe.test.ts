import { describe, expect, it, vi } from 'vitest'
import { subscribeCached, type LiveState } from './cached-subscribe'
import { Repo } from './repo/repo'
import { StateApi } from './state'
import type { CachedView } from './storage/view-cache'
import { MemoryStorageAdapter } from './storage/memory'

/** A promise and the function that resolves it: the test says when things arrive. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

async function setup() {
  const repo = new Repo({ storage: new MemoryStorageAdapter(), tabId: 't' + Math.random() })
  const state = new StateApi(repo)
  const doc = await repo.create()
  await state.set(`/${doc.id}/a`, { b: 1 })
  /** how many values the live subscription has produced (delivered to the subscriber or not) */
  let liveValues = 0
  const live: LiveState = {
    repo,
    state: {
      subscribe: (path, cb) =>
        state.subscribe(path, (v) => {
          cb(v)
          liveValues++
        }),
    },
  }
  return { state, live, doc, liveValues: () => liveValues }
}

/** a view cache holding one view, answering when `answer` resolves (at once without it) */
const viewsOf = (view: CachedView | undefined, answer?: Promise<void>) => {
  const read = (answer ?? Promise.resolve()).then(() => view)
  return { read: (): Promise<CachedView | undefined> => read }
}

describe('subscribeCached', () => {
  it('gives the cached view first, then the live value when the document changed', async () => {
    const { live, doc } = await setup()
    const seen: unknown[] = []
    const up = deferred<LiveState>()
    subscribeCached(
      `/${doc.id}/a/b`,
      (v) => seen.push(v),
      viewsOf({ heads: ['older'], value: { a: { b: 0 } } }),
      up.promise,
    )
    await vi.waitFor(() => expect(seen).toEqual([0]))
    up.resolve(live)
    await vi.waitFor(() => expect(seen).toEqual([0, 1]))
  })

  it('skips the first live value when the heads are the cached ones', async () => {
    const { state, live, doc, liveValues } = await setup()
    const seen: unknown[] = []
    const up = deferred<LiveState>()
    subscribeCached(
      `/${doc.id}/a`,
      (v) => seen.push(v),
      viewsOf({ heads: [...doc.heads], value: { a: { b: 1 } } }),
      up.promise,
    )
    await vi.waitFor(() => expect(seen).toEqual([{ b: 1 }]))
    up.resolve(live)
    await vi.waitFor(() => expect(liveValues()).toBe(1))
    expect(seen).toEqual([{ b: 1 }]) // the live value came, and was not passed on
    await state.set(`/${doc.id}/a/b`, 2)
    await vi.waitFor(() => expect(seen).toEqual([{ b: 1 }, { b: 2 }]))
  })

  it('ignores a cached view that comes after the live value', async () => {
    const { live, doc } = await setup()
    const seen: unknown[] = []
    const answer = deferred<void>()
    const views = viewsOf({ heads: ['older'], value: { a: { b: 0 } } }, answer.promise)
    subscribeCached(`/${doc.id}/a/b`, (v) => seen.push(v), views, Promise.resolve(live))
    await vi.waitFor(() => expect(seen).toEqual([1]))
    answer.resolve()
    await views.read() // settled after subscribeCached's own handler of the same read ran
    expect(seen).toEqual([1])
  })

  it('delivers nothing once unsubscribed, and works without a view cache', async () => {
    const { live, doc, liveValues } = await setup()
    const seen: unknown[] = []
    const up = deferred<LiveState>()
    const views = viewsOf({ heads: ['older'], value: { a: { b: 0 } } })
    const off = subscribeCached(`/${doc.id}/a/b`, (v) => seen.push(v), views, up.promise)
    off()
    up.resolve(live)
    // both settled after subscribeCached's own handlers of the same promises ran
    await views.read()
    await up.promise
    expect(seen).toEqual([])
    expect(liveValues()).toBe(0) // it never subscribed
    subscribeCached(`/${doc.id}/a/b`, (v) => seen.push(v), undefined, Promise.resolve(live))
    await vi.waitFor(() => expect(seen).toEqual([1]))
  })
})
