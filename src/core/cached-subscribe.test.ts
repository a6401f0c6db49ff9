import { describe, expect, it } from 'vitest'
import { subscribeCached, type LiveState } from './cached-subscribe'
import { Repo } from './repo/repo'
import { StateApi } from './state'
import type { CachedView } from './storage/view-cache'
import { MemoryStorageAdapter } from './storage/memory'

const wait = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function setup() {
  const repo = new Repo({ storage: new MemoryStorageAdapter(), tabId: 't' + Math.random() })
  const state = new StateApi(repo)
  const live: LiveState = { repo, state }
  const doc = await repo.create()
  await state.set(`/${doc.id}/a`, { b: 1 })
  return { state, live, doc }
}

/** a view cache holding one view, answering after `ms` */
const viewsOf = (view: CachedView | undefined, ms = 0) => ({
  read: async (): Promise<CachedView | undefined> => {
    await wait(ms)
    return view
  },
})

describe('subscribeCached', () => {
  it('gives the cached view first, then the live value when the document changed', async () => {
    const { live, doc } = await setup()
    const seen: unknown[] = []
    subscribeCached(
      `/${doc.id}/a/b`,
      (v) => seen.push(v),
      viewsOf({ heads: ['older'], value: { a: { b: 0 } } }),
      wait(20).then(() => live),
    )
    await wait(10)
    expect(seen).toEqual([0])
    await wait(30)
    expect(seen).toEqual([0, 1])
  })

  it('skips the first live value when the heads are the cached ones', async () => {
    const { state, live, doc } = await setup()
    const seen: unknown[] = []
    subscribeCached(
      `/${doc.id}/a`,
      (v) => seen.push(v),
      viewsOf({ heads: [...doc.heads], value: { a: { b: 1 } } }),
      wait(20).then(() => live),
    )
    await wait(40)
    expect(seen).toEqual([{ b: 1 }])
    await state.set(`/${doc.id}/a/b`, 2)
    await wait(10)
    expect(seen).toEqual([{ b: 1 }, { b: 2 }])
  })

  it('ignores a cached view that comes after the live value', async () => {
    const { live, doc } = await setup()
    const seen: unknown[] = []
    subscribeCached(
      `/${doc.id}/a/b`,
      (v) => seen.push(v),
      viewsOf({ heads: ['older'], value: { a: { b: 0 } } }, 30),
      Promise.resolve(live),
    )
    await wait(50)
    expect(seen).toEqual([1])
  })

  it('delivers nothing once unsubscribed, and works without a view cache', async () => {
    const { live, doc } = await setup()
    const seen: unknown[] = []
    const off = subscribeCached(
      `/${doc.id}/a/b`,
      (v) => seen.push(v),
      viewsOf({ heads: ['older'], value: { a: { b: 0 } } }),
      wait(10).then(() => live),
    )
    off()
    await wait(30)
    expect(seen).toEqual([])
    subscribeCached(`/${doc.id}/a/b`, (v) => seen.push(v), undefined, Promise.resolve(live))
    await wait(10)
    expect(seen).toEqual([1])
  })
})
