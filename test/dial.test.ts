/** Dialling discovered peers (src/core/discovery/dialer.ts): no dial waits on a stuck attempt. */
import type { Transport } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import type { DiscoveryClientInit } from '../src/core/discovery/client'
import type { OrreryPeer } from '../src/core/peer'
import { connect, makePeer, makeRelay, openDoc, type TestRelay, waitFor } from './peers'

const running: (OrreryPeer | TestRelay)[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})
async function peer(opts: Parameters<typeof makePeer>[0] = {}): Promise<OrreryPeer> {
  const p = await makePeer(opts)
  running.push(p)
  return p
}

interface Stalls {
  started: number
  aborted: number
}

/**
 * Wraps a transport so that its first `count` dials to the peer `target()` never complete (as a
 * WebRTC dial in Chromium sometimes did after the ICE exchange) until their signal aborts.
 */
function stallingDials(target: () => string, count: number, stalls: Stalls) {
  return <C>(factory: (components: C) => Transport) =>
    (components: C): Transport => {
      const inner = factory(components)
      const dial: Transport['dial'] = async (ma, options) => {
        if (!ma.toString().includes(target()) || stalls.started >= count)
          return inner.dial(ma, options)
        stalls.started++
        return new Promise((_, reject) => {
          options.signal.addEventListener('abort', () => {
            stalls.aborted++
            reject(options.signal.reason as Error)
          })
        })
      }
      return new Proxy(inner, {
        get(t, prop) {
          if (prop === 'dial') return dial
          const v: unknown = Reflect.get(t, prop, t)
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v
        },
      })
    }
}

/** a creates a document, b opens it; only b dials (a refuses to dial b). */
async function pair(
  stalled: number,
  discovery: DiscoveryClientInit = {},
): Promise<{ a: OrreryPeer; b: OrreryPeer; stalls: Stalls; id: string }> {
  const relay = await makeRelay()
  running.push(relay)
  let bId = ''
  // a never dials b back: its own grace-period dial would connect the pair whatever b does
  const a = await peer({ connectionGater: { denyDialPeer: (p) => p.toString() === bId } })
  const stalls: Stalls = { started: 0, aborted: 0 }
  const b = await peer({
    transport: stallingDials(() => a.id, stalled, stalls),
    discovery: { hedgeMs: 200, attemptMs: 1000, dialMs: 3000, ...discovery },
  })
  bId = b.id
  const id = (await a.repo.create()).id
  await a.state.set(`/${id}/n`, 1)
  for (const p of [a, b]) await connect(p, relay)
  await openDoc(b, id)
  await waitFor(async () => (await b.state.get(`/${id}/n`)) === 1, 15_000, 'b syncs with a')
  return { a, b, stalls, id }
}

describe('dialling a discovered peer', () => {
  it('connects with a second attempt while the first never completes, then abandons the first', async () => {
    const { a, b, stalls } = await pair(1)
    expect(stalls.started).toBe(1)
    // the stuck attempt is aborted once another has connected, not left to hang
    await waitFor(() => stalls.aborted === 1, 5000, 'the stalled attempt aborted')
    expect(b.node.getConnections(a.node.peerId).filter((c) => c.status === 'open')).toHaveLength(1)
  })

  it('connects when every attempt of a dial stalls: each is aborted, and the retry is a new dial', async () => {
    const { stalls } = await pair(4)
    // the first dial's three attempts and the retry's first stalled, and were all aborted
    expect(stalls.started).toBe(4)
    await waitFor(() => stalls.aborted === 4, 5000, 'every stalled attempt aborted')
  }, 30_000)

  it('keeps dialling a peer still in the topic after the first four dials failed', async () => {
    // five dials of three stalled attempts each, then one that connects: it gave up after four
    const { stalls } = await pair(15, { dialMs: 600, retryMs: [100, 100], retryEveryMs: 300 })
    expect(stalls.started).toBe(15)
  }, 30_000)

  for (const side of ['dialler', 'dialled'] as const) {
    it(`dials again when the direct connection closes (closed by the ${side}) and both stay in the topic`, async () => {
      const { a, b, id } = await pair(0, { redialMs: 200 })
      const by = side === 'dialler' ? b : a
      const other = side === 'dialler' ? a : b
      await by.node.hangUp(other.node.peerId)
      expect(b.node.getConnections(a.node.peerId)).toHaveLength(0)
      // nothing else brings them together: the relayed connection closed once the direct was up
      await a.state.set(`/${id}/n`, 2)
      await waitFor(
        async () => (await b.state.get(`/${id}/n`)) === 2,
        15_000,
        'b to dial a again and sync',
      )
      expect(b.node.getConnections(a.node.peerId).filter((c) => c.status === 'open')).toHaveLength(
        1,
      )
    }, 30_000)
  }
})
