import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p, type ServiceFactoryMap } from 'libp2p'
import { afterEach, describe, expect, it } from 'vitest'
import { Pulse } from '../src/core/pulse'
import { connect, makePeer, waitFor } from './peers'

const running: { stop(): void | Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})

/** A node on loopback WebSockets that can also dial and listen through a circuit relay. */
async function wsNode(listen: string[], services: ServiceFactoryMap = {}): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen },
    transports: [webSockets(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping(), ...services },
  })
  running.push(node)
  return node
}

describe('the pulse', () => {
  it('measures round trips, marks a peer that stops answering as late, then drops it', async () => {
    const [a, b] = [await makePeer(), await makePeer()]
    running.push(a, b)
    await connect(a, b)
    const pulse = new Pulse(a.node as never, {
      intervalMs: 100,
      timeoutMs: 150,
      lateAfter: 2,
      dropAfterMs: 600,
    })
    pulse.start()
    try {
      await waitFor(() => pulse.get(b.id)?.rttMs !== undefined, 3000, 'a round trip')
      expect(pulse.get(b.id)?.state).toBe('ok')
      // b stops answering pings (its ping handler is gone), the connection itself stays open
      await b.node.unhandle('/ipfs/ping/1.0.0')
      await waitFor(() => pulse.get(b.id)?.state === 'late', 3000, 'marked late')
      await waitFor(() => a.node.getConnections(b.node.peerId).length === 0, 5000, 'dropped')
      expect(pulse.totals.dropped).toBe(1)
      expect(pulse.totals.answered).toBeGreaterThan(0)
    } finally {
      pulse.stop()
    }
  })

  it('never dials: a peer reached only over a relayed (limited) connection is not pinged', async () => {
    const relay = await wsNode(['/ip4/127.0.0.1/tcp/0/ws'], { relay: circuitRelayServer() })
    const relayAddr = relay.getMultiaddrs()[0]!.toString()
    const b = await wsNode(['/ip4/127.0.0.1/tcp/0/ws', `${relayAddr}/p2p-circuit`])
    await waitFor(
      () => b.getMultiaddrs().some((m) => m.toString().includes('/p2p-circuit')),
      10_000,
      'a reservation',
    )
    const a = await wsNode([])
    const limited = await a.dial(multiaddr(`${relayAddr}/p2p-circuit/p2p/${b.peerId.toString()}`))
    expect(limited.limits).toBeDefined()
    // identify over the relayed connection tells a b's own address, which it could dial directly
    await waitFor(
      async () =>
        (await a.peerStore.get(b.peerId)).addresses.some(
          (x) => !x.multiaddr.toString().includes('/p2p-circuit'),
        ),
      5000,
      "b's direct address in a's peer store",
    )
    const pulse = new Pulse(a as never, { intervalMs: 60_000 })
    pulse.start()
    try {
      await pulse.beat()
      expect(a.getConnections(b.peerId).filter((c) => c.limits === undefined)).toHaveLength(0)
      expect(pulse.get(b.peerId.toString())).toBeUndefined()
    } finally {
      pulse.stop()
    }
  }, 20_000)
})
