/**
 * The outbox between in-process peers over the memory transport, with a discovery relay: messages
 * for a person wait while they are away, survive a reload, arrive once, and only for them.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { connect, makePeer, makeRelay, sleep, waitFor, type TestRelay } from './peers'
import type { OrreryPeer } from '../src/core/peer'
import type { DiscoveryClientInit } from '../src/core/discovery/client'
import { generateIdentity, type Identity } from '../src/core/identity'
import { addLogSink, createLogger } from '../src/core/log'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { verifyTabCert } from '../src/core/tab-cert'
import { FramedStream } from '../src/core/wire/framed-stream'
import { MAX_FRAME } from '../src/core/wire/framing'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  MAX_OUTBOX_MESSAGE,
  OUTBOX_PROTOCOL,
  signMessage,
  type OutboxFrame,
} from '../src/core/outbox/messages'
import { Inbox } from '../src/core/outbox/store'

const running: (OrreryPeer | TestRelay)[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})

async function peer(
  identity: Identity,
  storage = new MemoryStorageAdapter(),
  discovery: DiscoveryClientInit = {},
): Promise<OrreryPeer> {
  const p = await makePeer({ identity, storage, discovery })
  running.push(p)
  return p
}

async function relay(): Promise<TestRelay> {
  const r = await makeRelay()
  running.push(r)
  return r
}

async function stop(p: OrreryPeer): Promise<void> {
  running.splice(running.indexOf(p), 1)
  await p.stop()
}

const outboxOf = (p: OrreryPeer) => p.node.services.outbox

/** What storage holds for the inbox (whatever tab wrote it). */
async function storedInbox(storage: MemoryStorageAdapter): Promise<string[]> {
  const inbox = new Inbox({ storage })
  await inbox.ready
  return inbox.list().map((e) => e.id)
}

/** A hand-made sending side of the protocol, from `from`'s node to `to`. */
async function rawSession(from: OrreryPeer, to: OrreryPeer) {
  const stream = await from.node.dialProtocol(to.node.getMultiaddrs(), OUTBOX_PROTOCOL)
  const framed = new FramedStream(
    stream,
    { maxFrame: MAX_FRAME, maxMessage: MAX_OUTBOX_MESSAGE },
    createLogger('test'),
  )
  const frames: OutboxFrame[] = []
  const reading = framed.read((bytes) => {
    const d = decodeOutboxFrame(bytes)
    if (d.ok) frames.push(d.value)
  })
  const acks = () => frames.filter((f) => f.type === 'ack')
  return {
    framed,
    frames,
    acks,
    reading,
    send: (f: OutboxFrame) => framed.send(encodeOutboxFrame(f)),
  }
}

describe('outbox between peers', () => {
  it('keeps a message queued while the recipient is away and delivers it when they come', async () => {
    const r = await relay()
    const [alice, bob] = [generateIdentity(), generateIdentity()]
    const a = await peer(alice)
    await connect(a, r)
    const entry = await outboxOf(a).send(bob.id, 'microblog/mention', { post: 'p1', by: 'alice' })
    expect(entry.status).toBe('queued')
    await sleep(1500) // a few ticks with nobody to deliver to
    expect(outboxOf(a).outbox.get(entry.id)).toMatchObject({ status: 'queued', attempts: 0 })
    expect(outboxOf(a).stats()).toMatchObject({ queued: 1, delivered: 0, recipientTopics: 1 })

    const bobStorage = new MemoryStorageAdapter()
    const b = await peer(bob, bobStorage)
    await connect(b, r) // nothing else: discovery and the outbox do the rest
    await waitFor(() => outboxOf(a).outbox.get(entry.id)?.status === 'delivered', 8000, 'delivery')
    expect(outboxOf(b).inbox.list()).toMatchObject([
      {
        id: entry.id,
        from: alice.id,
        to: bob.id,
        kind: 'microblog/mention',
        payload: { post: 'p1', by: 'alice' },
      },
    ])
    expect(await storedInbox(bobStorage)).toEqual([entry.id])
    expect(outboxOf(b).stats()).toMatchObject({ received: 1, duplicates: 0, inbox: 1 })
    // nothing queued for bob any more: alice left his topic
    await waitFor(() => outboxOf(a).stats().recipientTopics === 0, 2000, 'topic left')
  })

  it('delivers after the sender reloads with an undelivered message', async () => {
    const r = await relay()
    const [alice, bob] = [generateIdentity(), generateIdentity()]
    const aliceStorage = new MemoryStorageAdapter()
    const a1 = await peer(alice, aliceStorage)
    await connect(a1, r)
    const entry = await outboxOf(a1).send(bob.id, 'microblog/mention', { n: 1 })
    await stop(a1) // the tab closes before bob was ever reachable

    const a2 = await peer(alice, aliceStorage) // the reload: same storage and identity
    await outboxOf(a2).ready
    expect(outboxOf(a2).outbox.get(entry.id)?.status).toBe('queued')
    await connect(a2, r)
    const b = await peer(bob)
    await connect(b, r)
    await waitFor(() => outboxOf(a2).outbox.get(entry.id)?.status === 'delivered', 8000)
    expect(
      outboxOf(b)
        .inbox.list()
        .map((e) => e.id),
    ).toEqual([entry.id])
    // the delivery is on disk too
    const a3 = await peer(alice, aliceStorage)
    await outboxOf(a3).ready
    expect(outboxOf(a3).outbox.get(entry.id)?.status).toBe('delivered')
  })

  for (const way of ['outbox', 'discovery'] as const) {
    it(`does not duplicate a message whose ACK was lost, and finds the recipient again (through ${way})`, async () => {
      const r = await relay()
      const [alice, bob] = [generateIdentity(), generateIdentity()]
      const bobStorage = new MemoryStorageAdapter()
      // discovery dials a closed direct connection again by itself (after 1 s); held back a
      // minute, this tests the outbox's own way back, for when discovery's is not enough
      const late = way === 'outbox' ? { redialMs: 60_000 } : {}
      const [a, b] = [await peer(alice, undefined, late), await peer(bob, bobStorage, late)]
      for (const p of [a, b]) await connect(p, r)
      const logged: string[] = []
      const offLog = addLogSink((_level, component, msg) => {
        if (component === 'outbox') logged.push(msg)
      })
      // Bob's inbox is slow (600 ms): discovery's own dial-back timers (300 ms here) are over when
      // the connection breaks, so (with the redial above held back) only the outbox can bring the
      // two tabs together again.
      const inbox = outboxOf(b).inbox
      const accept = inbox.accept.bind(inbox)
      inbox.accept = async (m) => {
        await sleep(600)
        return accept(m)
      }
      // bob stores the message, then every connection to alice breaks before his ACK leaves
      let cut = false
      inbox.events.on('message', () => {
        if (cut) return
        cut = true
        for (const c of b.node.getConnections(a.node.peerId)) c.abort(new Error('simulated loss'))
      })
      const entry = await outboxOf(a).send(bob.id, 'microblog/mention', { n: 1 })
      try {
        await waitFor(() => outboxOf(a).outbox.get(entry.id)?.status === 'delivered', 15_000)
      } finally {
        offLog()
      }
      expect(cut).toBe(true)
      if (way === 'outbox')
        expect(logged.some((l) => l.startsWith('re-joining the topic'))).toBe(true)
      expect(outboxOf(a).outbox.get(entry.id)?.attempts).toBe(1)
      expect(outboxOf(b).stats()).toMatchObject({ received: 2, duplicates: 1, inbox: 1 })
      expect(
        outboxOf(b)
          .inbox.list()
          .map((e) => e.id),
      ).toEqual([entry.id])
      expect(await storedInbox(bobStorage)).toEqual([entry.id])
    })
  }

  it('answers the same message twice with accepted and stores it once', async () => {
    const [alice, bob] = [generateIdentity(), generateIdentity()]
    const [a, b] = [await peer(alice), await peer(bob)]
    const m = signMessage(alice, { to: bob.id, kind: 'microblog/mention', payload: { n: 2 } })
    for (let round = 0; round < 2; round++) {
      const s = await rawSession(a, b)
      await waitFor(() => s.frames.length === 1, 5000, 'hello')
      const hello = s.frames[0]
      expect(hello?.type).toBe('hello')
      if (hello?.type === 'hello') {
        const who = verifyTabCert(hello.cert, b.node.peerId.toString())
        expect(who.ok && who.value).toBe(bob.id) // the receiver says who it is before anything
      }
      s.send({ type: 'message', message: m })
      s.send({ type: 'message', message: m })
      await waitFor(() => s.acks().length === 2, 5000, 'acks')
      expect(s.acks()).toEqual([
        { type: 'ack', id: m.id, status: 'accepted' },
        { type: 'ack', id: m.id, status: 'accepted' },
      ])
      await s.framed.close()
      await s.reading
    }
    expect(
      outboxOf(b)
        .inbox.list()
        .map((e) => e.id),
    ).toEqual([m.id])
    expect(outboxOf(b).stats()).toMatchObject({ received: 4, duplicates: 3, inbox: 1 })
  })

  it('refuses forged and misaddressed messages and closes a stream on garbage', async () => {
    const [alice, bob, carol, mallory] = [
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ]
    const bobStorage = new MemoryStorageAdapter()
    const [m, b] = [await peer(mallory), await peer(bob, bobStorage)]
    const s = await rawSession(m, b)
    await waitFor(() => s.frames.length === 1, 5000, 'hello')
    // claims to be from alice, signed by mallory
    const real = signMessage(mallory, { to: bob.id, kind: 'k', payload: 'hi' })
    const forged = { ...real, from: alice.id }
    // properly signed, but for carol
    const forCarol = signMessage(mallory, { to: carol.id, kind: 'k', payload: 'hi' })
    s.send({ type: 'message', message: forged })
    s.send({ type: 'message', message: forCarol })
    await waitFor(() => s.acks().length === 2, 5000, 'acks')
    expect(s.acks()).toEqual([
      { type: 'ack', id: forged.id, status: 'rejected' },
      { type: 'ack', id: forCarol.id, status: 'not-me' },
    ])
    expect(outboxOf(b).inbox.list()).toEqual([])
    expect(bobStorage.keys.filter((k) => k.startsWith('inbox'))).toEqual([])
    expect(outboxOf(b).stats()).toMatchObject({ rejected: 1, notMe: 1 })

    // garbage closes that stream (and nothing else)
    s.framed.stream.send(new Uint8Array([3, 0, 0xff, 1, 2]))
    expect(await s.reading).toBeUndefined()
    await waitFor(() => outboxOf(b).stats().protocolErrors === 1, 5000, 'stream closed')
    const again = await rawSession(m, b)
    again.send({ type: 'message', message: real })
    await waitFor(() => again.acks().length === 1, 5000, 'ack after garbage')
    expect(again.acks()[0]).toMatchObject({ status: 'accepted' })
    expect(
      outboxOf(b)
        .inbox.list()
        .map((e) => e.from),
    ).toEqual([mallory.id])
  })

  it('sends nothing to a connected tab of somebody else', async () => {
    const [alice, bob, carol] = [generateIdentity(), generateIdentity(), generateIdentity()]
    const [a, b] = [await peer(alice), await peer(bob)]
    await connect(a, b)
    const entry = await outboxOf(a).send(carol.id, 'k', 'for carol only')
    await sleep(1500)
    expect(outboxOf(b).stats()).toMatchObject({ received: 0, inbox: 0 })
    expect(outboxOf(a).outbox.get(entry.id)).toMatchObject({ status: 'queued', attempts: 0 })
    expect(outboxOf(a).stats().sent).toBe(0)
  })

  it('counts a delivery to either of two tabs of the recipient, once', async () => {
    const r = await relay()
    const [alice, bob] = [generateIdentity(), generateIdentity()]
    const bobStorage = new MemoryStorageAdapter() // one browser profile: shared storage
    const a = await peer(alice)
    const [b1, b2] = [await peer(bob, bobStorage), await peer(bob, bobStorage)]
    for (const p of [b1, b2]) await connect(p, r)
    await connect(a, r)
    const entries = [
      await outboxOf(a).send(bob.id, 'microblog/mention', { n: 1 }),
      await outboxOf(a).send(bob.id, 'microblog/mention', { n: 2 }),
    ]
    await waitFor(
      () => entries.every((e) => outboxOf(a).outbox.get(e.id)?.status === 'delivered'),
      8000,
      'delivered',
    )
    const ids = entries.map((e) => e.id).sort()
    expect((await storedInbox(bobStorage)).sort()).toEqual(ids)
    const newOnes = [b1, b2].map(
      (p) => outboxOf(p).stats().received - outboxOf(p).stats().duplicates,
    )
    expect(newOnes[0]! + newOnes[1]!).toBe(2)
    const seen = new Set(
      [b1, b2].flatMap((p) =>
        outboxOf(p)
          .inbox.list()
          .map((e) => e.id),
      ),
    )
    expect([...seen].sort()).toEqual(ids)
  })

  it('puts a message to oneself straight into the inbox', async () => {
    const alice = generateIdentity()
    const a = await peer(alice)
    const e = await outboxOf(a).send(alice.id, 'note', { x: 1 })
    expect(e.status).toBe('delivered')
    expect(
      outboxOf(a)
        .inbox.list()
        .map((x) => x.id),
    ).toEqual([e.id])
  })
})
