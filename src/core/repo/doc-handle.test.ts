import { describe, expect, it } from 'vitest'
import { am } from '../automerge'
import { sha256 } from '../bytes'
import { chunkProblem } from '../chunks'
import { newDocId } from '../ids'
import { DocStore } from '../storage/doc-store'
import { MemoryStorageAdapter } from '../storage/memory'
import type { SyncPeer } from '../sync/peer'
import { DocHandle } from './doc-handle'

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

function handle(storage = new MemoryStorageAdapter()): DocHandle {
  const id = newDocId()
  return new DocHandle(id, am().create(), new DocStore(storage, id), {
    tabId: 't',
    bus: undefined,
    onStatus: () => {},
  })
}

function recordingPeer(name: string): SyncPeer & { wakes: number; faults: string[] } {
  const p = {
    key: name,
    remotePeer: name,
    identity: undefined,
    initiator: true,
    wakes: 0,
    faults: [] as string[],
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
    await tick()
    expect(peer.wakes).toBeGreaterThan(before)
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
    await tick()
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
    await tick()
    expect(bad.faults).toHaveLength(1)
    expect(good.faults).toHaveLength(0)
    expect(h.read(['from-good'])).toBe(true)
  })
})
