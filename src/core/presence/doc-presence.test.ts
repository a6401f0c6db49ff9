import { afterEach, describe, expect, it, vi } from 'vitest'
import type { SyncPeer } from '../sync/peer'
import { Reader, Writer } from '../wire/codec'
import { DocPresence } from './doc-presence'
import {
  checkPresenceState,
  readPresenceState,
  writePresenceState,
  type PresenceState,
} from './presence-state'

const DOC = 'doc' as never
const TIMING = { throttleMs: 30, heartbeatMs: 1000, ttlMs: 3000 }

function fakePeer(key: string, extra: Partial<SyncPeer> = {}) {
  const sent: PresenceState[] = []
  const peer: SyncPeer = {
    key,
    remotePeer: `peer-${key}`,
    localPeer: 'me',
    identity: `did:key:${key}`,
    initiator: true,
    sendInterest: () => undefined,
    wake: () => undefined,
    fault: () => undefined,
    sendPresence: (_doc, state) => sent.push(state),
    ...extra,
  }
  return { peer, sent }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('DocPresence', () => {
  it('sends the latest state at most once per throttle, then repeats it as a heartbeat', async () => {
    vi.useFakeTimers()
    const b = fakePeer('b')
    const p = new DocPresence(DOC, () => [b.peer], TIMING)
    p.set({ name: 'Ada' })
    p.set({ name: 'Ada', selection: { path: ['text'], anchor: 'e', head: 'e' } })
    await vi.advanceTimersByTimeAsync(0)
    expect(b.sent).toHaveLength(1)
    expect(b.sent[0]?.selection?.anchor).toBe('e')
    for (let i = 0; i < 5; i++) p.set({ name: `Ada ${i}` })
    await vi.advanceTimersByTimeAsync(10)
    expect(b.sent).toHaveLength(1) // inside the throttle
    await vi.advanceTimersByTimeAsync(30)
    expect(b.sent.map((s) => s.name)).toEqual(['Ada', 'Ada 4'])
    await vi.advanceTimersByTimeAsync(1000)
    expect(b.sent.map((s) => s.name)).toEqual(['Ada', 'Ada 4', 'Ada 4'])
    const seqs = b.sent.map((s) => s.seq)
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs)
    expect(new Set(seqs).size).toBe(seqs.length)
    p.close()
    expect(b.sent.at(-1)).toMatchObject({ here: false })
  })

  it('never sends to a mirror; a peer attached later hears the state at once', () => {
    const m = fakePeer('m', { mirror: true })
    const c = fakePeer('c')
    const p = new DocPresence(DOC, () => [m.peer], TIMING)
    p.set({ name: 'Ada' })
    p.attached(m.peer)
    p.attached(c.peer)
    expect(m.sent).toEqual([])
    expect(c.sent).toHaveLength(1)
    p.close()
  })

  it('keeps the newest state per session, forgets the silent and the detached', async () => {
    vi.useFakeTimers()
    const b = fakePeer('b')
    const nobody = fakePeer('x', { identity: undefined })
    const p = new DocPresence(DOC, () => [], TIMING)
    const changes: number[] = []
    p.onChange((l) => changes.push(l.length))
    p.receive(b.peer, { seq: 5, here: true, name: 'Bo' })
    p.receive(b.peer, { seq: 4, here: true, name: 'Old' }) // late: ignored
    p.receive(nobody.peer, { seq: 1, here: true, name: 'Anon' }) // no verified identity
    expect(p.list().map((e) => e.name)).toEqual(['Bo'])
    expect(p.list()[0]?.identity).toBe('did:key:b')
    await vi.advanceTimersByTimeAsync(2000)
    p.receive(b.peer, { seq: 6, here: true, name: 'Bo' }) // a heartbeat
    await vi.advanceTimersByTimeAsync(2000)
    expect(p.list()).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1100)
    expect(p.list()).toHaveLength(0) // silent for ttlMs
    p.receive(b.peer, { seq: 7, here: true, name: 'Bo' })
    p.detached(b.peer)
    expect(p.list()).toHaveLength(0)
    p.receive(b.peer, { seq: 8, here: true, name: 'Bo' })
    p.receive(b.peer, { seq: 9, here: false, name: '' })
    expect(p.list()).toHaveLength(0)
    expect(changes).toEqual([1, 1, 0, 1, 0, 1, 0])
    p.close()
  })

  it('does not send a state the decoder would refuse, and sends any 100-character name', async () => {
    const b = fakePeer('b')
    const p = new DocPresence(DOC, () => [b.peer], TIMING)
    p.set({ name: '😀'.repeat(100) }) // 400 bytes
    await new Promise((r) => setTimeout(r, 5))
    expect(b.sent.map((s) => s.name)).toEqual(['😀'.repeat(100)])
    b.sent.length = 0
    await new Promise((r) => setTimeout(r, 40))
    p.set({ name: 'x'.repeat(401) })
    await new Promise((r) => setTimeout(r, 5))
    expect(b.sent).toEqual([])
    p.set({ name: 'tab\there' })
    await new Promise((r) => setTimeout(r, 40))
    expect(b.sent).toEqual([])
    p.close()
  })
})

describe('presence state on the wire', () => {
  it('round-trips, and refuses unknown flags', () => {
    const s: PresenceState = {
      seq: 3,
      here: true,
      name: 'Zoë',
      selection: { path: ['a', 'text'], anchor: '2@ab', head: 'e' },
    }
    const w = new Writer()
    writePresenceState(w, s)
    const bytes = w.finish()
    const r = new Reader(bytes)
    expect(readPresenceState(r)).toEqual(s)
    r.end()
    expect(r.error).toBeUndefined()
    bytes[1] = 0x07
    const bad = new Reader(bytes)
    readPresenceState(bad)
    expect(bad.error).toMatch(/flags/)
    expect(checkPresenceState({ ...s, seq: -1 }).ok).toBe(false)
    expect(
      checkPresenceState({ ...s, selection: { ...s.selection!, anchor: 'x'.repeat(161) } }).ok,
    ).toBe(false)
  })
})
