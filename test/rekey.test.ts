/**
 * Two peers syncing a document both take a new key for it (a space's new epoch), one after the
 * other, over real streams: they go on syncing whichever re-keys first and whichever started the
 * session. The stall this guards: the side re-keying second had already seen the other's tag for
 * the new key, kept its old session while the other had dropped it, and both waited on each
 * other until someone wrote (and then still, the writer no longer sending to it).
 */
import { describe, it } from 'vitest'
import { randomKey } from '../src/core/keys/aead'
import type { OrreryPeer } from '../src/core/peer'
import { connect, shareKeys, sleep, testPeers, waitFor } from './peers'

const peer = testPeers()

/** Two peers, the first of them the session's initiator (the lower peer id starts). */
async function pair(): Promise<[OrreryPeer, OrreryPeer]> {
  const [x, y] = [await peer(), await peer()]
  return x.node.peerId.toString() < y.node.peerId.toString() ? [x, y] : [y, x]
}

describe('re-keying a synced document', { timeout: 30_000 }, () => {
  for (const first of ['initiator', 'responder'] as const)
    for (const gap of [0, 300])
      it(`the ${first} re-keys first, the other ${gap} ms later: both go on syncing`, async () => {
        const [initiator, responder] = await pair()
        const [a, b] = first === 'initiator' ? [initiator, responder] : [responder, initiator]
        const id = (await a.repo.create()).id
        await a.state.set(`/${id}/before`, 1)
        await shareKeys(a, b, id)
        await b.repo.open(id)
        await connect(b, a)
        await waitFor(async () => (await b.state.get(`/${id}/before`)) === 1, 10_000, 'first sync')

        const next = randomKey()
        await a.repo.setKey(id, next)
        // the gap lets a's tag for the new key reach b before b has the key (the stalling order)
        await sleep(gap)
        await b.repo.setKey(id, next)

        await a.state.set(`/${id}/after`, 'a')
        await waitFor(async () => (await b.state.get(`/${id}/after`)) === 'a', 10_000, 'a to b')
        await b.state.set(`/${id}/reply`, 'b')
        await waitFor(async () => (await a.state.get(`/${id}/reply`)) === 'b', 10_000, 'b to a')
      })
})
