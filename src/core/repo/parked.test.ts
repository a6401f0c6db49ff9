/**
 * Changes the space refuses for now (an outsider's, or a new member's before the change that
 * admits them) are parked and retried on every flush for up to PARK_MS. Their signatures are
 * verified once, when they arrive: the chaos suite (test/chaos) found every retry verifying them
 * again, so an outsider's parked changes cost a member one Ed25519 verification per change per
 * flush (31 of 41 s of CPU in one schedule).
 */
import { proveKey } from './test-peers'
import { describe, expect, it, vi } from 'vitest'
import { am } from '../automerge'
import { identityFromSeed } from '../identity'
import * as identity from '../identity'
import { newDocId } from '../ids'
import { docGovernance } from '../spaces/governance'
import { newSpaceValue, readSpace } from '../spaces/model'
import { StateApi } from '../state'
import { MemoryStorageAdapter } from '../storage/memory'
import type { SyncPeer } from '../sync/peer'
import { SignatureList } from '../sync/signature-list'
import { signChange } from './governance'
import { Repo } from './repo'

vi.mock('../identity', async (original) => {
  const real = await original<typeof import('../identity')>()
  return { ...real, verify: vi.fn(real.verify) }
})

const member = identityFromSeed(new Uint8Array(32).fill(1), 0)
const outsider = identityFromSeed(new Uint8Array(32).fill(2), 0)
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

describe('parked changes', () => {
  it('are verified once, not again on every flush while they wait', async () => {
    const id = newDocId()
    const spaceId = newDocId()
    const space = readSpace(newSpaceValue('s', member, 1), spaceId)
    const repo = new Repo({
      storage: new MemoryStorageAdapter(),
      tabId: 't',
      governance: (doc) =>
        doc === id
          ? docGovernance(doc, { spaceId, state: () => space, identity: () => member })
          : undefined,
    })
    const state = new StateApi(repo)
    const h = await repo.open(id)
    const peer: SyncPeer = {
      key: 'x',
      remotePeer: 'outsider-tab',
      localPeer: 'me',
      identity: outsider.id,
      initiator: false,
      sendInterest: () => undefined,
      wake: () => {},
      fault: () => {},
    }
    repo.addPeer(peer)
    await proveKey(repo, peer, id)

    // the outsider signs 10 changes with its own (valid) key
    const theirs = am().create()
    const changes: Uint8Array[] = []
    const sigs = []
    for (let i = 0; i < 10; i++) {
      theirs.put('_root', `x${i}`, i)
      const hash = theirs.commit()
      if (hash === null) throw new Error('no change')
      sigs.push(signChange(outsider, hash))
      changes.push(theirs.getChangeByHash(hash)!)
    }
    const verify = vi.mocked(identity.verify)
    verify.mockClear()
    await repo.receiveSync(
      peer,
      id,
      { heads: theirs.getHeads(), need: [], have: [], changes },
      SignatureList.of(sigs),
    )
    await vi.waitFor(() => expect(verify).toHaveBeenCalledTimes(10)) // each signature once, then parked: not a member
    expect(h.read(['x0'])).toBeUndefined()

    // twenty flushes of the member's own edits while the outsider's changes wait
    for (let i = 0; i < 20; i++) {
      await state.set(`/${id}/mine${i}`, i)
      await tick()
    }
    expect(h.read(['mine19'])).toBe(19)
    expect(h.read(['x0'])).toBeUndefined() // still refused
    expect(verify).toHaveBeenCalledTimes(10)
    await repo.shutdown()
  })
})
