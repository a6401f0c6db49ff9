/**
 * Protocol versions between in-process peers over the memory transport: a peer of the next build
 * (which speaks a hypothetical next major of every protocol and this build's as the previous one)
 * works with this build on every protocol, and a peer that speaks only a future major, or says
 * another version in a HELLO, is reported as "another version", never struck or banned.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { identify } from '@libp2p/identify'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { utf8 } from '../src/core/bytes'
import { buildApp } from '../src/core/blocks/manifest'
import { chunkFile } from '../src/core/blocks/cid'
import { describeConnections } from '../src/core/connections'
import { discoveryServer, type DiscoveryServer } from '../src/core/discovery/server'
import { generateIdentity } from '../src/core/identity'
import { createLogger } from '../src/core/log'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  MAX_OUTBOX_MESSAGE,
  OUTBOX_PROTOCOL,
} from '../src/core/outbox/messages'
import type { OrreryPeer } from '../src/core/peer'
import { decodeSyncFrame, encodeSyncFrame, SYNC_PROTOCOL } from '../src/core/sync/messages'
import { issueTabCert } from '../src/core/tab-cert'
import { FramedStream } from '../src/core/wire/framed-stream'
import { MAX_FRAME } from '../src/core/wire/framing'
import {
  isUnsupportedProtocol,
  PROTOCOL_NAMES,
  VERSIONS,
  VersionedProtocol,
  type Spoken,
  type VersionTable,
} from '../src/core/wire/versions'
import { collectWarnings, connect, makePeer, memoryNode, openDoc, waitFor } from './peers'

const running: { stop(): void | Promise<void> }[] = []
const logs = collectWarnings()

afterEach(async () => {
  await Promise.all(running.splice(0).map(async (n) => n.stop()))
})

/** every protocol at the same majors */
const all = (spoken: Spoken): VersionTable =>
  Object.fromEntries(PROTOCOL_NAMES.map((n) => [n, spoken])) as unknown as VersionTable
/** the next build: a new major of everything, this build's current still spoken */
const NEXT = Object.fromEntries(
  PROTOCOL_NAMES.map((n) => [
    n,
    { current: VERSIONS[n].current + 1, previous: [VERSIONS[n].current] },
  ]),
) as unknown as VersionTable
const SYNC = VERSIONS.sync.current
/** a build far ahead: only major 3 */
const FUTURE = all({ current: 3, previous: [] })

async function peer(opts: Parameters<typeof makePeer>[0] = {}): Promise<OrreryPeer> {
  const p = await makePeer(opts)
  running.push(p)
  return p
}

async function relay(spoken?: Spoken): Promise<Libp2p<{ discovery: DiscoveryServer }>> {
  const r = await memoryNode('relay', {
    identify: identify(),
    discovery: discoveryServer(spoken === undefined ? {} : { spoken }),
  })
  running.push(r)
  return r
}

/** A libp2p node with identify only, speaking a protocol by hand. */
async function plain(): Promise<Libp2p> {
  const n = await memoryNode('plain', { identify: identify() })
  running.push(n)
  return n
}

const framedOf = (stream: Stream, maxMessage: number): FramedStream =>
  new FramedStream(stream, { maxFrame: MAX_FRAME, maxMessage }, createLogger('test'))

/** `b` has the value at `path` that `a` set. */
async function syncs(a: OrreryPeer, b: OrreryPeer, what: string): Promise<void> {
  const id = (await a.repo.create()).id
  await a.state.set(`/${id}/from`, what)
  await openDoc(b, id)
  await waitFor(async () => (await b.state.get(`/${id}/from`)) === what, 8000, `${what} syncs`)
}

/** What `p`'s firewall holds against `other`: nothing, for a peer that only differs in version. */
function blame(p: OrreryPeer, other: string): { strikes: number; bans: number } {
  const s = p.firewall.stats()[other]
  return { strikes: s?.strikes ?? 0, bans: s?.bans ?? 0 }
}

describe('protocol versions', () => {
  it('a peer of the next build syncs with this build on the major both speak', async () => {
    const next = await peer({ versions: NEXT })
    const current = await peer()
    await connect(next, current)
    await syncs(next, current, 'next to current')
    await syncs(current, next, 'current to next')
    const [n] = next.node.services.sync.list()
    const [c] = current.node.services.sync.list()
    expect([n?.version, c?.version]).toEqual([SYNC, SYNC])

    // two peers of the next build settle on its new major
    const other = await peer({ versions: NEXT })
    await connect(other, next)
    await syncs(other, next, 'next to next')
    const between = next.node.services.sync.list().find((s) => s.remotePeer === other.id)
    expect(between?.version).toBe(SYNC + 1)
    expect(between?.framed.stream.protocol).toBe(`/orrery/sync/${SYNC + 1}.0.0`)
    expect(next.versions.peers()).toEqual([])
    expect(current.versions.peers()).toEqual([])
  })

  it('works on every protocol between the next build and this one, through a relay of either', async () => {
    const r = await relay({ current: 2, previous: [1] })
    const [alice, bob] = [generateIdentity(), generateIdentity()]
    const next = await peer({ identity: alice, versions: NEXT })
    const current = await peer({ identity: bob })
    await connect(next, r)
    await connect(current, r)
    // discovery: both find each other through the relay's topic, each on its own major
    const id = (await next.repo.create()).id
    await next.state.set(`/${id}/k`, 'found through the relay')
    await openDoc(current, id)
    await waitFor(
      async () => (await current.state.get(`/${id}/k`)) === 'found through the relay',
      8000,
      'discovery and sync',
    )
    expect(r.services.discovery.stats().versions).toEqual({ 1: 1, 2: 1 })

    // outbox, both ways
    const toBob = await next.node.services.outbox.send(bob.id, 'test/ping', { n: 1 })
    const toAlice = await current.node.services.outbox.send(alice.id, 'test/pong', { n: 2 })
    await waitFor(
      () =>
        next.node.services.outbox.outbox.get(toBob.id)?.status === 'delivered' &&
        current.node.services.outbox.outbox.get(toAlice.id)?.status === 'delivered',
      8000,
      'outbox deliveries',
    )

    // blocks, both ways
    const [one, two] = [chunkFile(utf8('blocks of the next build')), chunkFile(utf8('of this'))]
    for (const b of one) await next.node.services.blocks.store.put(b.cid, b.bytes)
    for (const b of two) await current.node.services.blocks.store.put(b.cid, b.bytes)
    await current.node.services.blocks.fetch(
      one.map((b) => b.cid),
      [next.id],
    )
    await next.node.services.blocks.fetch(
      two.map((b) => b.cid),
      [current.id],
    )
    expect(await current.node.services.blocks.store.has(one[0]!.cid)).toBe(true)
    expect(await next.node.services.blocks.store.has(two[0]!.cid)).toBe(true)

    // releases: a follower of the next build hears of a version published by this build
    const dev = generateIdentity()
    const app = buildApp(
      {
        files: [{ path: 'index.js', bytes: utf8('export {}'), mime: 'text/javascript' }],
        name: 'notes',
        appVersion: '1.0.0',
        entry: 'index.js',
        element: 'notes-app',
        createdAt: 1000,
      },
      dev,
    )
    expect(current.node.services.releases.publish(app.manifestBytes).ok).toBe(true)
    next.node.services.releases.follow(dev.id, 'notes')
    await waitFor(
      () => next.node.services.releases.latestOf(dev.id, 'notes')?.cid === app.manifestCid,
      8000,
      'the release',
    )
    expect(next.versions.peers()).toEqual([])
    expect(current.versions.peers()).toEqual([])
  })

  it('reports a peer that speaks only a future major as another version, and never blames it', async () => {
    const future = await peer({ versions: FUTURE })
    const current = await peer()
    const id = (await current.repo.create()).id
    await current.state.set(`/${id}/k`, 1)
    await openDoc(future, id)
    await connect(current, future)
    await waitFor(
      () =>
        current.versions.get(future.id) !== undefined &&
        future.versions.get(current.id) !== undefined,
      8000,
      'both see another version',
    )
    const seen = describeConnections(current.node, undefined, current.versions)
    expect(seen).toEqual([
      expect.objectContaining({ peer: future.id, syncing: false, version: 'other' }),
    ])
    expect(seen[0]?.offers).toContain('/orrery/sync/3.0.0')
    expect(current.versions.get(future.id)?.reason).toMatch(/\/orrery\/\w+\/3\.0\.0/)
    // an explicit negotiation finds nothing in common: libp2p's own error, nobody's fault
    const sync = new VersionedProtocol('sync')
    const [connection] = current.node.getConnections(future.node.peerId)
    const failed = await sync.open(connection!).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(isUnsupportedProtocol(failed)).toBe(true)

    expect(current.node.services.sync.list()).toEqual([])
    expect(future.node.services.sync.list()).toEqual([])
    expect(blame(current, future.id)).toEqual({ strikes: 0, bans: 0 })
    expect(blame(future, current.id)).toEqual({ strikes: 0, bans: 0 })
    expect(current.firewall.permits(future.id).ok).toBe(true)
    expect(logs).toEqual([])

    // nothing broke: both still sync with peers of their own version
    const mate = await peer()
    await connect(mate, current)
    await syncs(current, mate, 'still syncing')
    // gone: forgotten
    await current.node.hangUp(future.node.peerId)
    await waitFor(() => current.versions.get(future.id) === undefined, 5000, 'forgotten')
  })

  it('closes a sync stream whose HELLO names another version, without a strike, however often', async () => {
    const victim = await peer()
    const other = await plain()
    const hello = encodeSyncFrame({
      type: 'hello',
      version: 7,
      cert: issueTabCert(generateIdentity(), other.peerId.toString(), 'elsewhere'),
    })
    const interest = encodeSyncFrame({ type: 'interest', topics: [new Uint8Array(32)] })
    const strikesBeforeBan = victim.firewall.config.strikesBeforeBan
    for (let i = 0; i <= strikesBeforeBan; i++) {
      const stream = await other.dialProtocol(victim.node.getMultiaddrs(), SYNC_PROTOCOL)
      const framed = framedOf(stream, 1024 * 1024)
      const goodbyes: string[] = []
      const reading = framed.read((bytes) => {
        const f = decodeSyncFrame(bytes)
        if (f.ok && f.value.type === 'goodbye') goodbyes.push(f.value.reason)
      })
      framed.send(hello)
      framed.send(interest) // what follows a HELLO: not read, not "interest before hello"
      await reading
      await framed.close()
      expect(goodbyes).toEqual(['another version'])
    }
    expect(victim.versions.get(other.peerId.toString())?.reason).toContain('HELLO says sync v7')
    expect(blame(victim, other.peerId.toString())).toEqual({ strikes: 0, bans: 0 })
    expect(victim.firewall.permits(other.peerId.toString()).ok).toBe(true)
  })

  it('keeps a message queued for a receiver whose outbox HELLO names another version', async () => {
    const sender = await peer()
    const other = await plain()
    const opened: Stream[] = []
    await other.handle(OUTBOX_PROTOCOL, (stream) => {
      opened.push(stream)
      const cert = issueTabCert(generateIdentity(), other.peerId.toString(), 'elsewhere')
      const framed = framedOf(stream, MAX_OUTBOX_MESSAGE)
      framed.send(encodeOutboxFrame({ type: 'hello', version: 9, cert }))
      void framed.read((bytes) => void decodeOutboxFrame(bytes)).then(() => framed.close())
    })
    const entry = await sender.node.services.outbox.send(generateIdentity().id, 'test/x', {})
    await sender.node.dial(other.getMultiaddrs())
    await waitFor(
      () => sender.versions.get(other.peerId.toString()) !== undefined,
      8000,
      'another version noted',
    )
    expect(sender.versions.get(other.peerId.toString())?.reason).toContain('HELLO says outbox v9')
    expect(opened).toHaveLength(1)
    expect(sender.node.services.outbox.stats().protocolErrors).toBe(0)
    expect(sender.node.services.outbox.outbox.get(entry.id)).toMatchObject({
      status: 'queued',
      attempts: 0,
    })
    expect(blame(sender, other.peerId.toString())).toEqual({ strikes: 0, bans: 0 })
  })
})
