import { afterEach, describe, expect, it, vi } from 'vitest'
import { utf8 } from '../bytes'
import { newDocId } from '../ids'
import { Repo } from '../repo/repo'
import { VIEW_TEXT_LIMIT } from '../repo/doc-handle'
import { StateApi } from '../state'
import { MemoryStorageAdapter } from './memory'
import { encodeView, pick, ViewCache, type ViewSource } from './view-cache'

afterEach(() => {
  vi.useRealTimers()
})

/** A document stand-in whose value and heads the test sets. */
function source(
  value: unknown,
  heads = ['h1'],
): ViewSource & { value: unknown; h: string[]; storedBytes: number } {
  return {
    id: newDocId(),
    isClosed: false,
    value,
    h: heads,
    get heads() {
      return this.h
    },
    read() {
      return this.value
    },
    storedBytes: 100,
  }
}

describe('encodeView and pick', () => {
  it('encodes JSON values, and refuses what JSON cannot carry back', () => {
    expect(encodeView({ heads: ['a'], value: { x: [1, 'two', null, { y: true }] } })).toBe(
      '{"heads":["a"],"value":{"x":[1,"two",null,{"y":true}]}}',
    )
    expect(encodeView({ heads: [], value: { b: new Uint8Array([1]) } })).toBeUndefined()
    expect(encodeView({ heads: [], value: { d: new Date(0) } })).toBeUndefined()
    expect(encodeView({ heads: [], value: [Number.NaN] })).toBeUndefined()
  })

  it('picks a path as the state API reads it', () => {
    const v = { a: { b: [10, { c: 'x' }] }, 'k/1': 1 }
    expect(pick(v, [])).toBe(v)
    expect(pick(v, ['a', 'b', '1', 'c'])).toBe('x')
    expect(pick(v, ['a', 'b', '01'])).toBeUndefined()
    expect(pick(v, ['a', 'missing', 'x'])).toBeUndefined()
    expect(pick(v, ['toString'])).toBeUndefined() // own keys only
    expect(pick(v, ['k/1'])).toBe(1)
  })
})

describe('ViewCache', () => {
  it('writes a view once the document has been quiet, and reads it back', async () => {
    vi.useFakeTimers()
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage, { quietMs: 300 })
    const doc = source({ a: 1 })
    cache.changed(doc)
    await vi.advanceTimersByTimeAsync(200)
    doc.value = { a: 2 }
    doc.h = ['h2']
    cache.changed(doc) // still changing: the timer starts again
    await vi.advanceTimersByTimeAsync(200)
    expect(await cache.read(doc.id)).toBeUndefined()
    await vi.advanceTimersByTimeAsync(100)
    expect(await cache.read(doc.id)).toEqual({ heads: ['h2'], value: { a: 2 } })
  })

  it('writes at least every maxWaitMs while a document keeps changing', async () => {
    vi.useFakeTimers()
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage, { quietMs: 300, maxWaitMs: 1000 })
    const doc = source({ n: 0 })
    for (let i = 1; i <= 12; i++) {
      doc.value = { n: i }
      doc.h = [`h${i}`]
      cache.changed(doc)
      await vi.advanceTimersByTimeAsync(100)
    }
    const view = await cache.read(doc.id)
    expect(view).toBeDefined()
    expect((view?.value as { n: number }).n).toBeGreaterThanOrEqual(9)
  })

  it('writes a big document that never goes quiet less often', async () => {
    vi.useFakeTimers()
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage, { quietMs: 300, maxWaitMs: 1000 })
    const doc = source({ n: 0 })
    doc.storedBytes = 3 * 1024 * 1024 // waits up to 3 s
    for (let i = 1; i <= 35; i++) {
      doc.value = { n: i }
      doc.h = [`h${i}`]
      cache.changed(doc)
      await vi.advanceTimersByTimeAsync(100)
      if (i === 25) expect(await cache.read(doc.id)).toBeUndefined()
    }
    expect(await cache.read(doc.id)).toBeDefined()
  })

  it('skips a write when the heads are the ones stored, and flushes due views on demand', async () => {
    const storage = new MemoryStorageAdapter()
    const save = vi.spyOn(storage, 'batch')
    const cache = new ViewCache(storage, { quietMs: 60_000 })
    const doc = source({ a: 1 })
    cache.changed(doc)
    await cache.flush()
    expect(save).toHaveBeenCalledTimes(1)
    cache.changed(doc)
    await cache.flush()
    expect(save).toHaveBeenCalledTimes(1) // same heads: nothing new
  })

  it('drops the view of a document that came to hold bytes, and skips a document too big', async () => {
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage, { maxStoredBytes: 1000 })
    const doc = source({ a: 1 })
    cache.changed(doc)
    await cache.flush()
    expect(await cache.read(doc.id)).toBeDefined()
    doc.value = { a: new Uint8Array([1]) }
    doc.h = ['h2']
    cache.changed(doc)
    await cache.flush()
    expect(await cache.read(doc.id)).toBeUndefined()
    const big = source({ big: true })
    big.storedBytes = 5000
    cache.changed(big)
    await cache.flush()
    expect(await cache.read(big.id)).toBeUndefined()
  })

  it('subscribers asking at the same time share one read', async () => {
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage)
    const doc = source({ a: 1 })
    cache.changed(doc)
    await cache.flush()
    const load = vi.spyOn(storage, 'load')
    const [x, y] = await Promise.all([cache.read(doc.id), cache.read(doc.id)])
    expect(x).toEqual({ heads: ['h1'], value: { a: 1 } })
    expect(y).toBe(x)
    expect(load).toHaveBeenCalledTimes(1)
    await cache.read(doc.id) // a later read reads again (the view may have changed)
    expect(load).toHaveBeenCalledTimes(2)
  })

  it('a document that fails to read gets no view, and flush still resolves', async () => {
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage)
    const doc = source({ a: 1 })
    doc.read = () => {
      throw new Error('closed under us')
    }
    cache.changed(doc)
    await expect(cache.flush()).resolves.toBeUndefined()
    expect(await cache.read(doc.id)).toBeUndefined()
  })

  it('a document opening after its view was shown reads nothing more, and is not rewritten', async () => {
    const storage = new MemoryStorageAdapter()
    const doc = source({ a: 1 })
    const first = new ViewCache(storage)
    first.changed(doc)
    await first.flush()
    const cache = new ViewCache(storage, { quietMs: 0 })
    await cache.read(doc.id) // shown before Automerge loaded
    const load = vi.spyOn(storage, 'load')
    const batch = vi.spyOn(storage, 'batch')
    await cache.opened(doc)
    await cache.flush()
    expect(load).not.toHaveBeenCalled()
    expect(batch).not.toHaveBeenCalled() // same heads
  })

  it('ignores a damaged stored view (no error reaches the page)', async () => {
    const storage = new MemoryStorageAdapter()
    const cache = new ViewCache(storage)
    const id = newDocId()
    for (const bad of ['{not json', 'null', '{"heads":"x","value":1}', '{"heads":[1]}', '[]']) {
      await storage.save([id, 'v'], utf8(bad))
      expect(await cache.read(id)).toBeUndefined()
    }
  })

  it('through a repo: the view is the document as the state API reads it, at its heads', async () => {
    const storage = new MemoryStorageAdapter()
    const views = new ViewCache(storage, { quietMs: 60_000 })
    const repo = new Repo({ storage, tabId: 't1', views })
    const state = new StateApi(repo)
    const h = await repo.create()
    await state.set(`/${h.id}/todo`, { title: 'milk', done: false })
    await state.set(`/${h.id}/n`, 3)
    await state.flush() // on disk, views included
    const view = await views.read(h.id)
    expect(view?.value).toEqual(await state.get(`/${h.id}`))
    expect(view?.heads).toEqual(h.heads)
    // the document's own chunks load without the view beside them
    const again = new Repo({ storage, tabId: 't2' })
    expect(await new StateApi(again).get(`/${h.id}/todo/title`)).toBe('milk')
  })

  it('a document whose rich text grew long gets no view, and its stale view is dropped', async () => {
    const storage = new MemoryStorageAdapter()
    const views = new ViewCache(storage, { quietMs: 60_000 })
    const repo = new Repo({ storage, tabId: 't1', views })
    const h = await repo.create()
    h.write(['title'], 'notes')
    const text = h.openText(['text'])
    text.edit((ops) => ops.splice(0, 0, 'short'))
    await repo.flushAll()
    expect((await views.read(h.id))?.value).toEqual({ title: 'notes', text: 'short' })
    // it grows past VIEW_TEXT_LIMIT, an edit at a time
    text.close()
    const chunk = 'x'.repeat(1000)
    const t = h.openText(['text'])
    for (let i = 0; i <= VIEW_TEXT_LIMIT / chunk.length; i++)
      t.edit((ops) => ops.splice(5, 0, chunk))
    t.close()
    expect(h.viewable()).toBe(false)
    await repo.flushAll()
    expect(await views.read(h.id)).toBeUndefined()
    // a state API reader waits for the document instead: it gets the text, never a stale one
    expect(((await new StateApi(repo).get(`/${h.id}/text`)) as string).length).toBeGreaterThan(
      VIEW_TEXT_LIMIT,
    )
  })

  it('rewrites a view that is behind its document when the document opens', async () => {
    const storage = new MemoryStorageAdapter()
    const first = new Repo({ storage, tabId: 't1', views: new ViewCache(storage) })
    const h = await first.create()
    await new StateApi(first).set(`/${h.id}/a`, 1)
    await first.flushAll()
    await first.shutdown()
    // a tab without views moves the document on (as a crash before the view was written would)
    const plain = new Repo({ storage, tabId: 't2' })
    await new StateApi(plain).set(`/${h.id}/a`, 2)
    await plain.flushAll()
    await plain.shutdown()
    const views = new ViewCache(storage, { quietMs: 0 })
    expect((await views.read(h.id))?.value).toEqual({ a: 1 })
    const third = new Repo({ storage, tabId: 't3', views })
    await third.open(h.id)
    await vi.waitFor(async () => expect((await views.read(h.id))?.value).toEqual({ a: 2 }))
  })
})
