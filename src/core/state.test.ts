import { describe, expect, it, vi } from 'vitest'
import { Repo } from './repo/repo'
import { StateApi } from './state'
import { MemoryStorageAdapter } from './storage/memory'
import { newDocId } from './ids'

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

function setup(storage = new MemoryStorageAdapter()) {
  const repo = new Repo({ storage, tabId: 't' + Math.random() })
  return { repo, state: new StateApi(repo), storage }
}

describe('state API', () => {
  it('sets, gets and deletes nested values', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await state.set(`/${id}/a/b`, { x: 1, y: 'two', z: [1, 2, { q: null }] })
    expect(await state.get(`/${id}/a/b/y`)).toBe('two')
    expect(await state.get(`/${id}/a`)).toEqual({ b: { x: 1, y: 'two', z: [1, 2, { q: null }] } })
    expect(await state.get(`/${id}/a/b/z/2/q`)).toBeNull()
    expect(await state.get(`/${id}/missing/deep`)).toBeUndefined()
    await state.delete(`/${id}/a/b/x`)
    expect(await state.get(`/${id}/a/b/x`)).toBeUndefined()
    expect(await state.get(`/${id}`)).toEqual({ a: { b: { y: 'two', z: [1, 2, { q: null }] } } })
  })

  it('handles lists by index and "-" for append', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await state.set(`/${id}/l`, [1, 2])
    await state.set(`/${id}/l/-`, 3)
    await state.set(`/${id}/l/0`, 'zero')
    expect(await state.get(`/${id}/l`)).toEqual(['zero', 2, 3])
    await state.delete(`/${id}/l/1`)
    expect(await state.get(`/${id}/l`)).toEqual(['zero', 3])
    await expect(state.set(`/${id}/l/7`, 1)).rejects.toMatchObject({ code: 'PATH_CONFLICT' })
  })

  it('escapes "/" and "~" in keys (JSON pointer)', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await state.set(`/${id}/a~1b/c~0d`, 1)
    expect(await state.get(`/${id}`)).toEqual({ 'a/b': { 'c~d': 1 } })
  })

  it('rejects bad paths and values with typed errors', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await expect(state.set('nope', 1)).rejects.toMatchObject({ code: 'INVALID_PATH' })
    await expect(state.set('/not-a-doc/x', 1)).rejects.toMatchObject({ code: 'INVALID_PATH' })
    await expect(state.set(`/${id}/a//b`, 1)).rejects.toMatchObject({ code: 'INVALID_PATH' })
    await expect(state.set(`/${id}/x`, undefined)).rejects.toMatchObject({ code: 'INVALID_VALUE' })
    await expect(state.set(`/${id}/x`, NaN)).rejects.toMatchObject({ code: 'INVALID_VALUE' })
    await expect(state.set(`/${id}/x`, new Date())).rejects.toMatchObject({ code: 'INVALID_VALUE' })
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await expect(state.set(`/${id}/x`, cyclic)).rejects.toMatchObject({ code: 'INVALID_VALUE' })
    await state.set(`/${id}/s`, 'scalar')
    await expect(state.set(`/${id}/s/inner`, 1)).rejects.toMatchObject({ code: 'PATH_CONFLICT' })
    await expect(state.set(`/${id}`, 5)).rejects.toMatchObject({ code: 'INVALID_PATH' })
    // nothing of the failed writes leaked in
    expect(await state.get(`/${id}`)).toEqual({ s: 'scalar' })
  })

  it('stores integers beyond 2^53 and floats faithfully', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await state.set(`/${id}/n`, { big: 1e20, f: 0.5, neg: -3, huge: [2 ** 70] })
    expect(await state.get(`/${id}/n`)).toEqual({ big: 1e20, f: 0.5, neg: -3, huge: [2 ** 70] })
  })

  it('replaces the root with set("/<doc>", object)', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await state.set(`/${id}/old`, 1)
    await state.set(`/${id}`, { fresh: true })
    expect(await state.get(`/${id}`)).toEqual({ fresh: true })
  })

  it('subscribe fires with the current value, then for changes at, below and above the path', async () => {
    const { repo, state } = setup()
    const id = (await repo.create()).id
    await state.set(`/${id}/a/b`, 1)
    const seen: unknown[] = []
    const off = state.subscribe(`/${id}/a/b`, (v) => seen.push(v))
    await vi.waitFor(() => expect(seen).toEqual([1]))
    await state.set(`/${id}/a/b`, 2) // at
    await vi.waitFor(() => expect(seen).toEqual([1, 2]))
    await state.set(`/${id}/a`, { b: { c: 3 } }) // above
    await vi.waitFor(() => expect(seen).toEqual([1, 2, { c: 3 }]))
    await state.set(`/${id}/a/b/c`, 4) // below
    await vi.waitFor(() => expect(seen).toEqual([1, 2, { c: 3 }, { c: 4 }]))
    await state.set(`/${id}/other`, 5) // elsewhere: no call
    await tick() // (a window for a call that must not come: the flush runs before it ends)
    expect(seen).toEqual([1, 2, { c: 3 }, { c: 4 }])
    off()
    await state.set(`/${id}/a/b`, 9)
    await tick() // (likewise)
    expect(seen).toHaveLength(4)
  })

  it('coalesces a burst of sets into one change and keeps every value', async () => {
    const { repo, state } = setup()
    const h = await repo.create()
    const id = h.id
    for (let i = 0; i < 2000; i++) await state.set(`/${id}/k${i}`, i)
    await tick()
    const doc = (await state.get(`/${id}`)) as Record<string, number>
    expect(Object.keys(doc)).toHaveLength(2000)
    expect(doc.k1999).toBe(1999)
    expect(h.heads).toHaveLength(1)
  })

  it('opens documents on first use and survives a restart through storage', async () => {
    const storage = new MemoryStorageAdapter()
    const a = setup(storage)
    const id = newDocId()
    await a.state.set(`/${id}/x`, 'persisted')
    await a.state.flush()
    await a.repo.shutdown()
    const b = setup(storage)
    expect(await b.state.get(`/${id}/x`)).toBe('persisted')
    expect((await b.repo.list()).map((m) => m.id)).toContain(id)
  })
})
