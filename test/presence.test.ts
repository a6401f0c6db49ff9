/**
 * Issue 20: presence. Who has a document open and where their selection is travels over the
 * sync sessions (PRESENCE frames) to the peers the document syncs with, never into the document;
 * an outsider who knows only the id neither sees nor plants anyone.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Libp2p } from 'libp2p'
import { identify } from '@libp2p/identify'
import type { Stream } from '@libp2p/interface'
import type { OrreryPeer } from '../src/core/peer'
import type { PresenceEntry } from '../src/core/presence/doc-presence'
import { encodeSyncFrame, SYNC_PROTOCOL } from '../src/core/sync/messages'
import { encodeMessage } from '../src/core/wire/framing'
import { protocolId } from '../src/core/wire/versions'
import { helloFrame } from './attack-kit'
import { connect, memoryNode, openDoc, sleep, waitFor } from './peers'
import { textTestbed, type TestEditor } from './text-editors'

const FAST = { throttleMs: 10, heartbeatMs: 200, ttlMs: 600 }
const { peer, editor } = textTestbed({ presenceTiming: FAST })
const nodes: Libp2p[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async (n) => n.stop()))
})

/** says where `e`'s selection is, as the shell does after every selection change */
function tell(p: OrreryPeer, e: TestEditor, id: string, name: string): void {
  const cursors = e.binding.selectionCursors(e.state)
  p.repo.get(id as never)?.presence.set({
    name,
    ...(cursors === undefined ? {} : { selection: { path: ['text'], ...cursors } }),
  })
}
const others = (p: OrreryPeer, id: string): PresenceEntry[] =>
  p.repo.get(id as never)?.presence.list() ?? []

describe('presence', () => {
  it('a peer sees who is here, by identity and name, and their caret where it is', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    const ea = editor(await openDoc(a, id))
    ea.type('Hello world')
    const eb = editor(await openDoc(b, id))
    await connect(a, b)
    await waitFor(() => ea.doc.eq(eb.doc), 5000, 'b has the text')
    ea.select(7, 12) // "world"
    tell(a, ea, id, 'Ada')
    await waitFor(() => others(b, id).length === 1, 5000, 'b sees a')
    const [seen] = others(b, id)
    expect(seen).toMatchObject({ identity: a.identity.id, name: 'Ada' })
    expect(eb.binding.positions(seen!.selection!, eb.doc)).toEqual({ anchor: 7, head: 12 })
    // b types before a's selection: the selection still covers "world" at b
    eb.type('Oh, ', 1)
    const moved = eb.binding.positions(seen!.selection!, eb.doc)
    expect(moved).toEqual({ anchor: 11, head: 16 })
    expect(eb.doc.textBetween(moved!.anchor, moved!.head)).toBe('world')
    // a's side: b said nothing yet, so a sees nobody
    expect(others(a, id)).toEqual([])
    // a moves the caret: b hears the latest place, not every step on the way
    await waitFor(() => ea.doc.eq(eb.doc), 5000, 'a has what b typed')
    for (let i = 1; i <= 5; i++) {
      ea.select(i)
      tell(a, ea, id, 'Ada')
    }
    await waitFor(
      () => {
        const s = others(b, id)[0]?.selection
        return s !== undefined && eb.binding.positions(s, eb.doc)?.head === 5
      },
      5000,
      'b sees a’s last caret',
    )
  })

  it('a caret on a character that has not arrived yet shows once it does', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    const ea = editor(await openDoc(a, id))
    ea.type('abc')
    const eb = editor(await openDoc(b, id))
    await connect(a, b)
    await waitFor(() => ea.doc.eq(eb.doc), 5000, 'b has the text')
    ea.type('def', 4)
    tell(a, ea, id, 'Ada')
    await waitFor(() => others(b, id)[0]?.selection !== undefined, 5000, 'b hears a')
    await waitFor(() => ea.doc.eq(eb.doc), 5000, 'b has "def"')
    expect(eb.binding.positions(others(b, id)[0]!.selection!, eb.doc)).toEqual({
      anchor: 7,
      head: 7,
    })
  })

  it('a peer that leaves, closes, or goes silent is gone', async () => {
    const [a, b, c] = [await peer(), await peer(), await peer()]
    const id = (await a.repo.create()).id
    for (const p of [a, b, c]) await openDoc(p, id)
    await connect(a, b)
    await connect(a, c)
    a.repo.get(id)!.presence.set({ name: 'Ada' })
    b.repo.get(id)!.presence.set({ name: 'Bo' })
    await waitFor(() => others(a, id).length === 1, 5000, 'a sees b')
    await waitFor(() => others(b, id).length === 1, 5000, 'b sees a')
    // c said nothing: a does not list it, and b (not connected to c) never hears of it
    expect(others(a, id).map((e) => e.name)).toEqual(['Bo'])
    // leaving: b hears at once
    a.repo.get(id)!.presence.set(undefined)
    await waitFor(() => others(b, id).length === 0, 5000, 'a left')
    // heartbeats keep one here well past the time to live
    a.repo.get(id)!.presence.set({ name: 'Ada' })
    await waitFor(() => others(b, id).length === 1, 5000, 'a is back')
    await sleep(FAST.ttlMs * 2)
    expect(others(b, id).length).toBe(1)
    // closing the document says goodbye
    await a.repo.close(id)
    await waitFor(() => others(b, id).length === 0, 5000, 'a closed the document')
    // a session that ends takes its tab with it
    c.repo.get(id)!.presence.set({ name: 'Cy' })
    await a.repo.open(id)
    await waitFor(() => others(a, id).length === 2, 5000, 'a sees b and c again')
    await c.stop()
    await waitFor(() => others(a, id).length === 1, 5000, 'c went away')
  })

  it('presence is never written into the document', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/x`, 1)
    await openDoc(b, id)
    await connect(a, b)
    await waitFor(async () => (await b.state.get(`/${id}/x`)) === 1, 5000, 'b synced')
    const heads = a.repo.get(id)!.status().heads
    a.repo.get(id)!.presence.set({ name: 'Ada' })
    await waitFor(() => others(b, id).length === 1, 5000, 'b sees a')
    expect(a.repo.get(id)!.status().heads).toEqual(heads)
    expect(await a.state.get(`/${id}`)).toEqual({ x: 1 })
  })
})

describe('presence from outsiders and other versions', () => {
  async function rawNode(): Promise<Libp2p> {
    const n = await memoryNode('outsider', { identify: identify() })
    nodes.push(n)
    return n
  }
  const presenceFrame = (docId: string, seq = 1): Uint8Array =>
    encodeMessage(
      encodeSyncFrame({
        type: 'presence',
        docId: docId as never,
        state: { seq, here: true, name: 'Mallory' },
      }),
    )[0]!
  async function ended(s: Stream, ms: number): Promise<boolean> {
    const done = (async () => {
      try {
        for await (const _ of s) void _
      } catch {
        // reset
      }
      return true
    })()
    return Promise.race([done, sleep(ms).then(() => false)])
  }

  it('one who knows only the id cannot plant a presence, and hears none', async () => {
    const a = await peer()
    const id = (await a.repo.create()).id
    a.repo.get(id)!.presence.set({ name: 'Ada' })
    const n = await rawNode()
    const s = await n.dialProtocol(a.node.getMultiaddrs(), SYNC_PROTOCOL)
    const heard: Uint8Array[] = []
    const reading = (async () => {
      try {
        for await (const chunk of s) heard.push(chunk.subarray())
      } catch {
        // reset
      }
    })()
    s.send(helloFrame(n.peerId.toString()))
    s.send(presenceFrame(id))
    await sleep(500)
    expect(others(a, id)).toEqual([])
    // what a sent: its HELLO (no INTEREST for a document the outsider showed no key for), and
    // nothing that names Ada
    const text = new TextDecoder().decode(Buffer.concat(heard))
    expect(text).not.toContain('Ada')
    expect(s.status).toBe('open') // an unproven presence is ignored, like an unproven SYNC
    void reading
  })

  it('a malformed presence ends the session; on sync v1 a presence is a violation', async () => {
    const a = await peer()
    const id = (await a.repo.create()).id
    const n = await rawNode()
    const bad = await n.dialProtocol(a.node.getMultiaddrs(), SYNC_PROTOCOL)
    bad.send(helloFrame(n.peerId.toString()))
    const frame = encodeSyncFrame({
      type: 'presence',
      docId: id,
      state: { seq: 1, here: true, name: 'x' },
    })
    frame[frame.length - 3] = 0xff // a name length that runs past the end
    bad.send(encodeMessage(frame)[0]!)
    expect(await ended(bad, 5000)).toBe(true)

    const n1 = await rawNode()
    const v1 = await n1.dialProtocol(a.node.getMultiaddrs(), protocolId('sync', 1))
    v1.send(helloFrame(n1.peerId.toString(), undefined, 1))
    v1.send(presenceFrame(id))
    expect(await ended(v1, 5000)).toBe(true)
  })

  it('a peer that speaks only sync v1 syncs as before and gets no presence', async () => {
    const a = await peer()
    const old = await peer({ versions: { sync: { current: 1, previous: [] } } })
    const id = (await a.repo.create()).id
    await a.state.set(`/${id}/x`, 1)
    await openDoc(old, id)
    a.repo.get(id)!.presence.set({ name: 'Ada' })
    old.repo.get(id)!.presence.set({ name: 'Old' })
    await connect(a, old)
    await waitFor(async () => (await old.state.get(`/${id}/x`)) === 1, 5000, 'old synced')
    await sleep(300)
    expect(others(old, id)).toEqual([])
    expect(others(a, id)).toEqual([])
  })
})
