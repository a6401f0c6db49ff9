import { describe, expect, it } from 'vitest'
import { OrreryError } from '../errors'
import { identityFromSeed } from '../identity'
import { MemoryStorageAdapter } from '../storage/memory'
import { signMessage } from './messages'
import {
  BACKOFF,
  backoffDelay,
  Inbox,
  MAX_CLOCK_SKEW_MS,
  MAX_MESSAGE_AGE_MS,
  MAX_REFUSALS,
  Outbox,
  REMEMBER_MS,
  type OutboxEntry,
} from './store'

const alice = identityFromSeed(new Uint8Array(32).fill(1))
const bob = identityFromSeed(new Uint8Array(32).fill(2))
const mallory = identityFromSeed(new Uint8Array(32).fill(3))
const T0 = 1_700_000_000_000

function clock(start = T0): { now: () => number; advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => (t += ms) }
}

describe('backoff', () => {
  it('doubles from 1 s and stops at 5 min', () => {
    const none = (): number => 0
    const schedule = Array.from({ length: 12 }, (_, i) => backoffDelay(i + 1, none))
    expect(schedule).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000, 300000,
    ])
    expect(backoffDelay(1000, none)).toBe(BACKOFF.maxMs)
  })

  it('jitters downwards by at most 20 %', () => {
    for (const r of [0, 0.25, 0.5, 0.999]) {
      for (let n = 1; n < 15; n++) {
        const base = Math.min(1000 * 2 ** (n - 1), 300_000)
        const d = backoffDelay(n, () => r)
        expect(d).toBeLessThanOrEqual(base)
        expect(d).toBeGreaterThanOrEqual(base * 0.8)
      }
    }
    expect(backoffDelay(3, () => 0.5)).toBe(3600)
  })
})

describe('Outbox', () => {
  it('persists before enqueue resolves and reloads everything from storage', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const outbox = new Outbox({ storage, identity: Promise.resolve(alice), now: c.now })
    await outbox.ready
    const changes: OutboxEntry[] = []
    outbox.events.on('changed', (e) => changes.push(e))
    const e = await outbox.enqueue(bob.id, 'microblog/mention', { post: 'p1' })
    expect(storage.keys).toEqual([`outbox/${e.id}`]) // on disk when the promise resolved
    expect(e).toMatchObject({
      to: bob.id,
      kind: 'microblog/mention',
      payload: { post: 'p1' },
      createdAt: T0,
      attempts: 0,
      refusals: 0,
      nextAttemptAt: T0,
      status: 'queued',
    })
    expect(changes.map((x) => x.status)).toEqual(['queued'])
    c.advance(10)
    const e2 = await outbox.enqueue(mallory.id, 'k', [1, 2])
    await outbox.markDelivered(e2.id)

    // a reload: a new Outbox over the same storage
    const again = new Outbox({ storage, identity: alice, now: c.now })
    await again.ready
    expect(again.list()).toEqual(outbox.list())
    expect(again.get(e2.id)).toMatchObject({ status: 'delivered', deliveredAt: T0 + 10 })
    expect(again.pending().map((x) => x.id)).toEqual([e.id])
    expect(again.message(e.id)).toEqual(outbox.message(e.id)) // the signed message itself
    expect(again.message(e.id)?.from).toBe(alice.id)
  })

  it('refuses bad recipients and payloads without storing anything', async () => {
    const storage = new MemoryStorageAdapter()
    const outbox = new Outbox({ storage, identity: alice })
    await expect(outbox.enqueue('bob', 'k', 1)).rejects.toThrow(/did:key/)
    await expect(outbox.enqueue(bob.id, 'k', 'x'.repeat(20_000))).rejects.toThrow(/16384/)
    await expect(outbox.enqueue(bob.id, 'k', undefined as never)).rejects.toThrow()
    expect(storage.keys).toEqual([])
    expect(outbox.list()).toEqual([])
  })

  it('schedules retries with backoff and reports what is due', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const outbox = new Outbox({ storage, identity: alice, now: c.now, random: () => 0 })
    const e = await outbox.enqueue(bob.id, 'k', 1)
    expect(outbox.due().map((x) => x.id)).toEqual([e.id])
    const waits: number[] = []
    for (let i = 0; i < 11; i++) {
      await outbox.markFailed(e.id, `attempt ${i + 1} failed`)
      const entry = outbox.get(e.id) as OutboxEntry
      waits.push(entry.nextAttemptAt - c.now())
      expect(outbox.due()).toEqual([])
      expect(outbox.due(entry.nextAttemptAt - 1)).toEqual([])
      expect(outbox.due(entry.nextAttemptAt).map((x) => x.id)).toEqual([e.id])
      c.advance(entry.nextAttemptAt - c.now())
    }
    expect(waits).toEqual([
      1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000,
    ])
    const reloaded = new Outbox({ storage, identity: alice, now: c.now })
    await reloaded.ready
    expect(reloaded.get(e.id)).toMatchObject({
      attempts: 11,
      lastError: 'attempt 11 failed',
      status: 'queued',
    })
    await reloaded.markDelivered(e.id)
    await reloaded.markFailed(e.id, 'late failure') // after delivery: ignored
    expect(reloaded.get(e.id)).toMatchObject({ status: 'delivered', attempts: 11 })
    expect(reloaded.get(e.id)?.lastError).toBeUndefined()
    expect(reloaded.due(Infinity)).toEqual([])
  })

  it('gives a message up after the recipient refused it MAX_REFUSALS times, or once too old', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const outbox = new Outbox({ storage, identity: alice, now: c.now, random: () => 0 })
    const e = await outbox.enqueue(bob.id, 'k', 1)
    for (let i = 0; i < 20; i++) await outbox.markFailed(e.id, 'no answer') // not a refusal
    await outbox.markFailed(e.id, 'recipient answered not-me') // another tab: not a refusal
    expect(outbox.get(e.id)).toMatchObject({ status: 'queued', refusals: 0 })
    for (let i = 1; i < MAX_REFUSALS; i++) await outbox.markFailed(e.id, 'refused', true)
    expect(outbox.get(e.id)).toMatchObject({ status: 'queued', refusals: MAX_REFUSALS - 1 })
    await outbox.markFailed(e.id, 'recipient answered rejected', true)
    expect(outbox.get(e.id)).toMatchObject({
      status: 'refused',
      refusals: MAX_REFUSALS,
      lastError: 'recipient answered rejected',
    })
    expect(outbox.due(Infinity)).toEqual([])
    expect(outbox.pending()).toEqual([])
    await outbox.markFailed(e.id, 'later', true) // settled: ignored
    expect(outbox.get(e.id)?.attempts).toBe(21 + MAX_REFUSALS)
    const reloaded = new Outbox({ storage, identity: alice, now: c.now })
    await reloaded.ready
    expect(reloaded.get(e.id)).toMatchObject({ status: 'refused', refusals: MAX_REFUSALS })
    expect(reloaded.due(Infinity)).toEqual([])

    // a message no recipient can take any more (older than MAX_MESSAGE_AGE_MS) is given up too
    const old = await outbox.enqueue(bob.id, 'k', 2)
    c.advance(MAX_MESSAGE_AGE_MS + 1)
    await outbox.markFailed(old.id, 'no answer')
    expect(outbox.get(old.id)).toMatchObject({ status: 'refused' })
    expect(outbox.get(old.id)?.lastError).toMatch(/too old/)
  })

  it('merges what another tab wrote to shared storage, never undoing a delivery', async () => {
    const storage = new MemoryStorageAdapter()
    const tab1 = new Outbox({ storage, identity: alice })
    const tab2 = new Outbox({ storage, identity: alice })
    await Promise.all([tab1.ready, tab2.ready])
    const e = await tab1.enqueue(bob.id, 'k', 1)
    expect(tab2.get(e.id)).toBeUndefined()
    await tab2.refresh()
    expect(tab2.get(e.id)?.status).toBe('queued')
    await tab2.markDelivered(e.id)
    await tab1.refresh()
    expect(tab1.get(e.id)?.status).toBe('delivered')
  })

  it('prunes delivered entries and skips damaged records', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const outbox = new Outbox({ storage, identity: alice, now: c.now })
    const old = await outbox.enqueue(bob.id, 'k', 1)
    const kept = await outbox.enqueue(bob.id, 'k', 2)
    await outbox.markDelivered(old.id)
    c.advance(1000)
    expect(await outbox.prune(c.now())).toBe(1)
    expect(outbox.list().map((x) => x.id)).toEqual([kept.id])
    await storage.save(['outbox', 'garbage'], new Uint8Array([1, 2, 3]))
    await storage.save(['outbox', 'x'], new TextEncoder().encode('{"id":"x"}'))
    const reloaded = new Outbox({ storage, identity: alice })
    await reloaded.ready
    expect(reloaded.list().map((x) => x.id)).toEqual([kept.id])
  })
})

describe('Inbox', () => {
  const msg = (createdAt = T0, from = alice) =>
    signMessage(from, { to: bob.id, kind: 'microblog/mention', payload: { n: 1 }, createdAt })

  it('accepts a message once: the same id again is a duplicate, across reloads', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const inbox = new Inbox({ storage, now: c.now })
    const seen: string[] = []
    inbox.events.on('message', (e) => seen.push(e.id))
    const m = msg()
    expect(await inbox.accept(m)).toBe('new')
    expect(await inbox.accept(m)).toBe('duplicate')
    expect(seen).toEqual([m.id])
    expect(inbox.list()).toMatchObject([
      { id: m.id, from: alice.id, to: bob.id, payload: { n: 1 }, receivedAt: T0 },
    ])
    // two copies at once (two streams): one is new, the other a duplicate
    const m2 = msg(T0 + 1)
    const both = await Promise.all([inbox.accept(m2), inbox.accept(m2)])
    expect(both.sort()).toEqual(['duplicate', 'new'])

    const reloaded = new Inbox({ storage, now: c.now })
    await reloaded.ready
    expect(reloaded.list()).toEqual(inbox.list())
    expect(await reloaded.accept(m)).toBe('duplicate')
    expect(reloaded.list()).toHaveLength(2)
  })

  it('remembers ids for 30 days after the entry is removed', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const inbox = new Inbox({ storage, now: c.now })
    const m = msg()
    await inbox.accept(m)
    await inbox.remove(m.id)
    expect(inbox.list()).toEqual([])
    c.advance(29 * 24 * 3600 * 1000)
    const later = new Inbox({ storage, now: c.now })
    await later.ready
    expect(later.list()).toEqual([])
    expect(await later.accept(m)).toBe('duplicate')
    expect(later.list()).toEqual([])
    // past the window the marker is gone, and the message is too old to be accepted anyway
    c.advance(REMEMBER_MS)
    const muchLater = new Inbox({ storage, now: c.now })
    await muchLater.ready
    expect(muchLater.hasSeen(m.id)).toBe(false)
    expect(storage.keys).toEqual([])
    await expect(muchLater.accept(m)).rejects.toThrow(/too old/)
  })

  it('sees what another tab accepted into shared storage', async () => {
    const storage = new MemoryStorageAdapter()
    const tab1 = new Inbox({ storage })
    const tab2 = new Inbox({ storage })
    await Promise.all([tab1.ready, tab2.ready])
    const m = msg(Date.now())
    expect(await tab1.accept(m)).toBe('new')
    expect(await tab2.accept(m)).toBe('duplicate')
    expect(tab2.list()).toEqual([])
    await tab2.refresh()
    expect(tab2.list().map((e) => e.id)).toEqual([m.id])
  })

  it('refuses forged, stale, future and id-stealing messages without storing them', async () => {
    const storage = new MemoryStorageAdapter()
    const c = clock()
    const inbox = new Inbox({ storage, now: c.now })
    const m = msg()
    const forged = { ...m, from: mallory.id }
    await expect(inbox.accept(forged)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' })
    const signedByMallory = signMessage(mallory, { to: bob.id, kind: 'k', payload: 1 })
    await expect(inbox.accept({ ...signedByMallory, from: alice.id })).rejects.toMatchObject({
      code: 'BAD_SIGNATURE',
    })
    await expect(inbox.accept(msg(T0 - MAX_MESSAGE_AGE_MS - 1))).rejects.toThrow(OrreryError)
    await expect(inbox.accept(msg(T0 + MAX_CLOCK_SKEW_MS + 1))).rejects.toThrow(/future/)
    expect(storage.keys).toEqual([])
    expect(await inbox.accept(m)).toBe('new')
    // mallory reuses alice's id: not a duplicate of alice's message, and not stored
    const stolen = signMessage(mallory, {
      id: m.id,
      to: bob.id,
      kind: 'k',
      payload: 2,
      createdAt: T0,
    })
    await expect(inbox.accept(stolen)).rejects.toMatchObject({ code: 'FORBIDDEN' })
    expect(inbox.list().map((e) => e.from)).toEqual([alice.id])
  })
})
