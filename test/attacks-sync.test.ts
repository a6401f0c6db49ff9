/**
 * Hostile peers over the sync protocol (issue 12, holes 1, 2 and 4), each attack mounted over
 * real libp2p streams against the project's own core, with its parameters varied:
 *
 * 1. decompression bombs: a compressed change chunk (refused before anything inflates it) and a
 *    whole-document chunk whose deflated columns inflate far past the cap (counted, then refused);
 * 2. a member's change sent compressed, signed over the hash of its compressed bytes: it must not
 *    be applied (it would be forwarded unsigned, and the honest forwarder struck);
 * 4. INTEREST floods: charged to the firewall, and an unknown tag costs the victim a lookup, not
 *    a hash of every document it knows.
 *
 * `ORRERY_MEASURE=1` prints each attack's cost to the victim (memory growth, longest stall);
 * `ORRERY_BOMB_MIB=n` makes the first bomb of each kind inflate to n MiB instead, and
 * `ORRERY_FLOOD_DOCS=n` gives the first INTEREST flood's victim n documents.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { generateIdentity, sign, type Identity } from '../src/core/identity'
import { issueTabCert } from '../src/core/tab-cert'
import {
  decodeSyncFrame,
  encodeSyncFrame,
  MAX_TOPICS_PER_SESSION,
  SYNC_PROTOCOL,
  TOPICS_PER_WRITE,
  type ChangeSignature,
  type SyncFrame,
} from '../src/core/sync/messages'
import { helloVersion, VERSIONS } from '../src/core/wire/versions'
import { encodeMessage, MAX_FRAME, MessageDecoder } from '../src/core/wire/framing'
import { newDocId, type DocId } from '../src/core/ids'
import { am } from '../src/core/automerge'
import { hexToBytes, sha256, toBase64Url, utf8 } from '../src/core/bytes'
import { randomKey } from '../src/core/keys/aead'
import { inflatedSize } from '../src/core/inflated-size'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { MAX_DOCUMENTS_PER_MESSAGE } from '../src/core/sync/session'
import type { OrreryPeer } from '../src/core/peer'
import type { TestPeerOptions } from './peers'
import { connect, makePeer, openDoc, proofTag, sleep, waitFor } from './peers'
import { changeBomb, chunk, compressChange, dataOf, documentBomb } from './attack-kit'

// Counts the interest tags computed (one SHA-256 each): the victim's work under an INTEREST flood.
const tagCalls = vi.hoisted(() => ({ n: 0 }))
vi.mock('../src/core/ids', async (importOriginal) => {
  const ids = await importOriginal<typeof import('../src/core/ids')>()
  return {
    ...ids,
    interestTag: (...args: Parameters<typeof ids.interestTag>): Uint8Array => {
      tagCalls.n++
      return ids.interestTag(...args)
    },
  }
})

const MiB = 1024 * 1024
const BOMB = Number(process.env.ORRERY_BOMB_MIB ?? 64) * MiB
const FLOOD_DOCS = Number(process.env.ORRERY_FLOOD_DOCS ?? 1000)

const running: { stop(): void | Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})

async function peer(opts: TestPeerOptions = {}): Promise<OrreryPeer> {
  const p = await makePeer(opts)
  running.push(p)
  await p.identityReady
  await sleep(0)
  return p
}

// ---- a hand-driven attacker: a bare libp2p node speaking the sync protocol ----------------------

interface Attacker {
  id: string
  stream: Stream
  send(f: SyncFrame): void
  /** document ids the victim sent SYNC messages for */
  docsSent: Set<string>
  /** resolves when the victim closed or reset the stream */
  closed: Promise<void>
}

async function attackerNode(): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: [] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
  running.push(node)
  return node
}

/** Opens a sync stream to `victim` and says HELLO as `identity` (a fresh one by default). */
async function attack(
  victim: OrreryPeer,
  identity: Identity = generateIdentity(),
  node?: Libp2p,
): Promise<Attacker> {
  const n = node ?? (await attackerNode())
  const stream = await n.dialProtocol(victim.node.getMultiaddrs(), SYNC_PROTOCOL)
  const docsSent = new Set<string>()
  const decoder = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: 64 * MiB })
  const closed = (async () => {
    try {
      for await (const chunk of stream) {
        const got = decoder.push(chunk)
        if (!got.ok) return
        for (const m of got.value) {
          const f = decodeSyncFrame(m)
          if (f.ok && f.value.type === 'sync') docsSent.add(f.value.docId)
        }
      }
    } catch {
      // reset by the victim
    }
  })()
  const send = (f: SyncFrame): void => {
    for (const part of encodeMessage(encodeSyncFrame(f))) stream.send(part)
  }
  const id = n.peerId.toString()
  send({
    type: 'hello',
    version: helloVersion('sync', VERSIONS.sync.current),
    cert: issueTabCert(identity, id, 'attacker'),
  })
  return { id, stream, send, docsSent, closed }
}

const syncFrame = (
  docId: DocId,
  changes: Uint8Array[],
  sigs: ChangeSignature[] = [],
): SyncFrame => ({
  type: 'sync',
  docId,
  message: am().encodeSyncMessage({ heads: [], need: [], have: [], changes }),
  sigs,
})

// ---- measuring (reported, never asserted on time) -------------------------------------------

/**
 * Native memory outside array buffers: in Node that is mostly Automerge's wasm memory, which
 * grows by what it inflates and never shrinks (array buffers, the bombs built here included, are
 * left out).
 */
const wasmMemory = (): number => {
  const m = process.memoryUsage()
  return m.external - m.arrayBuffers
}

/** Runs an attack; returns the victim's native memory growth (and prints it with the longest stall). */
async function measured(what: string, run: () => Promise<void>): Promise<number> {
  const before = { rss: process.memoryUsage().rss, wasm: wasmMemory() }
  // the longest the event loop went without running a 5 ms timer (the victim runs in this thread)
  let last = performance.now()
  let stall = 0
  const tick = setInterval(() => {
    const now = performance.now()
    stall = Math.max(stall, now - last)
    last = now
  }, 5)
  try {
    await run()
  } finally {
    clearInterval(tick)
    stall = Math.max(stall, performance.now() - last)
    if (process.env.ORRERY_MEASURE) {
      const mb = (n: number): string => `${(n / MiB).toFixed(1)} MiB`
      console.log(
        `[measure] ${what}: native (wasm) +${mb(wasmMemory() - before.wasm)}, rss +${mb(process.memoryUsage().rss - before.rss)}, longest stall ${stall.toFixed(0)} ms`,
      )
    }
  }
  return wasmMemory() - before.wasm
}

// ---- hole 1: decompression bombs --------------------------------------------------------------

describe('hole 1: decompression bombs', () => {
  async function governedDoc(): Promise<{ victim: OrreryPeer; doc: DocId }> {
    const victim = await peer({ firewall: { maxInflatedBytes: 4 * MiB } })
    const space = await victim.spaces!.create('bombed')
    const doc = await victim.spaces!.createDoc(space)
    await victim.state.set(`/${doc}/x`, 1)
    return { victim, doc }
  }

  for (const [inflated, perMessage] of [
    [BOMB, 1],
    [16 * MiB, 3],
  ] as const) {
    it(`refuses compressed change chunks before inflating them (${perMessage} × ${inflated / MiB} MiB, governed document)`, async () => {
      const { victim, doc } = await governedDoc()
      const bombs = Array.from({ length: perMessage }, () => changeBomb(inflated))
      const wire = bombs.reduce((n, b) => n + b.length, 0)
      const grown = await measured(
        `change bomb ${perMessage}×${inflated / MiB} MiB (${(wire / 1024).toFixed(0)} KiB on the wire)`,
        async () => {
          const a = await attack(victim) // an outsider: any identity
          a.send(syncFrame(doc, bombs))
          await a.closed
        },
      )
      const stats = Object.values(victim.firewall.stats()).find((s) => s.strikes > 0)
      expect(stats?.strikes).toBe(1)
      expect(stats?.lastStrike).toContain('compressed change chunk')
      if (inflated === BOMB) expect(grown).toBeLessThan(inflated / 2) // nothing was inflated
      expect(await victim.state.get(`/${doc}/x`)).toBe(1)
    })
  }

  it('refuses compressed change chunks after a first sync, in an open document', async () => {
    const victim = await peer()
    const doc = (await victim.repo.create()).id
    await victim.state.set(`/${doc}/x`, 1)
    const a = await attack(victim)
    a.send({ type: 'interest', topics: [proofTag(victim, doc, a.id, victim.id)] })
    a.send(syncFrame(doc, [])) // whichever side was to start: we have nothing
    await waitFor(() => a.docsSent.has(doc), 5000, 'the victim syncs with the attacker')
    a.send(syncFrame(doc, [changeBomb(16 * MiB)]))
    await a.closed
    expect(victim.firewall.stats()[a.id]?.lastStrike).toContain('compressed change chunk')
  })

  for (const [inflated, cap] of [
    [BOMB, 4 * MiB],
    [48 * MiB, 8 * MiB],
  ] as const) {
    it(`counts a whole document's inflated size and refuses it past the cap (${inflated / MiB} MiB, cap ${cap / MiB} MiB)`, async () => {
      const victim = await peer({ firewall: { maxInflatedBytes: cap } })
      const doc = newDocId()
      await openDoc(victim, doc) // an empty document: the bomb would be loaded as its snapshot
      const bomb = documentBomb(inflated)
      const grown = await measured(
        `document bomb ${inflated / MiB} MiB, cap ${cap / MiB} MiB (${(bomb.length / 1024).toFixed(0)} KiB on the wire)`,
        async () => {
          const a = await attack(victim)
          a.send(syncFrame(doc, [bomb]))
          await a.closed
        },
      )
      const stats = Object.values(victim.firewall.stats()).find((s) => s.strikes > 0)
      expect(stats?.lastStrike).toContain(`inflates past ${cap} bytes`)
      // charged what it made the victim inflate, not its size on the wire
      expect(stats?.bytes).toBeGreaterThan(cap)
      // memory says something only for the first bomb of the file: wasm memory never shrinks, and
      // later cases share the process with what earlier ones left for the collector
      if (inflated === BOMB) expect(grown).toBeLessThan(inflated / 2)
    })
  }

  it('a document chunk that does not parse, or whose column does not inflate, is refused as malformed', async () => {
    const victim = await peer()
    const doc = newDocId()
    await openDoc(victim, doc)
    const truncated = documentBomb(MiB).slice(0, 200)
    const badDeflate = chunk(0, new Uint8Array([0, 0, 0, 1, 0x09, 4, 0xff, 0xff, 0xff, 0xff]))
    for (const c of [chunk(0, dataOf(truncated)), badDeflate]) {
      const a = await attack(victim)
      a.send(syncFrame(doc, [c]))
      await a.closed
      expect(victim.firewall.stats()[a.id]?.lastStrike).toContain('MALFORMED_MESSAGE')
    }
  })

  it('refuses more whole documents in one message than Automerge sends', async () => {
    const victim = await peer()
    const doc = newDocId()
    await openDoc(victim, doc)
    // tiny documents of one deflated (empty) column: each would cost a count of its own
    const tiny = chunk(0, new Uint8Array([0, 0, 0, 1, 0x09, 2, 3, 0]))
    const a = await attack(victim)
    a.send(
      syncFrame(
        doc,
        Array.from({ length: MAX_DOCUMENTS_PER_MESSAGE + 1 }, () => tiny),
      ),
    )
    await a.closed
    expect(victim.firewall.stats()[a.id]?.lastStrike).toContain('whole documents in one message')
  })

  for (const ratio of [2, 0.5]) {
    it(`a whole document on a first sync is taken under the cap, charged inflated, and refused past it (cap ${ratio} × its inflated size)`, async () => {
      const [owner, joiner] = [await peer(), await peer()]
      const doc = (await owner.repo.create()).id
      for (let i = 0; i < 600; i++) owner.repo.get(doc)!.write([`k${i}`], `value number ${i}`)
      await owner.repo.flushAll()
      const saved = owner.repo.get(doc)!.save()
      const size = await inflatedSize(saved, Infinity)
      if (!size.ok) throw size.error
      expect(size.value).toBeGreaterThan(saved.length) // it has deflated columns
      joiner.firewall.configure({ maxInflatedBytes: Math.round(size.value * ratio) })
      await openDoc(joiner, doc)
      await connect(joiner, owner)
      if (ratio > 1) {
        await waitFor(async () => (await joiner.state.get(`/${doc}/k599`)) === 'value number 599')
        expect(joiner.firewall.stats()[owner.id]?.bytes).toBeGreaterThanOrEqual(size.value)
        expect(joiner.firewall.stats()[owner.id]?.strikes).toBe(0)
      } else {
        await waitFor(() => (joiner.firewall.stats()[owner.id]?.strikes ?? 0) > 0)
        expect(joiner.firewall.stats()[owner.id]?.lastStrike).toContain('inflates past')
        expect(await joiner.state.get(`/${doc}/k599`)).toBeUndefined()
      }
    })
  }
})

// ---- hole 2: a change sent compressed, signed over the wrong hash ---------------------------

describe('hole 2: a member sends its change compressed', () => {
  for (const valueBytes of [10, 20_000]) {
    it(`is refused by the first honest peer, which is never struck by the admin for forwarding it (${valueBytes} B value)`, async () => {
      const [admin, honest] = [await peer(), await peer()]
      const space = await admin.spaces!.create('club')
      const doc = await admin.spaces!.createDoc(space)
      await admin.state.set(`/${doc}/x`, 1)
      await connect(admin, honest)
      await honest.spaces!.join(await admin.spaces!.invite(space, { role: 'writer' }))
      // the writer joins through a real peer, then speaks for itself over a bare stream
      const writerIdentity = generateIdentity()
      const writer = await peer({ identity: writerIdentity })
      await connect(writer, admin)
      await writer.spaces!.join(await admin.spaces!.invite(space, { role: 'writer' }))
      await openDoc(honest, doc)
      await waitFor(
        () => honest.spaces!.state(space).members.has(writerIdentity.id),
        5000,
        'the honest peer knows the writer',
      )
      await waitFor(async () => (await honest.state.get(`/${doc}/x`)) === 1)
      await writer.stop()

      // the writer's change, on top of the document as the honest peer has it
      const base = am().load(honest.repo.get(doc)!.save())
      base.put('_root', 'w', 'v'.repeat(valueBytes))
      const hash = base.commit()!
      const change = base.getLastLocalChange()!
      base.free()
      const packed = compressChange(change)
      const wrongHash = sha256(packed.subarray(8)) // what the victim used to take for its hash
      const signed = (h: Uint8Array): ChangeSignature => ({
        hash: h,
        author: writerIdentity.publicKey,
        signature: sign(writerIdentity, h),
      })
      const a = await attack(honest, writerIdentity)
      a.send(syncFrame(doc, [packed], [signed(wrongHash)]))
      await waitFor(
        () => (honest.firewall.stats()[a.id]?.strikes ?? 0) > 0,
        10_000,
        'the honest peer refuses the compressed change',
      )
      expect(honest.firewall.stats()[a.id]?.lastStrike).toContain('compressed change chunk')

      // the same change uncompressed, signed over its hash: taken and forwarded (the harness works)
      const b = await attack(honest, writerIdentity)
      b.send({ type: 'interest', topics: [proofTag(honest, doc, b.id, honest.id)] })
      b.send(syncFrame(doc, [change], [signed(hexToBytes(hash))]))
      await waitFor(async () => (await admin.state.get(`/${doc}/w`)) === 'v'.repeat(valueBytes))
      await sleep(200)
      expect(admin.firewall.stats()[honest.id]?.strikes ?? 0).toBe(0)
      expect(honest.firewall.stats()[admin.id]?.strikes ?? 0).toBe(0)
    })
  }
})

// ---- hole 4: INTEREST floods ------------------------------------------------------------------

describe('hole 4: INTEREST floods', () => {
  /** A victim that knows `n` documents (records and keys on disk, none open). */
  async function victimKnowing(n: number): Promise<{ victim: OrreryPeer; stored: DocId[] }> {
    const storage = new MemoryStorageAdapter()
    const stored: DocId[] = []
    for (let i = 0; i < n; i++) {
      const id = newDocId()
      stored.push(id)
      await storage.save(['meta', id], utf8(JSON.stringify({ id, createdAt: i, openedAt: i })))
      await storage.save(['doc-key', id], utf8(toBase64Url(randomKey())))
    }
    const victim = await peer({ storage })
    await victim.repo.list()
    return { victim, stored }
  }

  for (const [docs, messages, tagsPerMessage, newDocsEvery] of [
    [FLOOD_DOCS, 300, 1, 0],
    [500, 40, 64, 10],
  ] as const) {
    it(`charges every message and costs a lookup per unknown tag (${docs} documents, ${messages} × ${tagsPerMessage} tags${newDocsEvery ? `, a new document every ${newDocsEvery} messages` : ''})`, async () => {
      const { victim, stored } = await victimKnowing(docs)
      const target = stored[docs - 1] as DocId
      const node = await attackerNode()
      const me = node.peerId.toString()
      const tagOf = (id: DocId): Uint8Array => proofTag(victim, id, me, victim.id)
      const junk = Array.from({ length: messages }, () =>
        Array.from({ length: tagsPerMessage }, () => sha256(utf8(`${Math.random()}`))),
      )
      const created: DocId[] = []
      await measured(
        `INTEREST flood ${messages}×${tagsPerMessage} tags, ${docs} documents`,
        async () => {
          const a = await attack(victim, generateIdentity(), node)
          const before = tagCalls.n
          for (let i = 0; i < messages; i++) {
            a.send({ type: 'interest', topics: junk[i] as Uint8Array[] })
            if (newDocsEvery > 0 && i % newDocsEvery === newDocsEvery - 1) {
              await sleep(20)
              const id = (await victim.repo.create()).id
              created.push(id)
            }
          }
          const finalTags = [tagOf(target), ...created.map(tagOf)] // counted: subtracted below
          a.send({ type: 'interest', topics: finalTags })
          // the tags name a stored document (served) and the new ones (known after the index was made)
          await waitFor(
            () => a.docsSent.has(target),
            10_000,
            'the victim serves the stored document',
          )
          const calls = tagCalls.n - before - finalTags.length
          // one tag per known document, once; and per new one a few of the victim's own: its
          // INTEREST when made, the index, the check of the attacker's earlier tags, the attach,
          // each with its write tag (issue 15: a free document's writers show one); and one
          // write-tag check per document served. Nothing per message: 40 messages would show.
          expect(calls).toBeLessThanOrEqual(docs + 8 * created.length + 8)
          const stats = victim.firewall.stats()[a.id]
          expect(stats?.writes).toBeGreaterThanOrEqual(messages + 2) // HELLO, the flood, the last
          expect(stats?.bytes).toBeGreaterThanOrEqual(messages * (tagsPerMessage * 32 + 2))
          a.stream.abort(new Error('done'))
        },
      )
    })
  }

  it('an INTEREST flood is throttled by the firewall like any other message', async () => {
    const victim = await peer({ firewall: { writesPerSecond: 10, burstWrites: 20 } })
    const a = await attack(victim)
    for (let i = 0; i < 60; i++) a.send({ type: 'interest', topics: [sha256(utf8(`${i}`))] })
    await waitFor(() => (victim.firewall.stats()[a.id]?.throttled ?? 0) > 0, 10_000, 'throttled')
    a.stream.abort(new Error('done'))
  })

  for (const perMessage of [1024, 100]) {
    it(`a session that announces more than ${MAX_TOPICS_PER_SESSION} topics (${perMessage} a message) is struck and cut off, each charged a write per ${TOPICS_PER_WRITE} topics`, async () => {
      const victim = await peer()
      const a = await attack(victim)
      let k = 0
      const messages = Math.ceil((MAX_TOPICS_PER_SESSION + 1) / perMessage)
      for (let i = 0; i < messages; i++)
        a.send({
          type: 'interest',
          topics: Array.from({ length: perMessage }, () => sha256(utf8(`${k++}`))),
        })
      await a.closed
      const stats = victim.firewall.stats()[a.id]
      expect(stats?.strikes).toBe(1)
      // HELLO, then every message within the limit at 1 + topics / TOPICS_PER_WRITE writes
      const within = messages - 1
      expect(stats?.writes).toBeGreaterThanOrEqual(
        1 + within * (1 + Math.floor(perMessage / TOPICS_PER_WRITE)),
      )
    })
  }

  it('a session announcing exactly the limit stays open and syncs', async () => {
    const victim = await peer()
    const doc = (await victim.repo.create()).id
    const a = await attack(victim)
    const junk = Array.from({ length: MAX_TOPICS_PER_SESSION - 1 }, (_, i) => sha256(utf8(`${i}`)))
    for (let i = 0; i < junk.length; i += 1024)
      a.send({ type: 'interest', topics: junk.slice(i, i + 1024) })
    a.send({ type: 'interest', topics: [proofTag(victim, doc, a.id, victim.id)] })
    a.send(syncFrame(doc, [])) // whichever side was to start: we have nothing
    await waitFor(() => a.docsSent.has(doc), 10_000, 'the victim serves the document')
    expect(victim.firewall.stats()[a.id]?.strikes ?? 0).toBe(0)
    a.stream.abort(new Error('done'))
  })
})
