/**
 * A signer that must wait (a WebCrypto key signs asynchronously): a change of this tab is never
 * sent or stored before its signature, the page going away still keeps the edit (signed when the
 * document opens again), and a failed signature is tried again while nothing goes out.
 */
import { describe, expect, it, vi } from 'vitest'
import { am } from '../automerge'
import { ok } from '../errors'
import { generateIdentity } from '../identity'
import { newDocId, type DocId } from '../ids'
import { seedSigner, type Signer } from '../signer'
import { DocStore } from '../storage/doc-store'
import { MemoryStorageAdapter } from '../storage/memory'
import type { SyncPeer } from '../sync/peer'
import { DocHandle } from './doc-handle'
import type { Governance } from './governance'
import { decodeSigRecords, SigStore } from './sigs'

/** An asynchronous signer whose signatures come only when the test lets them. */
function gatedSigner(): Signer & { release(): void; fail(): void; calls: number } {
  const real = seedSigner(generateIdentity())
  const settle: ((ok: boolean) => void)[] = []
  const s = {
    did: real.did,
    publicKey: real.publicKey,
    calls: 0,
    sign(message: Uint8Array): Promise<Uint8Array> {
      s.calls++
      return new Promise<boolean>((r) => settle.push(r)).then((good) => {
        if (!good) throw new Error('the key is locked')
        return real.sign(message)
      })
    },
    release: () => settle.splice(0).forEach((r) => r(true)),
    fail: () => settle.splice(0).forEach((r) => r(false)),
  }
  return s
}

function governance(signer: Signer): Governance {
  return { mayWriteLocally: () => ok(undefined), admit: () => ok(undefined), signer: () => signer }
}

function open(
  storage: MemoryStorageAdapter,
  id: DocId,
  signer: Signer,
  doc = am().create(),
): { h: DocHandle; sigs: SigStore } {
  const sigs = new SigStore()
  const h = new DocHandle(id, doc, new DocStore(storage, id), {
    tabId: 't',
    bus: undefined,
    governance: governance(signer),
    sigs,
  })
  return { h, sigs }
}

function peer(): SyncPeer & { wakes: number } {
  const p = {
    key: 'p',
    remotePeer: 'p',
    localPeer: 'me',
    identity: undefined,
    initiator: true,
    wakes: 0,
    sendInterest: () => undefined,
    wake: () => void p.wakes++,
    fault: () => undefined,
  }
  return p
}

const keysUnder = async (storage: MemoryStorageAdapter, id: DocId, kind: string) =>
  (await storage.loadRange([id, kind])).filter((c) => c.key.length === 3)

/** A document with one attached peer and one edit whose signature the signer is making. */
async function editWaitingForSignature() {
  const storage = new MemoryStorageAdapter()
  const id = newDocId()
  const signer = gatedSigner()
  const { h, sigs } = open(storage, id, signer)
  const p = peer()
  h.attachPeer(p, false)
  h.write(['x'], 1)
  await vi.waitFor(() => expect(signer.calls).toBe(1))
  return { storage, id, signer, h, sigs, p }
}

describe('an asynchronous signer', () => {
  it('sends and stores a change only once its signature exists, then wakes the peers', async () => {
    const { storage, id, signer, h, sigs, p } = await editWaitingForSignature()
    let saved = false
    const whenSaved = h.whenSaved().then(() => (saved = true))
    await new Promise((r) => setTimeout(r, 20)) // a window for anything that must not happen
    expect(h.generateSyncMessage(p)).toBeNull()
    expect(saved).toBe(false)
    expect(await keysUnder(storage, id, 'c')).toHaveLength(0)
    const wakes = p.wakes
    signer.release()
    await whenSaved
    expect(p.wakes).toBeGreaterThan(wakes)
    expect(h.generateSyncMessage(p)).not.toBeNull()
    const head = h.heads[0]!
    expect(sigs.has(head)).toBe(true)
    expect(await keysUnder(storage, id, 'c')).toHaveLength(1)
    const onDisk = (await keysUnder(storage, id, 'g')).flatMap((c) => [...decodeSigRecords(c.data)])
    expect(onDisk.map((s) => Buffer.from(s.hash).toString('hex'))).toContain(head)
  })

  it('keeps an edit whose signature was pending when the page went away, and signs it on open', async () => {
    const storage = new MemoryStorageAdapter()
    const id = newDocId()
    const first = open(storage, id, gatedSigner())
    first.h.write(['x'], 'kept')
    first.h.flushNow() // the page goes away: the signature never comes
    await vi.waitFor(async () => expect(await keysUnder(storage, id, 'c')).toHaveLength(1))
    const head = first.h.heads[0]!
    expect(first.sigs.has(head)).toBe(false)

    const loaded = await new DocStore(storage, id).load()
    const signer = gatedSigner()
    const again = open(storage, id, signer, am().load(loaded!.bytes))
    expect(again.h.read(['x'])).toBe('kept')
    await vi.waitFor(() => expect(signer.calls).toBe(1))
    const p = peer()
    again.h.attachPeer(p, false)
    expect(again.h.generateSyncMessage(p)).toBeNull() // not sent unsigned
    signer.release()
    await again.h.whenSaved()
    expect(again.sigs.has(head)).toBe(true)
    expect(again.h.generateSyncMessage(p)).not.toBeNull()
  })

  it('tries a failed signature again and sends nothing meanwhile', async () => {
    const { signer, h, sigs, p } = await editWaitingForSignature()
    signer.fail()
    await vi.waitFor(() => expect(signer.calls).toBe(2)) // after the first backoff (100 ms)
    expect(h.generateSyncMessage(p)).toBeNull()
    signer.release()
    await h.whenSaved()
    expect(sigs.has(h.heads[0]!)).toBe(true)
    expect(h.generateSyncMessage(p)).not.toBeNull()
  })

  it('signs at once with a key held in memory: nothing waits', () => {
    const { h, sigs } = open(new MemoryStorageAdapter(), newDocId(), seedSigner(generateIdentity()))
    const p = peer()
    h.attachPeer(p, false)
    h.write(['x'], 1)
    expect(h.generateSyncMessage(p)).not.toBeNull() // commits and signs in this task
    expect(sigs.has(h.heads[0]!)).toBe(true)
  })
})
