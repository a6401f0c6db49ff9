/**
 * Seeded random edits, partitions, heals and restarts among in-process peers over real libp2p
 * streams; at the end every peer must hold the same document. A failing seed is printed so the
 * schedule can be replayed exactly.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { OrreryPeer } from '../src/core/peer'
import { generateIdentity, type Identity } from '../src/core/identity'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { makePeer, openDoc, sleep, waitFor } from './peers'

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Slot {
  peer: OrreryPeer
  storage: MemoryStorageAdapter
  identity: Identity
  /** peer ids this slot refuses to talk to (a partition) */
  blocked: Set<string>
}

const slots: Slot[] = []
afterEach(async () => {
  await Promise.all(slots.splice(0).map(async (s) => s.peer.stop()))
})

async function spawn(
  storage: MemoryStorageAdapter,
  identity: Identity,
  blocked: Set<string>,
): Promise<OrreryPeer> {
  return makePeer({
    storage,
    identity,
    connectionGater: {
      denyDialPeer: (p) => blocked.has(p.toString()),
      denyInboundEncryptedConnection: (p) => blocked.has(p.toString()),
    },
  })
}

async function link(a: Slot, b: Slot): Promise<void> {
  if (a.blocked.has(b.peer.id) || b.blocked.has(a.peer.id)) return
  try {
    await a.peer.node.dial(b.peer.node.getMultiaddrs())
  } catch {
    // a racing partition; the final heal connects everyone
  }
}

async function cut(a: Slot, b: Slot): Promise<void> {
  a.blocked.add(b.peer.id)
  b.blocked.add(a.peer.id)
  await a.peer.node.hangUp(b.peer.node.peerId).catch(() => undefined)
  await b.peer.node.hangUp(a.peer.node.peerId).catch(() => undefined)
}

async function runSchedule(seed: number, peers: number, steps: number): Promise<string[]> {
  const rand = mulberry32(seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const log: string[] = []
  for (let i = 0; i < peers; i++) {
    const storage = new MemoryStorageAdapter()
    const identity = generateIdentity()
    const blocked = new Set<string>()
    slots.push({ peer: await spawn(storage, identity, blocked), storage, identity, blocked })
  }
  const first = slots[0] as Slot
  const docId = (await first.peer.repo.create()).id
  for (const s of slots.slice(1)) await openDoc(s.peer, docId)
  for (let i = 0; i < slots.length; i++)
    for (let j = i + 1; j < slots.length; j++) await link(slots[i]!, slots[j]!)

  for (let step = 0; step < steps; step++) {
    const r = rand()
    const s = pick(slots)
    const idx = slots.indexOf(s)
    if (r < 0.55) {
      const key = `k${Math.floor(rand() * 12)}`
      if (rand() < 0.15) {
        await s.peer.state.delete(`/${docId}/${key}`)
        log.push(`${step}: p${idx} delete ${key}`)
      } else {
        const value = rand() < 0.3 ? { nested: [step, idx], at: `p${idx}` } : step * 10 + idx
        await s.peer.state.set(`/${docId}/${key}`, value)
        log.push(`${step}: p${idx} set ${key}`)
      }
    } else if (r < 0.72) {
      const other = pick(slots.filter((x) => x !== s))
      await cut(s, other)
      log.push(`${step}: cut p${idx} | p${slots.indexOf(other)}`)
    } else if (r < 0.9) {
      const other = pick(slots.filter((x) => x !== s))
      s.blocked.delete(other.peer.id)
      other.blocked.delete(s.peer.id)
      await link(s, other)
      log.push(`${step}: heal p${idx} - p${slots.indexOf(other)}`)
    } else {
      // restart: the tab goes away (after its disk caught up) and comes back from storage
      await s.peer.state.flush()
      await s.peer.stop()
      const oldId = s.peer.id
      s.peer = await spawn(s.storage, s.identity, s.blocked)
      for (const o of slots) if (o.blocked.delete(oldId)) o.blocked.add(s.peer.id)
      await openDoc(s.peer, docId)
      for (const o of slots) if (o !== s) await link(s, o)
      log.push(`${step}: restart p${idx}`)
    }
    if (rand() < 0.3) await sleep(Math.floor(rand() * 30))
  }

  // heal everything and wait for agreement
  for (const s of slots) s.blocked.clear()
  for (let i = 0; i < slots.length; i++)
    for (let j = i + 1; j < slots.length; j++) await link(slots[i]!, slots[j]!)
  const headsOf = (s: Slot): string => [...(s.peer.repo.get(docId)?.heads ?? [])].sort().join(',')
  try {
    await waitFor(
      () => new Set(slots.map(headsOf)).size === 1,
      20_000,
      `convergence (seed ${seed})`,
    )
  } catch (e) {
    const diag = slots.map((s, i) => {
      const conns = s.peer.node
        .getConnections()
        .map((c) => `${slots.findIndex((o) => o.peer.id === c.remotePeer.toString())}:${c.status}`)
      const sessions = s.peer.node.services.sync
        .list()
        .map((x) => `${slots.findIndex((o) => o.peer.id === x.remotePeer)}:${x.isOpen}`)
      const h = s.peer.repo.get(docId)
      return `p${i} heads=${headsOf(s).slice(0, 20)} conns=[${conns.join(' ')}] sessions=[${sessions.join(' ')}] docPeers=${h?.status().peers.length}`
    })
    throw new Error(`${String(e)}\n${diag.join('\n')}\n${log.join('\n')}`, { cause: e })
  }
  const values = await Promise.all(
    slots.map(async (s) => JSON.stringify(await s.peer.state.get(`/${docId}`))),
  )
  expect(new Set(values).size, `values differ (seed ${seed})`).toBe(1)
  return log
}

describe('random partitions and heals', () => {
  for (const seed of [1, 7, 2026]) {
    it(`converges for seed ${seed}`, async () => {
      const log = await runSchedule(seed, 4, 60)
      expect(log.length).toBe(60)
    }, 60_000)
  }
})
