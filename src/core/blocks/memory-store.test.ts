import { describe, expect, it } from 'vitest'
import { utf8 } from '../bytes'
import { BlockError, blockCid, chunkFile, jsonCid } from './cid'
import { MemoryBlockStore } from './memory-store'
import { BLOCK_SIZE } from './types'

const block = (s: string): { cid: string; bytes: Uint8Array } => {
  const bytes = utf8(s)
  return { cid: blockCid(bytes), bytes }
}

describe('MemoryBlockStore', () => {
  it('stores verified blocks and returns copies', async () => {
    const store = new MemoryBlockStore()
    const a = block('a')
    await store.put(a.cid, a.bytes)
    expect(await store.has(a.cid)).toBe(true)
    const got = (await store.get(a.cid))!
    expect(got).toEqual(a.bytes)
    got[0] = 0
    expect(await store.get(a.cid)).toEqual(a.bytes)
    expect(await store.get(block('missing').cid)).toBeUndefined()
    const manifest = utf8('{"x":1}')
    await store.put(jsonCid(manifest), manifest) // manifests are blocks too
    expect(await store.has(jsonCid(manifest))).toBe(true)
  })

  it('refuses bytes that do not match the CID, and stores nothing', async () => {
    const store = new MemoryBlockStore()
    const a = block('honest')
    const tampered = a.bytes.slice()
    tampered[0]! ^= 1
    for (const [cid, bytes] of [
      [a.cid, tampered],
      [a.cid, a.bytes.subarray(1)],
      ['not-a-cid', a.bytes],
      [jsonCid(utf8('other')), a.bytes],
    ] as const) {
      const e = await store.put(cid, bytes).catch((x: unknown) => x)
      expect(e).toBeInstanceOf(BlockError)
      expect((e as BlockError).code).toBe('BAD_BLOCK')
    }
    const tooBig = new Uint8Array(BLOCK_SIZE + 1)
    await expect(store.put(blockCid(tooBig), tooBig)).rejects.toMatchObject({ code: 'BAD_BLOCK' })
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, pinnedBytes: 0 })
  })

  it('keeps pinned blocks through gc, removes the rest, and counts bytes right', async () => {
    const store = new MemoryBlockStore()
    const file = new Uint8Array(BLOCK_SIZE + 10).map((_, i) => i & 0xff)
    const [b1, b2] = chunkFile(file) as [
      { cid: string; bytes: Uint8Array },
      { cid: string; bytes: Uint8Array },
    ]
    const root = utf8('{"app":1}')
    const rootCid = jsonCid(root)
    const loose = block('unpinned')
    for (const b of [b1, b2, loose, { cid: rootCid, bytes: root }]) await store.put(b.cid, b.bytes)
    await store.put(loose.cid, loose.bytes) // again: counted once
    const total = BLOCK_SIZE + 10 + loose.bytes.length + root.length
    expect(await store.usage()).toEqual({ blocks: 4, bytes: total, pinnedBytes: 0 })

    await store.pin('app', rootCid, [b1.cid, b2.cid, block('not here yet').cid])
    expect(await store.usage()).toEqual({
      blocks: 4,
      bytes: total,
      pinnedBytes: total - loose.bytes.length,
    })
    const pins = await store.pins()
    expect(pins).toHaveLength(1)
    expect(pins[0]).toMatchObject({ name: 'app', root: rootCid })

    expect(await store.gc()).toEqual({ removed: 1, freedBytes: loose.bytes.length })
    expect(await store.has(loose.cid)).toBe(false)
    expect(await store.has(b1.cid)).toBe(true)
    expect(await store.has(rootCid)).toBe(true)
    expect(await store.usage()).toEqual({
      blocks: 3,
      bytes: total - loose.bytes.length,
      pinnedBytes: total - loose.bytes.length,
    })
    expect(await store.gc()).toEqual({ removed: 0, freedBytes: 0 })

    await store.unpin(rootCid)
    expect(await store.pins()).toEqual([])
    expect(await store.usage()).toMatchObject({ pinnedBytes: 0 })
    expect(await store.gc()).toEqual({ removed: 3, freedBytes: total - loose.bytes.length })
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, pinnedBytes: 0 })
  })

  it('keeps a block two pins share until both are gone; delete removes one block', async () => {
    const store = new MemoryBlockStore()
    const shared = block('shared')
    const a = block('a')
    await store.put(shared.cid, shared.bytes)
    await store.put(a.cid, a.bytes)
    await store.pin('one', a.cid, [shared.cid])
    await store.pin('two', block('root two').cid, [shared.cid])
    await store.unpin(a.cid)
    expect(await store.gc()).toEqual({ removed: 1, freedBytes: 1 })
    expect(await store.has(shared.cid)).toBe(true)
    await store.delete(shared.cid)
    await store.delete(shared.cid)
    expect(await store.usage()).toEqual({ blocks: 0, bytes: 0, pinnedBytes: 0 })
  })
})
