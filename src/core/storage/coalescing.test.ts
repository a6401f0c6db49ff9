import { describe, expect, it, vi } from 'vitest'
import { StorageError } from '../errors'
import { CoalescingStorage } from './coalescing'
import { MemoryStorageAdapter } from './memory'
import type { StorageOp } from './types'
import { describeStorageAdapter } from '../../../test/storage-acceptance'

/** Memory storage that records each batch it is handed, and can fail the next one. */
class Recording extends MemoryStorageAdapter {
  readonly batches: string[][] = []
  failNext = false
  gate: Promise<void> | undefined

  override async batch(ops: readonly StorageOp[]): Promise<void> {
    this.batches.push(ops.map((o) => `${o.type} ${o.key.join('/')}`))
    if (this.gate !== undefined) await this.gate
    if (this.failNext) {
      this.failNext = false
      throw new StorageError('STORAGE_FULL', 'quota exceeded')
    }
    await super.batch(ops)
  }
}

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)

describe('CoalescingStorage', () => {
  it('hands the writes of one turn of the event loop to the adapter as one batch', async () => {
    const inner = new Recording()
    const s = new CoalescingStorage(inner)
    const writes = [
      s.save(['d', 'c', 'x'], bytes(1)),
      s.save(['meta', 'd'], bytes(2)),
      s.remove(['d', 'c', 'old']),
      s.batch([{ type: 'put', key: ['o', '1'], data: bytes(3) }]),
    ]
    await Promise.all(writes)
    expect(inner.batches).toEqual([['put d/c/x', 'put meta/d', 'remove d/c/old', 'put o/1']])
    await s.save(['later'], bytes(4))
    expect(inner.batches).toHaveLength(2)
    expect(s.batches).toBe(2)
  })

  it('while a batch is being written, the writes that arrive meanwhile gather into the next', async () => {
    const inner = new Recording()
    const s = new CoalescingStorage(inner)
    let open = (): void => undefined
    inner.gate = new Promise((r) => (open = r))
    const first = s.save(['a'], bytes(1))
    await vi.waitFor(() => expect(inner.batches).toEqual([['put a']])) // the first batch is at the disk
    let called = 0
    const later = [1, 2, 3].map(async (i) => {
      await new Promise((r) => setTimeout(r, i)) // separate tasks
      const saved = s.save([`b${i}`], bytes(i))
      called++
      await saved
    })
    await vi.waitFor(() => expect(called).toBe(3))
    expect(inner.batches).toEqual([['put a']])
    inner.gate = undefined
    open()
    await Promise.all([first, ...later])
    expect(inner.batches).toEqual([['put a'], ['put b1', 'put b2', 'put b3']])
  })

  it('a read sees every write called before it, even when nobody awaited the write', async () => {
    const inner = new Recording()
    const s = new CoalescingStorage(inner)
    void s.save(['k'], bytes(7))
    expect(await s.load(['k'])).toEqual(bytes(7))
    void s.save(['r', 'a'], bytes(1))
    expect((await s.loadRange(['r'])).map((c) => c.key.join('/'))).toEqual(['r/a'])
    void s.save(['r', 'b'], bytes(2))
    await s.removeRange(['r'])
    expect(await s.loadRange(['r'])).toEqual([])
  })

  it('keeps the order of writes to one key: the last one wins', async () => {
    const s = new CoalescingStorage(new Recording())
    void s.save(['k'], bytes(1))
    void s.remove(['k'])
    await s.save(['k'], bytes(3))
    expect(await s.load(['k'])).toEqual(bytes(3))
    void s.save(['j'], bytes(1))
    await s.remove(['j'])
    expect(await s.load(['j'])).toBeUndefined()
  })

  it('a failed batch rejects every write in it and applies none; the next batch is fresh', async () => {
    const inner = new Recording()
    const s = new CoalescingStorage(inner)
    inner.failNext = true
    const results = await Promise.allSettled([s.save(['a'], bytes(1)), s.save(['b'], bytes(2))])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(StorageError)
    expect(inner.keys).toEqual([])
    await s.save(['a'], bytes(1)) // retried by its caller
    expect(inner.keys).toEqual(['a'])
  })

  it('a bad key fails only its own caller', async () => {
    const inner = new Recording()
    const s = new CoalescingStorage(inner)
    const good = s.save(['fine'], bytes(1))
    await expect(s.save(['a/b'], bytes(2))).rejects.toThrow(/bad storage key/)
    await good
    expect(inner.keys).toEqual(['fine'])
  })
})

describe('CoalescingStorage.batchNow (the page is going away)', () => {
  it('hands the gathering batch and its own ops to the adapter at once, ahead of their turn', async () => {
    const inner = new Recording()
    let release!: () => void
    inner.gate = new Promise<void>((r) => (release = r))
    const s = new CoalescingStorage(inner)
    const first = s.save(['a'], bytes(1)) // its batch goes to the adapter and hangs there
    await Promise.resolve()
    await Promise.resolve()
    const waiting = s.save(['b'], bytes(2)) // gathering behind it
    let waitingDone = false
    void waiting.then(() => (waitingDone = true))
    const now = s.batchNow([{ type: 'put', key: ['c'], data: bytes(3) }])
    // handed over before batchNow returned, without waiting for the first batch
    expect(inner.batches).toEqual([['put a'], ['put b', 'put c']])
    release()
    await Promise.all([first, now, waiting])
    expect(waitingDone).toBe(true)
    expect(await inner.load(['b'])).toEqual(bytes(2))
    expect(await inner.load(['c'])).toEqual(bytes(3))
    // the emptied batch's turn writes nothing
    await s.load(['a'])
    expect(inner.batches).toHaveLength(2)
  })

  it('a bad key fails only its own caller: the gathering batch it would have taken lands', async () => {
    const inner = new Recording()
    const s = new CoalescingStorage(inner)
    const waiting = s.save(['ok'], bytes(1))
    await expect(s.batchNow([{ type: 'put', key: ['bad/key'], data: bytes(2) }])).rejects.toThrow(
      /bad storage key/,
    )
    await waiting
    expect(await inner.load(['ok'])).toEqual(bytes(1))
  })

  it('an empty batch resolves, alone or behind a range removal', async () => {
    const s = new CoalescingStorage(new Recording())
    await s.batch([])
    await s.batchNow([])
    const removal = s.removeRange(['x'])
    await Promise.all([removal, s.batchNow([]), s.batch([])])
  })

  it('does not jump ahead of a range removal queued before it', async () => {
    const inner = new Recording()
    let release!: () => void
    inner.gate = new Promise<void>((r) => (release = r))
    const s = new CoalescingStorage(inner)
    const first = s.save(['x', 'old'], bytes(1))
    const removal = s.removeRange(['x'])
    const now = s.batchNow([{ type: 'put', key: ['x', 'new'], data: bytes(2) }])
    expect(inner.batches).toEqual([]) // nothing handed over yet: the gate holds the first batch
    release()
    await Promise.all([first, removal, now])
    expect(await inner.load(['x', 'old'])).toBeUndefined()
    expect(await inner.load(['x', 'new'])).toEqual(bytes(2))
  })
})

describeStorageAdapter('CoalescingStorage over memory', () => ({
  adapter: new CoalescingStorage(new MemoryStorageAdapter()),
}))

describeStorageAdapter('CoalescingStorage over memory without batchNow', () => {
  const inner = new MemoryStorageAdapter()
  Object.defineProperty(inner, 'batchNow', { value: undefined })
  return { adapter: new CoalescingStorage(inner) }
})
