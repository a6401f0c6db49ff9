import { describe, expect, it, vi } from 'vitest'
import { seedSigner } from '../signer'
import { am } from '../automerge'
import { sha256 } from '../bytes'
import { chunkProblem } from '../chunks'
import { ok } from '../errors'
import { generateIdentity } from '../identity'
import { newDocId } from '../ids'
import { DocStore } from '../storage/doc-store'
import { MemoryStorageAdapter } from '../storage/memory'
import type { SyncPeer } from '../sync/peer'
import { DocHandle } from './doc-handle'
import { SigStore } from './sigs'

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

function handle(storage = new MemoryStorageAdapter()): DocHandle {
  const id = newDocId()
  return new DocHandle(id, am().create(), new DocStore(storage, id), {
    tabId: 't',
    bus: undefined,
  })
}

/** A document of a space that admits everything: only whether changes are signed is tested. */
function governedHandle(): { h: DocHandle; sigs: SigStore; unsigned: () => number } {
  const storage = new MemoryStorageAdapter()
  const id = newDocId()
  const me = generateIdentity()
  const sigs = new SigStore()
  const h = new DocHandle(id, am().create(), new DocStore(storage, id), {
    tabId: 't',
    bus: undefined,
    governance: {
      mayWriteLocally: () => ok(undefined),
      admit: () => ok(undefined),
      signer: () => seedSigner(me),
    },
    sigs,
  })
  const unsigned = (): number => {
    const copy = am().load(h.save())
    const n = copy.getChangesMeta([]).filter((m) => !sigs.has(m.hash)).length
    copy.free()
    return n
  }
  return { h, sigs, unsigned }
}

function recordingPeer(name: string): SyncPeer & { wakes: number; faults: string[] } {
  const p = {
    key: name,
    remotePeer: name,
    localPeer: 'me',
    identity: undefined,
    initiator: true,
    wakes: 0,
    faults: [] as string[],
    sendInterest: () => undefined,
    wake() {
      p.wakes++
    },
    fault(e: Error) {
      p.faults.push(e.message)
    },
  }
  return p
}

function framedNonsense(): Uint8Array {
  const data = new Uint8Array(40).fill(7)
  const body = new Uint8Array([1, data.length, ...data]) // type 1 (change), length, data
  const sum = sha256(body)
  return new Uint8Array([0x85, 0x6f, 0x4a, 0x83, sum[0]!, sum[1]!, sum[2]!, sum[3]!, ...body])
}

describe('DocHandle', () => {
  it('wakes every attached peer after a local edit, even when something read the heads first', async () => {
    const h = handle()
    const peer = recordingPeer('p1')
    h.attachPeer(peer)
    const before = peer.wakes
    h.write(['x'], 1)
    // reading the heads makes Automerge commit its open transaction early
    expect(h.heads).toHaveLength(1)
    await vi.waitFor(() => expect(peer.wakes).toBeGreaterThan(before))
  })

  it('does not report saved before the storage write finished', async () => {
    const storage = new MemoryStorageAdapter()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const realSave = storage.save.bind(storage)
    storage.save = async (k, d) => {
      await gate
      return realSave(k, d)
    }
    const h = handle(storage)
    h.write(['x'], 'v')
    let saved = false
    const done = h.whenSaved().then(() => (saved = true))
    await tick() // a window for a report that must not come while the write is held
    expect(saved).toBe(false)
    expect(h.status().unsaved).toBeGreaterThan(0)
    release()
    await done
    expect(h.status().unsaved).toBe(0)
  })

  it('closes the session of a peer whose changes Automerge refuses, and keeps the document', async () => {
    const h = handle()
    const good = recordingPeer('good')
    const bad = recordingPeer('bad')
    h.attachPeer(good)
    h.attachPeer(bad)
    const other = am().create()
    other.put('_root', 'from-good', true)
    other.commit()
    const change = other.getLastLocalChange()!
    h.receiveSync(good, { heads: other.getHeads(), need: [], have: [], changes: [change] })
    // well framed, right checksum, nonsense inside: only applying it can tell
    h.receiveSync(bad, { heads: [], need: [], have: [], changes: [framedNonsense()] })
    expect(chunkProblem(framedNonsense())).toBeUndefined()
    await vi.waitFor(() => expect(bad.faults).toHaveLength(1))
    expect(good.faults).toHaveLength(0)
    expect(h.read(['from-good'])).toBe(true)
  })

  it('applies, in one go, several messages with changes from one peer that came in one task', async () => {
    const h = handle()
    const p = recordingPeer('p')
    h.attachPeer(p, false)
    const other = am().create()
    const messages = [1, 2, 3].map((n) => {
      other.put('_root', `k${n}`, n)
      other.commit()
      return { heads: other.getHeads(), need: [], have: [], changes: [other.getLastLocalChange()!] }
    })
    for (const m of messages) h.receiveSync(p, m) // one task: one flush for all three
    await vi.waitFor(() => expect(h.read(['k3'])).toBe(3))
    expect([h.read(['k1']), h.read(['k2'])]).toEqual([1, 2])
    expect(p.faults).toEqual([])
    await vi.waitFor(() => expect(p.wakes).toBeGreaterThan(0)) // answered: it learns our heads
  })

  // Reading an object materializes it, and Automerge's materialize commits the open transaction:
  // the edit must be committed (and signed) by the handle first, or it goes out unsigned and
  // every peer of the space refuses it (and closes the sync session).
  it('signs a write that an object read right after it commits', async () => {
    const { h, unsigned } = governedHandle()
    h.write(['m', 'x'], 1)
    expect(h.read(['m'])).toEqual({ x: 1 })
    await tick() // the scheduled flush runs: no unsigned change may come of it
    expect(unsigned()).toBe(0)
  })

  it('signs a write made before a subscription to an object delivers its first value', async () => {
    const { h, unsigned } = governedHandle()
    const seen: unknown[] = []
    h.subscribe(['m'], (v) => seen.push(v))
    h.write(['m', 'x'], 1) // same task: the subscription's first read comes after this write
    await vi.waitFor(() => expect(seen[0]).toEqual({ x: 1 }))
    expect(unsigned()).toBe(0)
  })

  it('signs what a subscriber writes when a later subscriber reads an object, and notifies it', async () => {
    const { h, unsigned } = governedHandle()
    const pongs: unknown[] = []
    h.subscribe([], (v) => {
      const ping = (v as { obj?: { ping?: number } } | undefined)?.obj?.ping
      if (ping !== undefined && (v as { pong?: number }).pong !== ping) h.write(['pong'], ping)
    })
    h.subscribe(['obj'], () => {}) // called after the root's listener, reads a map
    h.subscribe(['pong'], (v) => pongs.push(v))
    await tick() // the first values are delivered before the write
    h.write(['obj', 'ping'], 7)
    await vi.waitFor(() => expect(pongs).toContain(7))
    expect(h.read(['pong'])).toBe(7)
    expect(unsigned()).toBe(0)
  })
})
