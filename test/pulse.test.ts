import { afterEach, describe, expect, it } from 'vitest'
import { Pulse } from '../src/core/pulse'
import type { OrreryPeer } from '../src/core/peer'
import { connect, makePeer, waitFor } from './peers'

const running: OrreryPeer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})

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
})
