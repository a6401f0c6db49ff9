/**
 * Tabs of one browser profile: separate repos over one storage and a real BroadcastChannel.
 * Edits show up live in the other tab, compaction by one tab never deletes what another tab
 * wrote meanwhile, and a new tab loads everything from storage.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Repo } from '../src/core/repo/repo'
import { StateApi } from '../src/core/state'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { BroadcastTabBus } from '../src/core/tabs/bus'
import { waitFor } from './peers'

let n = 0
const buses: BroadcastTabBus[] = []
afterEach(() => {
  for (const b of buses.splice(0)) b.close()
})

function profile(): (() => { repo: Repo; state: StateApi }) & { storage: MemoryStorageAdapter } {
  const storage = new MemoryStorageAdapter()
  const channel = `tabs-test-${process.pid}-${++n}`
  let tab = 0
  const open = (): { repo: Repo; state: StateApi } => {
    const bus = new BroadcastTabBus(channel)
    buses.push(bus)
    const repo = new Repo({ storage, bus, tabId: `tab${++tab}` })
    return { repo, state: new StateApi(repo) }
  }
  return Object.assign(open, { storage })
}

describe('tabs of one profile', () => {
  it('see each other’s edits live', async () => {
    const open = profile()
    const t1 = open()
    const t2 = open()
    const id = (await t1.repo.create()).id
    const seen: unknown[] = []
    t2.state.subscribe(`/${id}/x`, (v) => seen.push(v))
    await t1.state.set(`/${id}/x`, 'from tab 1')
    await waitFor(() => seen.includes('from tab 1'), 3000, 'tab 2 sees tab 1')
    await t2.state.set(`/${id}/y`, 'from tab 2')
    await waitFor(
      async () => (await t1.state.get(`/${id}/y`)) === 'from tab 2',
      3000,
      'tab 1 sees tab 2',
    )
    expect(await t2.repo.list()).toHaveLength(1)
  })

  it('know the write secret of a document another tab made, as soon as they know its read key', async () => {
    const open = profile()
    const t1 = open()
    const t2 = open()
    await t2.repo.keys.loaded
    const keyed = new Promise<string>((resolve) =>
      t2.repo.events.on('doc-keyed', ({ id }) => resolve(id)),
    )
    const id = (await t1.repo.create()).id
    await t2.repo.open(id) // announced when its read key arrives from the other tab
    expect(await keyed).toBe(id)
    // the moment tab 2 has the read key, it has the secret too: it writes as a writer
    expect(t2.repo.keys.writeKey(id)?.secret).toEqual(t1.repo.keys.writeKey(id)?.secret)
    await t2.state.set(`/${id}/by`, 'tab 2')
  })

  it('never lose another tab’s writes to compaction', async () => {
    const open = profile()
    const t1 = open()
    const t2 = open()
    const id = (await t1.repo.create()).id
    await t2.repo.open(id)
    // many separate writes from both tabs (each waited for: no group commit), so that each tab
    // compacts several times on its own
    for (let i = 0; i < 150; i++) {
      const tab = i % 2 === 0 ? t1 : t2
      await tab.state.set(`/${id}/k${i}`, i)
      await tab.state.flush()
      await new Promise((r) => setImmediate(r))
    }
    await t1.state.flush()
    await t2.state.flush()
    await waitFor(
      async () => Object.keys((await t1.state.get(`/${id}`)) as object).length === 150,
      3000,
    )
    const chunks = open.storage.keys.filter((k) => k.startsWith(`${id}/`))
    expect(chunks.some((k) => k.startsWith(`${id}/s/`))).toBe(true) // snapshots were written
    expect(chunks.length).toBeLessThan(150) // and replaced incremental chunks
    const t3 = open()
    const all = (await t3.state.get(`/${id}`)) as Record<string, number>
    expect(Object.keys(all)).toHaveLength(150)
    expect(all.k149).toBe(149)
  })
})
