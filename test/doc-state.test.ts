/**
 * Sync states with real peers (libp2p over the memory transport, the discovery service, real
 * Automerge): what a reader sees before, while and after a document arrives, that "synced" comes
 * only from a peer's confirmation, and that the count of changes waiting is one number.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { connect, makePeer, makeRelay, openDoc, sleep, type TestRelay, waitFor } from './peers'
import { DocStates, peerNetwork, watchNetwork } from '../src/core/doc-states'
import type { DocSyncState } from '../src/core/repo/doc-state'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { generateIdentity } from '../src/core/identity'
import type { OrreryPeer } from '../src/core/peer'

const running: (OrreryPeer | TestRelay)[] = []
const stops: (() => void)[] = []
afterEach(async () => {
  for (const s of stops.splice(0)) s()
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})

async function peer(opts: Parameters<typeof makePeer>[0] = {}): Promise<OrreryPeer> {
  const p = await makePeer(opts)
  running.push(p)
  return p
}

async function relay(): Promise<TestRelay> {
  const r = await makeRelay()
  running.push(r)
  return r
}

/** A peer's sync states, watched like the shell watches them; every state of `doc` is kept. */
function watch(
  p: OrreryPeer,
  doc: () => string | undefined,
): { states: DocStates; seen: DocSyncState[] } {
  const states = new DocStates(p.repo, peerNetwork(p))
  const seen: DocSyncState[] = []
  const offNet = watchNetwork(p, states)
  const off = states.events.on('state', (s) => {
    if (s.id === doc()) seen.push(s)
  })
  stops.push(offNet, off, () => states.stop())
  return { states, seen }
}

/** The kinds in order, repeats collapsed. */
const path = (seen: DocSyncState[]): string[] =>
  seen.map((s) => s.state).filter((k, i, all) => i === 0 || all[i - 1] !== k)

describe('document sync states with real peers', () => {
  it('a reader sees unknown while nobody has the document, then loading, then synced once the holder confirms', async () => {
    const r = await relay()
    // the holder starts the sync (the lower peer id does), so the reader first hears its heads
    // alone; the reader's firewall then holds the next message back a moment: "loading" is seen
    const pair = [await peer(), await peer()].sort((x, y) => (x.id < y.id ? -1 : 1))
    const [holder, reader] = pair as [OrreryPeer, OrreryPeer]
    reader.firewall.configure({ writesPerSecond: 2, burstWrites: 0.5 })
    const id = (await holder.repo.create()).id
    await holder.state.set(`/${id}/posts/1`, 'hello')
    let doc: string | undefined = id
    const { states, seen } = watch(reader, () => doc)

    await openDoc(reader, id)
    await waitFor(() => states.get(id)?.state === 'offline', 5000, 'offline without relay')
    await connect(reader, r)
    await waitFor(
      () => states.get(id)?.state === 'unknown' && states.get(id)?.searching === false,
      5000,
      'the relay found nobody',
    )
    expect(states.get(id)).toMatchObject({ here: false, peers: 0, topicMembers: 0, waiting: 0 })
    expect(await reader.state.get(`/${id}`)).toEqual({})

    await connect(holder, r) // the holder comes online
    await waitFor(() => seen.at(-1)?.state === 'synced', 10_000, 'synced')
    expect(await reader.state.get(`/${id}/posts/1`)).toBe('hello')
    expect(path(seen)).toEqual(['offline', 'unknown', 'loading', 'synced'])
    const loading = seen.find((s) => s.state === 'loading')
    expect(loading?.loading?.from).toEqual([holder.identity.id])
    const synced = states.get(id)
    expect(synced?.confirmed?.with).toBe(holder.identity.id)
    expect(synced?.here).toBe(true)
    doc = undefined
  })

  it('says nobody has it when the only peers who answer hold nothing of it', async () => {
    const r = await relay()
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id // made by a, but empty: b's empty copy is not "here" either
    const { states } = watch(b, () => id)
    await openDoc(b, id)
    for (const p of [a, b]) await connect(p, r)
    await waitFor(
      () => states.get(id)?.peers === 1 && states.get(id)?.searching === false,
      10_000,
      'b hears from a',
    )
    expect(states.get(id)).toMatchObject({ state: 'unknown', here: false, topicMembers: 1 })
    // a made it here: empty is its true content, not "not arrived yet"
    const aStates = watch(a, () => id).states
    await waitFor(() => aStates.get(id)?.state === 'local', 5000, 'a: local')
  })

  it('counts changes waiting once, and calls a document synced only after a peer confirmed it', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    const { states, seen } = watch(a, () => id)
    for (const v of [1, 2, 3]) {
      await a.state.set(`/${id}/n`, v)
      await sleep(5) // separate tasks: three changes
    }
    await waitFor(() => states.get(id)?.waiting === 3, 5000, 'three waiting')
    expect(states.get(id)?.state).toBe('offline') // no relay, no peer
    expect(states.totalWaiting()).toBe(3)
    expect((await a.repo.list()).find((m) => m.id === id)?.unsynced).toBe(3)
    expect(states.summary()).toMatchObject({ waiting: 3, docs: { offline: 1 } })

    await openDoc(b, id)
    await connect(a, b)
    await waitFor(() => seen.some((s) => s.state === 'synced'), 10_000, 'a synced')
    expect(states.totalWaiting()).toBe(0)
    expect((await a.repo.list()).find((m) => m.id === id)?.unsynced).toBe(0)
    expect(await b.state.get(`/${id}/n`)).toBe(3)
    // never "synced" with anything waiting, and every confirmation came from b
    for (const s of seen) {
      if (s.state === 'synced') {
        expect(s.waiting).toBe(0)
        expect(s.confirmed?.with).toBe(b.identity.id)
      }
    }
  })

  it('keeps the confirmation across a reload: synced while the heads are the confirmed ones', async () => {
    const storage = new MemoryStorageAdapter()
    const identity = generateIdentity()
    const a = await peer({ storage, identity })
    const b = await peer()
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/k`, 'v')
    await openDoc(b, id)
    await connect(a, b)
    const first = watch(a, () => id).states
    await waitFor(() => first.get(id)?.state === 'synced', 10_000, 'synced before the reload')
    const at = first.get(id)?.confirmed?.at
    await a.repo.flushAll()
    for (const s of stops.splice(0)) s()
    await a.stop()
    running.splice(running.indexOf(a), 1)

    const a2 = await peer({ storage, identity }) // the same profile, no network at all
    const { states } = watch(a2, () => id)
    await openDoc(a2, id)
    await waitFor(() => states.get(id) !== undefined, 5000, 'open')
    expect(states.get(id)).toMatchObject({
      state: 'synced',
      confirmed: { with: b.identity.id, at },
      waiting: 0,
    })
    await a2.state.set(`/${id}/k`, 'changed offline')
    await waitFor(() => states.get(id)?.state === 'offline', 5000, 'offline, waiting')
    expect(states.get(id)?.waiting).toBe(1)
  })
})
