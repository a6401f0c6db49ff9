/**
 * Deferred subscriptions (views): their value comes after the change went out to the peers and
 * to the other subscribers, one value for the changes of several flushes in a row.
 */
import { describe, expect, it, vi } from 'vitest'
import { am } from '../automerge'
import { newDocId } from '../ids'
import { DocStore } from '../storage/doc-store'
import { MemoryStorageAdapter } from '../storage/memory'
import type { SyncPeer } from '../sync/peer'
import { DocHandle } from './doc-handle'

function handle(): DocHandle {
  const id = newDocId()
  return new DocHandle(id, am().create(), new DocStore(new MemoryStorageAdapter(), id), {
    tabId: 't',
    bus: undefined,
  })
}

function peer(events: string[]): SyncPeer {
  return {
    key: 'p',
    remotePeer: 'p',
    localPeer: 'me',
    identity: undefined,
    initiator: true,
    sendInterest: () => undefined,
    wake: () => void events.push('peer woken'),
    fault: () => undefined,
  }
}

describe('a deferred subscription', () => {
  it('hears of a change after the peers and the other subscribers did', async () => {
    const h = handle()
    const events: string[] = []
    h.attachPeer(peer(events), false)
    h.subscribe(['x'], (v) => events.push(`now ${String(v)}`))
    h.subscribe([], (v) => events.push(`view ${JSON.stringify(v)}`), { deferred: true })
    await vi.waitFor(() => expect(events).toHaveLength(2)) // the first values
    events.length = 0
    h.write(['x'], 1)
    await vi.waitFor(() => expect(events).toContain('view {"x":1}'))
    expect(events).toEqual(['now 1', 'peer woken', 'view {"x":1}'])
  })

  it('skips the values in between when changes come in a row', async () => {
    const h = handle()
    const seen: unknown[] = []
    h.subscribe(['n'], (v) => seen.push(v), { deferred: true })
    await vi.waitFor(() => expect(seen).toEqual([undefined]))
    // two flushes in one task: a new subscription flushes what is pending first
    h.write(['n'], 1)
    h.subscribe(['other'], () => undefined)
    h.write(['n'], 2)
    await vi.waitFor(() => expect(seen.at(-1)).toBe(2))
    await new Promise((r) => setTimeout(r, 20)) // nothing more may come
    // (a read between the two flushes may deliver the latest value twice, never the one before)
    expect(seen.slice(1).every((v) => v === 2)).toBe(true)
  })

  it('is not called once unsubscribed, nor after the document closed', async () => {
    const h = handle()
    const seen: unknown[] = []
    const off = h.subscribe(['n'], (v) => seen.push(v), { deferred: true })
    await vi.waitFor(() => expect(seen).toHaveLength(1))
    h.write(['n'], 1)
    off()
    const h2 = handle()
    const seen2: unknown[] = []
    h2.subscribe(['n'], (v) => seen2.push(v), { deferred: true })
    await vi.waitFor(() => expect(seen2).toHaveLength(1))
    h2.write(['n'], 1)
    h2.close()
    await new Promise((r) => setTimeout(r, 20)) // a window for calls that must not come
    expect(seen).toHaveLength(1)
    expect(seen2).toHaveLength(1)
  })
})
