import { afterEach, describe, expect, it, vi } from 'vitest'
import { FramedStream } from '../src/core/wire/framed-stream'
import { connect, makePeer, makeRelay, openDoc, sleep, type TestRelay, waitFor } from './peers'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { generateIdentity } from '../src/core/identity'
import { fromUtf8 } from '../src/core/bytes'
import type { OrreryPeer } from '../src/core/peer'

const running: (OrreryPeer | TestRelay)[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})
async function peer(opts: Parameters<typeof makePeer>[0] = {}): Promise<OrreryPeer> {
  const p = await makePeer(opts)
  running.push(p)
  return p
}

describe('sync between in-process peers', () => {
  it('syncs edits both ways between two connected peers', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/hello`, 'from a')
    await openDoc(b, id)
    await connect(a, b)
    await waitFor(async () => (await b.state.get(`/${id}/hello`)) === 'from a', 5000, 'b sees a')
    await b.state.set(`/${id}/reply`, { from: 'b' })
    await waitFor(async () => (await a.state.get(`/${id}/reply/from`)) === 'b', 5000, 'a sees b')
  })

  it('never applies a sync message over the firewall size limit (and strikes its sender)', async () => {
    // (the session now checks the size before handing the message to the repo at all)
    const a = await peer({ firewall: { maxMessageBytes: 4096 } })
    const b = await peer()
    const id = (await b.repo.create()).id
    await b.state.set(`/${id}/small`, 'ok')
    await openDoc(a, id)
    await connect(a, b)
    await waitFor(async () => (await a.state.get(`/${id}/small`)) === 'ok', 5000, 'a syncs')
    // random text: Automerge compresses changes, so a repeated character would stay small
    const big = Array.from({ length: 20_000 }, () =>
      String.fromCharCode(33 + Math.floor(Math.random() * 90)),
    ).join('')
    await b.state.set(`/${id}/big`, big)
    await waitFor(() => (a.firewall.stats()[b.id]?.strikes ?? 0) >= 1, 5000, 'a strikes b')
    await sleep(300)
    expect(await a.state.get(`/${id}/big`)).toBeUndefined()
  })

  it('ends a running session when the user blocks its person, and syncs nothing more from them', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await b.repo.create()).id
    await b.state.set(`/${id}/k`, 'before')
    await openDoc(a, id)
    await connect(a, b)
    await waitFor(async () => (await a.state.get(`/${id}/k`)) === 'before', 5000, 'a syncs')
    expect(a.node.services.sync.list()).toHaveLength(1)
    a.firewall.configure({ deny: [b.identity.id] })
    await waitFor(() => a.node.services.sync.list().length === 0, 5000, 'the session ends')
    await b.state.set(`/${id}/k`, 'after')
    await sleep(500)
    expect(await a.state.get(`/${id}/k`)).toBe('before')
    expect(a.node.services.sync.list()).toHaveLength(0) // and no new one opens
  })

  it('syncs again over the same connection when the user unblocks the person', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await b.repo.create()).id
    await b.state.set(`/${id}/k`, 'before')
    await openDoc(a, id)
    await connect(a, b)
    await waitFor(async () => (await a.state.get(`/${id}/k`)) === 'before', 5000, 'a syncs')
    a.firewall.configure({ deny: [b.identity.id] })
    await waitFor(() => a.node.services.sync.list().length === 0, 5000, 'the session ends')
    await b.state.set(`/${id}/k`, 'while blocked')
    a.firewall.configure({ deny: [] })
    await waitFor(
      async () => (await a.state.get(`/${id}/k`)) === 'while blocked',
      5000,
      'a syncs again',
    )
    await b.state.set(`/${id}/k`, 'after')
    await waitFor(async () => (await a.state.get(`/${id}/k`)) === 'after', 5000, 'and goes on')
  })

  it('forgets what its firewall kept about a peer a while after it left, not while connected', async () => {
    const a = await peer({ firewall: { forgetAfterMs: 300 } })
    const b = await peer()
    const id = (await b.repo.create()).id
    await b.state.set(`/${id}/k`, 1)
    await openDoc(a, id)
    await connect(a, b)
    await waitFor(async () => (await a.state.get(`/${id}/k`)) === 1, 5000, 'a syncs')
    expect(a.firewall.stats()[b.id]?.writes).toBeGreaterThan(0)
    await sleep(500) // connected, for longer than forgetAfterMs: kept
    expect(a.firewall.stats()[b.id]).toBeDefined()
    // just gone (the moment a hears of it, after its own listener started the countdown): kept
    let keptAtDisconnect: boolean | undefined
    a.node.addEventListener('peer:disconnect', () => {
      keptAtDisconnect = a.firewall.stats()[b.id] !== undefined
    })
    await a.node.hangUp(b.node.peerId)
    await waitFor(() => keptAtDisconnect !== undefined, 5000, 'the disconnect')
    expect(keptAtDisconnect).toBe(true)
    await waitFor(() => a.firewall.stats()[b.id] === undefined, 5000, 'a forgets b')
  })

  it('starts syncing a document opened while already connected, whichever side opens it', async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(a, b)
    for (const [first, second] of [
      [a, b],
      [b, a],
    ] as const) {
      const id = (await first.repo.create()).id
      await first.state.set(`/${id}/x`, 'made before the other opened it')
      await openDoc(second, id)
      await waitFor(
        async () => (await second.state.get(`/${id}/x`)) !== undefined,
        5000,
        'late open syncs',
      )
    }
  })

  it('knows the remote person from the tab certificate', async () => {
    const [a, b] = [await peer(), await peer()]
    await connect(a, b)
    await waitFor(() => a.node.services.sync.list().some((s) => s.identity !== undefined), 5000)
    expect(a.node.services.sync.list()[0]?.identity).toBe(b.identity.id)
  })

  it('forwards across three peers in a line (a - b - c)', async () => {
    const [a, b, c] = [await peer(), await peer(), await peer()]
    const id = (await a.repo.create()).id
    await openDoc(b, id)
    await openDoc(c, id)
    await connect(a, b)
    await connect(b, c)
    await a.state.set(`/${id}/x`, 1)
    await c.state.set(`/${id}/y`, 2)
    for (const p of [a, b, c]) {
      await waitFor(
        async () => JSON.stringify(await p.state.get(`/${id}`)) === '{"x":1,"y":2}',
        5000,
        'line converged',
      )
    }
  })

  it('finds peers through the discovery service and syncs', async () => {
    const relay = await makeRelay()
    running.push(relay)
    const [a, b, c] = [await peer(), await peer(), await peer()]
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/n`, 42)
    for (const p of [a, b, c]) await connect(p, relay)
    await openDoc(b, id)
    await openDoc(c, id)
    for (const p of [b, c])
      await waitFor(async () => (await p.state.get(`/${id}/n`)) === 42, 8000, 'discovered')
    // everyone is directly connected to everyone, not through the relay
    await waitFor(
      () =>
        a.node.getConnections().filter((x) => x.remotePeer.toString() !== relay.peerId.toString())
          .length === 2,
      5000,
    )
  })

  it('syncs a multi-megabyte document split into bounded frames', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    // incompressible values: Automerge compresses its saves, so plain repetition would stay small
    const blob = (i: number): string => {
      let x = i + 1
      let s = ''
      for (let j = 0; j < 512; j++) {
        x = (x * 1103515245 + 12345) % 2147483648
        s += 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[(x >>> 16) & 63]
      }
      return s
    }
    for (let i = 0; i < 12000; i++) await a.state.set(`/${id}/k${i}`, blob(i))
    const h = a.repo.get(id)!
    await h.whenSaved()
    expect(h.save().length).toBeGreaterThan(3 * 1024 * 1024)
    await openDoc(b, id)
    await connect(a, b)
    await waitFor(
      async () => (await b.state.get(`/${id}/k11999`)) === blob(11999),
      20_000,
      'big doc arrives',
    )
    expect(Object.keys((await b.state.get(`/${id}`)) as object)).toHaveLength(12000)
  })
})

describe('concurrent writes under a path nobody created yet', () => {
  it('keeps both sides’ keys when two partitioned peers create the same map', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    await openDoc(b, id)
    // written apart, then met: each created its own map at "after"
    await a.state.set(`/${id}/after/a`, 'still here')
    await a.state.set(`/${id}/after/deep/x`, 1)
    await b.state.set(`/${id}/after/b`, 'me too')
    await b.state.set(`/${id}/after/deep/y`, 2)
    await connect(a, b)
    const expected = { a: 'still here', b: 'me too', deep: { x: 1, y: 2 } }
    for (const p of [a, b])
      await waitFor(
        async () => JSON.stringify(await p.state.get(`/${id}/after`)) === JSON.stringify(expected),
        5000,
        'merged',
      )
  })
})

describe('what is waiting for a peer', () => {
  it('counts local changes no peer has confirmed, across a restart, until a peer has them', async () => {
    const storage = new MemoryStorageAdapter()
    const identity = generateIdentity()
    const a1 = await makePeer({ storage, identity })
    const id = (await a1.repo.create()).id
    await a1.state.set(`/${id}/one`, 1)
    await sleep(20)
    await a1.state.set(`/${id}/two`, 2)
    await waitFor(() => a1.repo.get(id)?.status().unsynced === 2, 2000, 'two waiting')
    await a1.state.flush()
    // the record is written a second after the last change of a burst
    await waitFor(
      async () => {
        const meta = await storage.load(['meta', id])
        return (
          meta !== undefined && (JSON.parse(fromUtf8(meta)) as { unsynced?: number }).unsynced === 2
        )
      },
      5000,
      'the record of two waiting',
    )
    await a1.stop()

    const a2 = await makePeer({ storage, identity })
    running.push(a2)
    await openDoc(a2, id)
    expect(a2.repo.get(id)?.status().unsynced).toBe(2) // still waiting after the "reload"
    expect((await a2.repo.list()).find((m) => m.id === id)?.lastSyncAt).toBeUndefined()
    const b = await peer()
    await openDoc(b, id)
    await connect(a2, b)
    await waitFor(() => a2.repo.get(id)?.status().unsynced === 0, 5000, 'all synced')
    await waitFor(
      async () => (await a2.repo.list()).find((m) => m.id === id)?.lastSyncWith === b.identity.id,
      3000,
      'last sync recorded',
    )
  })
  it('holds a bare acknowledgement for the next change (one write), and sends it alone when none comes', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/n`, 0)
    await openDoc(b, id)
    await connect(a, b)
    await waitFor(async () => (await b.state.get(`/${id}/n`)) === 0, 5000, 'b syncs')
    await waitFor(() => a.repo.get(id)?.status().unsynced === 0, 5000, 'a confirmed')
    const writes: number[] = []
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the stream as this
    const real = FramedStream.prototype.sendAll
    const sendAll = vi.spyOn(FramedStream.prototype, 'sendAll').mockImplementation(function (
      this: FramedStream,
      ms: readonly Uint8Array[],
    ) {
      writes.push(ms.length)
      return real.call(this, ms)
    })
    try {
      // a live exchange: each side answers the other's change with one of its own at once
      for (let i = 1; i <= 6; i++) {
        const [from, to] = i % 2 === 1 ? [a, b] : [b, a]
        await from.state.set(`/${id}/n`, i)
        await waitFor(async () => (await to.state.get(`/${id}/n`)) === i, 5000, `round ${i}`)
      }
      // the last change's acknowledgement has nothing to ride with: it goes alone, after the delay
      await waitFor(() => b.repo.get(id)?.status().unsynced === 0, 5000, 'a confirmed the last')
    } finally {
      sendAll.mockRestore()
    }
    // acknowledgements rode with the answering change: some writes carried two frames
    expect(writes.some((n) => n >= 2)).toBe(true)
  })
})
