import { describe, expect, it, vi } from 'vitest'
import { utf8 } from '../bytes'
import { generateIdentity } from '../identity'
import { MemoryStorageAdapter } from '../storage/memory'
import { Firewall } from './firewall'
import { isPeerRef, parsePeerLists, PEER_LISTS_KEY, PeerListStore } from './peer-lists'

const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'

describe('peer lists kept in the profile', () => {
  it('survive a restart and are in force in the new firewall at once', async () => {
    const storage = new MemoryStorageAdapter()
    const mallory = generateIdentity().id
    const friend = generateIdentity().id
    const first = new PeerListStore(storage, new Firewall())
    await first.deny(mallory)
    await first.deny(PEER)
    await first.allow(friend)
    // regression: the lists lived in one tab's firewall config only and were gone on reload
    const firewall = new Firewall()
    const again = new PeerListStore(storage, firewall)
    await again.ready
    expect(again.lists()).toEqual({ deny: [mallory, PEER], allow: [friend] })
    expect(firewall.config.deny).toEqual([mallory, PEER])
    expect(firewall.permits('somepeer', mallory).ok).toBe(false)
    expect(firewall.permits(PEER).ok).toBe(false)
    expect(firewall.permits('otherpeer', friend).ok).toBe(true)
    expect(firewall.permits('otherpeer', generateIdentity().id).ok).toBe(false) // allow-list mode
    // removing and leaving allow-list mode are kept too
    await again.undeny(mallory)
    await again.allowOnly(false)
    const third = new PeerListStore(storage, new Firewall())
    await third.ready
    expect(third.lists()).toEqual({ deny: [PEER] })
  })

  it('another tab of the profile, told of a change, applies it at once', async () => {
    const storage = new MemoryStorageAdapter()
    const otherFirewall = new Firewall()
    const other = new PeerListStore(storage, otherFirewall)
    const tab = new PeerListStore(storage, new Firewall(), () => void other.reload())
    await Promise.all([tab.ready, other.ready])
    await tab.deny(PEER)
    await vi.waitFor(() => expect(otherFirewall.permits(PEER).ok).toBe(false))
    expect(other.lists()).toEqual({ deny: [PEER] })
  })

  it('refuses entries that are neither a did:key nor a peer id, storing nothing', async () => {
    const storage = new MemoryStorageAdapter()
    const store = new PeerListStore(storage, new Firewall())
    for (const bad of ['', 'mallory', 'did:key:zzz', `${PEER} `, 'x'.repeat(500)])
      await expect(store.deny(bad)).rejects.toMatchObject({
        name: 'PeerListError',
        code: 'INVALID_VALUE',
      })
    expect(await storage.load([...PEER_LISTS_KEY])).toBeUndefined()
    expect(store.lists()).toEqual({ deny: [] })
    expect(isPeerRef(generateIdentity().id)).toBe(true)
    expect(isPeerRef(PEER)).toBe(true)
  })

  it('a damaged record gives empty lists (with an error value, never a throw)', async () => {
    for (const raw of ['nope', '[]', '{"deny":5}', '{"deny":["x"]}', '{"deny":[],"allow":"all"}']) {
      const r = parsePeerLists(utf8(raw))
      expect(r.ok).toBe(false)
      const storage = new MemoryStorageAdapter()
      await storage.save([...PEER_LISTS_KEY], utf8(raw))
      const store = new PeerListStore(storage, new Firewall())
      await store.ready
      expect(store.lists()).toEqual({ deny: [] })
    }
    expect(parsePeerLists(undefined)).toEqual({ ok: true, value: { deny: [] } })
  })
})
