/**
 * Block exchange between in-process peers over libp2p's memory transport, with the real blocks
 * service: parallel fetches from several providers, tampering and silent providers, blocks nobody
 * has, bad input on the blocks stream, and seeding switched off.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { identify } from '@libp2p/identify'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { concatBytes, equalBytes } from '../src/core/bytes'
import type { OrreryError } from '../src/core/errors'
import { blockCid, chunkFile, verifyBlock } from '../src/core/blocks/cid'
import { MemoryBlockStore } from '../src/core/blocks/memory-store'
import {
  BLOCKS_PROTOCOL,
  decodeBlocksMessage,
  encodeBlocksMessage,
  MAX_BLOCKS_MESSAGE,
  type BlocksMessage,
} from '../src/core/blocks/messages'
import {
  orreryBlocks,
  type BlocksUnavailableError,
  type BlockService,
  type BlockServiceInit,
} from '../src/core/blocks/service'
import { BLOCK_SIZE, type Block, type FetchProgress } from '../src/core/blocks/types'
import { encodeMessage, MAX_FRAME, MessageDecoder } from '../src/core/wire/framing'
import { Writer } from '../src/core/wire/codec'
import { collectWarnings, connect, makePeer, memoryNode, waitFor } from './peers'
import type { OrreryPeer } from '../src/core/peer'

type BlockNode = Libp2p<{ blocks: BlockService }>
type Plain = Libp2p

const running: { stop(): void | Promise<void> }[] = []
const logs = collectWarnings()

afterEach(async () => {
  await Promise.all(running.splice(0).map(async (n) => n.stop()))
})

async function node(init: Partial<BlockServiceInit> = {}): Promise<BlockNode> {
  const n = await memoryNode('blocks', {
    identify: identify(),
    blocks: orreryBlocks({ store: new MemoryBlockStore(), ...init }),
  })
  running.push(n)
  return n as unknown as BlockNode
}

/** a libp2p node without the blocks service, speaking the protocol by hand */
async function plain(): Promise<Plain> {
  const n = await memoryNode('plain')
  running.push(n)
  return n
}

/** deterministic pseudo-random bytes */
function fileOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size)
  let x = seed
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function putAll(n: BlockNode, blocks: Block[]): Promise<void> {
  for (const b of blocks) await n.services.blocks.store.put(b.cid, b.bytes)
}

async function link(from: Libp2p, ...to: Libp2p[]): Promise<void> {
  for (const t of to) await from.dial(t.getMultiaddrs())
}

const ids = (...ns: Libp2p[]): string[] => ns.map((n) => n.peerId.toString())

async function rejection(p: Promise<unknown>): Promise<OrreryError> {
  return p.then(
    () => {
      throw new Error('expected a rejection')
    },
    (e: unknown) => e as OrreryError,
  )
}

/** every stored block is what its CID says */
async function allVerified(n: BlockNode, cids: string[]): Promise<boolean> {
  for (const cid of cids) {
    const b = await n.services.blocks.store.get(cid)
    if (b !== undefined && !verifyBlock(cid, b)) return false
  }
  return true
}

/** A store whose reads flip a byte: a provider serving tampered blocks. */
class TamperingStore extends MemoryBlockStore {
  override async get(cid: string): Promise<Uint8Array | undefined> {
    const b = await super.get(cid)
    if (b !== undefined && b.length > 0) b[b.length >> 1]! ^= 0x20
    return b
  }
}

const file = fileOf(3 * 1024 * 1024 + 1234, 7)
const blocks = chunkFile(file)
const cids = blocks.map((b) => b.cid)

describe('fetching blocks', () => {
  it('fetches a multi-block file from three providers at once, each serving a share', async () => {
    const providers = [await node(), await node(), await node()]
    for (const p of providers) await putAll(p, blocks)
    const fetcher = await node()
    await link(fetcher, ...providers)
    const progress: FetchProgress[] = []
    const sizes = new Map(blocks.map((b) => [b.cid, b.bytes.length]))
    await fetcher.services.blocks.fetch(cids, ids(...providers), {
      onProgress: (p) => progress.push(p),
      sizes,
    })
    const got = await Promise.all(cids.map(async (c) => fetcher.services.blocks.store.get(c)))
    expect(equalBytes(concatBytes(got as Uint8Array[]), file)).toBe(true)

    const served = providers.map((p) => p.services.blocks.stats().servedBlocks)
    expect(served.every((n) => n > 0)).toBe(true)
    expect(served.reduce((a, b) => a + b, 0)).toBe(blocks.length)
    expect(Math.max(...served)).toBeLessThan(blocks.length)

    expect(progress[0]).toEqual({
      blocks: 0,
      totalBlocks: blocks.length,
      bytes: 0,
      totalBytes: file.length,
    })
    expect(progress.at(-1)).toEqual({
      blocks: blocks.length,
      totalBlocks: blocks.length,
      bytes: file.length,
      totalBytes: file.length,
    })
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]!.blocks).toBeGreaterThan(progress[i - 1]!.blocks)
    }
    const stats = fetcher.services.blocks.stats()
    expect(stats).toMatchObject({ fetchedBlocks: blocks.length, fetchedBytes: file.length })
    expect(stats.rejectedBlocks).toBe(0)

    // what it fetched it now serves (the BitTorrent idea)
    const next = await node()
    await link(next, fetcher)
    await next.services.blocks.fetch(cids, ids(fetcher))
    expect(fetcher.services.blocks.stats().servedBlocks).toBe(blocks.length)

    // nothing left to fetch: resolves without asking anyone
    await fetcher.services.blocks.fetch(cids, [])
  })

  it('fetches from one provider many more times than the stream limit (every stream closes)', async () => {
    // (the releases service once left every push stream half open, and pushes stopped once
    // maxInboundStreams of them had piled up: this guards the blocks service against the same)
    const provider = await node()
    const fetcher = await node()
    const small = chunkFile(fileOf(1000, 3))
    await putAll(provider, small)
    await link(fetcher, provider)
    for (let i = 0; i < 24; i++) {
      await fetcher.services.blocks.store.delete(small[0]!.cid)
      await fetcher.services.blocks.fetch([small[0]!.cid], ids(provider))
    }
    const open = (n: Libp2p): number =>
      n.getConnections().flatMap((c) => c.streams.filter((s) => s.protocol === BLOCKS_PROTOCOL))
        .length
    await waitFor(() => open(fetcher) === 0 && open(provider) === 0, 5000, 'streams closed')
  })

  it('rejects a provider that serves tampered blocks, penalises it and gets them elsewhere', async () => {
    const bad = await node({ store: new TamperingStore() })
    const honest = await node()
    await putAll(bad, blocks)
    await putAll(honest, blocks)
    const fetcher = await node()
    await link(fetcher, bad, honest)
    await fetcher.services.blocks.fetch(cids, ids(bad, honest))

    expect(await allVerified(fetcher, cids)).toBe(true)
    for (const c of cids) expect(await fetcher.services.blocks.store.has(c)).toBe(true)
    const stats = fetcher.services.blocks.stats()
    expect(stats.rejectedBlocks).toBeGreaterThanOrEqual(1)
    expect(stats.scores[bad.peerId.toString()]).toBeLessThan(
      fetcher.services.blocks.limits.minScore,
    )
    expect(stats.scores[honest.peerId.toString()]).toBeGreaterThan(0)
    expect(logs.some((l) => l.includes('rejected a block from'))).toBe(true)

    // later fetches skip it
    const other = chunkFile(fileOf(600_000, 99))
    await putAll(bad, other)
    await putAll(honest, other)
    const servedBefore = bad.services.blocks.stats().servedBlocks
    await fetcher.services.blocks.fetch(
      other.map((b) => b.cid),
      ids(bad, honest),
    )
    expect(bad.services.blocks.stats().servedBlocks).toBe(servedBefore)
  })

  it('rejects with BLOCKS_UNAVAILABLE when only a tampering provider has a block', async () => {
    const bad = await node({ store: new TamperingStore() })
    const honest = await node()
    await putAll(bad, blocks)
    await putAll(honest, blocks.slice(1))
    const fetcher = await node()
    await link(fetcher, bad, honest)
    const e = await rejection(fetcher.services.blocks.fetch(cids, ids(bad, honest)))
    expect(e.code).toBe('BLOCKS_UNAVAILABLE')
    expect((e as BlocksUnavailableError).missing).toEqual([cids[0]])
    expect(await fetcher.services.blocks.store.has(cids[0]!)).toBe(false)
    expect(await allVerified(fetcher, cids)).toBe(true)
  })

  it('rejects on DONT_HAVE from every provider, not on a timeout, storing the rest', async () => {
    const a = await node()
    const b = await node()
    await putAll(a, blocks.slice(0, 5))
    await putAll(b, blocks.slice(3, -1))
    // a timeout far beyond the test's own: only the DONT_HAVE answers can end this fetch
    const fetcher = await node({ limits: { blockTimeoutMs: 3_600_000 } })
    await link(fetcher, a, b)
    const e = await rejection(fetcher.services.blocks.fetch(cids, ids(a, b)))
    expect(e.code).toBe('BLOCKS_UNAVAILABLE')
    expect(e.message).toMatch(/^1 block is not available/)
    expect((e as BlocksUnavailableError).missing).toEqual([cids.at(-1)])
    expect(await fetcher.services.blocks.store.usage()).toMatchObject({
      blocks: blocks.length - 1,
    })
    expect(await allVerified(fetcher, cids)).toBe(true)

    // no providers at all, or only ourselves
    const none = await rejection(fetcher.services.blocks.fetch(cids, []))
    expect(none.code).toBe('BLOCKS_UNAVAILABLE')
    const self = await rejection(fetcher.services.blocks.fetch(cids, ids(fetcher)))
    expect(self.code).toBe('BLOCKS_UNAVAILABLE')
  })

  it('moves blocks from a silent provider to another after the timeout', async () => {
    const silent = await plain()
    await silent.handle(BLOCKS_PROTOCOL, async (stream: Stream) => {
      for await (const chunk of stream) void chunk // reads, never answers
    })
    const honest = await node()
    await putAll(honest, blocks)
    const fetcher = await node({ limits: { blockTimeoutMs: 300 } })
    await link(fetcher, silent, honest)
    await fetcher.services.blocks.fetch(cids, ids(silent, honest))
    expect(await allVerified(fetcher, cids)).toBe(true)
    expect(fetcher.services.blocks.score(silent.peerId.toString())).toBeLessThan(0)
  })

  it('drops a provider that answers with garbage and gets the blocks from another', async () => {
    const liar = await plain()
    await liar.handle(BLOCKS_PROTOCOL, async (stream: Stream) => {
      for await (const chunk of stream) {
        void chunk
        stream.send(encodeMessage(new Uint8Array([0x77, 1, 2, 3]))[0]!)
      }
    })
    const honest = await node()
    await putAll(honest, blocks)
    const fetcher = await node()
    await link(fetcher, liar, honest)
    await fetcher.services.blocks.fetch(cids, ids(liar, honest))
    expect(await allVerified(fetcher, cids)).toBe(true)
    const stats = fetcher.services.blocks.stats()
    expect(stats.protocolErrors).toBe(1)
    expect(stats.scores[liar.peerId.toString()]).toBeLessThan(0)
  })

  it('rejects with ABORTED when the signal fires', async () => {
    const silent = await plain()
    await silent.handle(BLOCKS_PROTOCOL, async (stream: Stream) => {
      for await (const chunk of stream) void chunk
    })
    const fetcher = await node()
    await link(fetcher, silent)
    const e = await rejection(
      fetcher.services.blocks.fetch(cids, ids(silent), { signal: AbortSignal.timeout(100) }),
    )
    expect(e.code).toBe('ABORTED')
    const already = await rejection(
      fetcher.services.blocks.fetch(cids, ids(silent), { signal: AbortSignal.abort() }),
    )
    expect(already.code).toBe('ABORTED')
  })

  it('works between peers built by createPeer', async () => {
    const peers: OrreryPeer[] = [await makePeer(), await makePeer()]
    running.push(...peers)
    const [a, b] = peers as [OrreryPeer, OrreryPeer]
    const small = chunkFile(fileOf(300_000, 3))
    for (const blk of small) await a.node.services.blocks.store.put(blk.cid, blk.bytes)
    await connect(b, a)
    await b.node.services.blocks.fetch(
      small.map((x) => x.cid),
      [a.id],
    )
    expect(await b.node.services.blocks.store.usage()).toMatchObject({ blocks: small.length })
  })
})

describe('serving blocks', () => {
  /** Opens a raw blocks stream to `to` and returns it with a reader of decoded messages. */
  async function rawStream(
    from: Plain,
    to: Libp2p,
  ): Promise<{ stream: Stream; next: () => Promise<BlocksMessage | 'closed'> }> {
    const stream = await from.dialProtocol(to.getMultiaddrs(), BLOCKS_PROTOCOL)
    const decoder = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: MAX_BLOCKS_MESSAGE })
    const queue: Uint8Array[] = []
    const it = stream[Symbol.asyncIterator]()
    const next = async (): Promise<BlocksMessage | 'closed'> => {
      while (queue.length === 0) {
        const r = await it.next().catch(() => ({ done: true as const, value: undefined }))
        if (r.done === true) return 'closed'
        const got = decoder.push(r.value)
        if (!got.ok) throw got.error
        queue.push(...got.value)
      }
      const m = decodeBlocksMessage(queue.shift()!)
      if (!m.ok) throw m.error
      return m.value
    }
    return { stream, next }
  }
  const frame = (m: BlocksMessage): Uint8Array => encodeMessage(encodeBlocksMessage(m))[0]!

  it('answers a WANT with BLOCK and DONT_HAVE', async () => {
    const provider = await node()
    await putAll(provider, blocks.slice(0, 1))
    const asker = await plain()
    const { stream, next } = await rawStream(asker, provider)
    stream.send(frame({ type: 'want', cids: [cids[0]!, cids[1]!] }))
    const first = await next()
    // (toEqual on a 256 KiB array is slow: compare the bytes directly)
    expect(first !== 'closed' && first.type === 'block' && first.cid).toBe(cids[0])
    const got = first !== 'closed' && first.type === 'block' ? first.bytes : new Uint8Array()
    expect(equalBytes(got, blocks[0]!.bytes)).toBe(true)
    expect(await next()).toEqual({ type: 'dont-have', cids: [cids[1]] })
  })

  it('answers DONT_HAVE to everything when serving is off, and serves when it is on again', async () => {
    let on = false
    const seed = await node({ serve: () => on })
    await putAll(seed, blocks)
    const asker = await plain()
    const { stream, next } = await rawStream(asker, seed)
    stream.send(frame({ type: 'want', cids: cids.slice(0, 3) }))
    expect(await next()).toEqual({ type: 'dont-have', cids: cids.slice(0, 3) })

    const fetcher = await node()
    await link(fetcher, seed)
    const e = await rejection(fetcher.services.blocks.fetch(cids, ids(seed)))
    expect(e.code).toBe('BLOCKS_UNAVAILABLE')
    expect((e as BlocksUnavailableError).missing).toHaveLength(blocks.length)
    expect(seed.services.blocks.stats().servedBlocks).toBe(0)

    on = true
    await fetcher.services.blocks.fetch(cids, ids(seed))
    expect(seed.services.blocks.stats().servedBlocks).toBe(blocks.length)
  })

  const cid = blockCid(new Uint8Array([1]))
  const bad: [string, () => Uint8Array[]][] = [
    ['garbage bytes', () => [new Uint8Array(300).map((_, i) => (i * 97 + 13) & 0xff)]],
    ['a frame longer than allowed', () => [new Writer().varint(MAX_FRAME + 1).finish()]],
    [
      'a message longer than one block',
      () => encodeMessage(new Uint8Array(MAX_BLOCKS_MESSAGE + 1)),
    ],
    ['an unknown message type', () => [encodeMessage(new Uint8Array([0x77, 1, 2]))[0]!]],
    [
      'a WANT of more than 256 CIDs',
      () => {
        const w = new Writer().u8(1).varint(257)
        for (let i = 0; i < 257; i++) w.bytes(new Uint8Array(36))
        return encodeMessage(w.finish())
      },
    ],
    [
      'more outstanding wants than allowed',
      () => [frame({ type: 'want', cids: Array.from({ length: 65 }, () => cid) })],
    ],
    [
      'a BLOCK sent to the provider',
      () => [frame({ type: 'block', cid, bytes: new Uint8Array([1]) })],
    ],
  ]
  for (const [name, bytes] of bad) {
    it(`closes the stream on ${name} and keeps serving others`, async () => {
      const victim = await node()
      await putAll(victim, blocks)
      const attacker = await plain()
      const { stream, next } = await rawStream(attacker, victim)
      for (const b of bytes()) stream.send(b)
      expect(await next().catch(() => 'closed' as const)).toBe('closed')
      await waitFor(() => logs.some((l) => l.startsWith('blocks:')), 3000, 'a log line')
      expect(victim.services.blocks.stats().protocolErrors).toBe(1)

      const honest = await node()
      await link(honest, victim)
      await honest.services.blocks.fetch(cids, ids(victim))
      expect(await honest.services.blocks.store.usage()).toMatchObject({ blocks: blocks.length })
    })
  }

  it('serves many blocks to one stream with backpressure', async () => {
    const big = chunkFile(fileOf(BLOCK_SIZE * 40, 5))
    const provider = await node()
    await putAll(provider, big)
    const fetcher = await node({ limits: { windowPerProvider: 32 } })
    await link(fetcher, provider)
    await fetcher.services.blocks.fetch(
      big.map((b) => b.cid),
      ids(provider),
    )
    expect(provider.services.blocks.stats().servedBytes).toBe(BLOCK_SIZE * 40)
  })
})
