/**
 * Live releases between in-process peers over libp2p's memory transport, with the real releases
 * service and real signed manifests: pushes to followers, a release crossing three hops, catching
 * up on connect, impostor and tampered manifests, rollbacks and replays, bad bytes on the stream,
 * rate limits, three strikes, and unfollowing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { identify } from '@libp2p/identify'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { utf8 } from '../src/core/bytes'
import { generateIdentity, type Identity } from '../src/core/identity'
import { buildApp, type BuiltApp } from '../src/core/blocks/manifest'
import {
  encodeReleasesMessage,
  MAX_RELEASES_MESSAGE,
  RELEASES_PROTOCOL,
  type ReleasesMessage,
} from '../src/core/releases/messages'
import {
  orreryReleases,
  type ReleaseEvents,
  type ReleaseService,
  type ReleaseServiceInit,
} from '../src/core/releases/service'
import { encodeMessage, MAX_FRAME } from '../src/core/wire/framing'
import { Writer } from '../src/core/wire/codec'
import type { OrreryPeer } from '../src/core/peer'
import { collectWarnings, connect, makePeer, memoryNode, sleep, waitFor } from './peers'

type ReleaseNode = Libp2p<{ releases: ReleaseService }>

const running: { stop(): void | Promise<void> }[] = []
const logs = collectWarnings()

afterEach(async () => {
  await Promise.all(running.splice(0).map(async (n) => n.stop()))
})

async function node(init: ReleaseServiceInit = {}): Promise<ReleaseNode> {
  const n = await memoryNode('releases', { identify: identify(), releases: orreryReleases(init) })
  running.push(n)
  return n as unknown as ReleaseNode
}

/** a libp2p node without the releases service, speaking the protocol by hand */
async function plain(): Promise<Libp2p> {
  const n = await memoryNode('plain')
  running.push(n)
  return n
}

const dev = generateIdentity()
const mallory = generateIdentity()
const NAME = 'notes'
const KEY = `${dev.id}/${NAME}`

function version(appVersion: string, createdAt: number, who: Identity = dev): BuiltApp {
  return buildApp(
    {
      files: [
        {
          path: 'index.js',
          bytes: utf8(`export const v = '${appVersion}'`),
          mime: 'text/javascript',
        },
      ],
      name: NAME,
      appVersion,
      entry: 'index.js',
      element: 'notes-app',
      createdAt,
    },
    who,
  )
}

const id = (n: Libp2p): string => n.peerId.toString()
const rel = (n: ReleaseNode): ReleaseService => n.services.releases

async function link(from: Libp2p, to: Libp2p): Promise<void> {
  await from.dial(to.getMultiaddrs())
}

/** Waits until `upstream` pushes `follower` the releases of the followed app. */
async function subscribed(upstream: ReleaseNode, follower: Libp2p): Promise<void> {
  await waitFor(
    () => rel(upstream).subscribersOf(dev.id, NAME).includes(id(follower)),
    5000,
    'a subscription',
  )
}

function record(n: ReleaseNode): {
  releases: ReleaseEvents['release'][]
  refused: ReleaseEvents['refused'][]
} {
  const out = {
    releases: [] as ReleaseEvents['release'][],
    refused: [] as ReleaseEvents['refused'][],
  }
  rel(n).events.on('release', (e) => out.releases.push(e))
  rel(n).events.on('refused', (e) => out.refused.push(e))
  return out
}

/** A follower of dev/notes connected to a publisher node that pushes to it. */
async function followerOf(publisher: ReleaseNode, init: ReleaseServiceInit = {}) {
  const follower = await node(init)
  const seen = record(follower)
  rel(follower).follow(dev.id, NAME)
  await link(follower, publisher)
  await subscribed(publisher, follower)
  return { follower, seen }
}

const frames = (m: ReleasesMessage): Uint8Array[] => encodeMessage(encodeReleasesMessage(m))
const announce = (bytes: Uint8Array): Uint8Array[] => frames({ type: 'announce', manifest: bytes })

/** Opens a raw releases stream, sends `chunks`, and resolves when the other side closed it. */
async function sendRaw(from: Libp2p, to: Libp2p, chunks: Uint8Array[], end = false) {
  const stream: Stream = await from.dialProtocol(to.getMultiaddrs(), RELEASES_PROTOCOL)
  try {
    for (const c of chunks) stream.send(c)
    if (end) await stream.close()
    for await (const chunk of stream) void chunk
  } catch {
    // reset by the other side: what bad input gets
  }
  return stream
}

describe('live releases', () => {
  it('pushes each new version to a follower, in order', async () => {
    const publisher = await node()
    const { follower, seen } = await followerOf(publisher)
    const v1 = version('1.0.0', 1000)
    const v2 = version('1.1.0', 2000)
    expect(rel(publisher).publish(v1.manifestBytes)).toMatchObject({
      ok: true,
      value: { cid: v1.manifestCid, isLatest: true },
    })
    expect(rel(publisher).publish(v2.manifestBytes).ok).toBe(true)
    await waitFor(() => seen.releases.length === 2, 5000, 'two releases')
    expect(seen.releases.map((e) => e.manifest.appVersion)).toEqual(['1.0.0', '1.1.0'])
    expect(seen.releases[0]).toMatchObject({ key: KEY, cid: v1.manifestCid, from: id(publisher) })
    expect(rel(follower).latestOf(dev.id, NAME)?.cid).toBe(v2.manifestCid)
    expect(rel(follower).following()).toEqual([{ publisher: dev.id, name: NAME }])
    expect(rel(publisher).stats()).toMatchObject({ announcesOut: 2, protocolErrors: 0 })
    expect(rel(follower).stats()).toMatchObject({ announcesIn: 2, refused: 0, protocolErrors: 0 })
    expect(seen.refused).toEqual([])
  })

  it('keeps pushing past the per-connection stream limit (each push stream is closed)', async () => {
    // regression: the receiving side stopped reading after DONE, so each push stream stayed
    // half open and, after maxInboundStreams (8) of them, pushes were refused and dropped
    const publisher = await node()
    const { seen, follower } = await followerOf(publisher)
    for (let i = 1; i <= 20; i++) {
      rel(publisher).publish(version(`1.${i}.0`, 1000 * i).manifestBytes)
      await waitFor(() => seen.releases.length === i, 5000, `release ${i}`)
    }
    expect(seen.releases.at(-1)?.manifest.appVersion).toBe('1.20.0')
    // and no releases stream is left open on either side
    await waitFor(
      () =>
        [publisher, follower].every((n) =>
          n.getConnections().every((c) => c.streams.every((s) => s.protocol !== RELEASES_PROTOCOL)),
        ),
      5000,
      'the releases streams closed',
    )
  })

  it('crosses three hops: publisher, R, A, B (B connected to A only)', async () => {
    const publisher = await node()
    const [r, a, b] = [await node(), await node(), await node()]
    const seen = record(b)
    for (const n of [r, a, b]) rel(n).follow(dev.id, NAME)
    await link(r, publisher)
    await link(a, r)
    await link(b, a)
    await subscribed(publisher, r)
    await subscribed(r, a)
    await subscribed(a, b)
    expect(b.getConnections().map((c) => c.remotePeer.toString())).toEqual([id(a)])
    const v1 = version('1.0.0', 1000)
    rel(publisher).publish(v1.manifestBytes)
    await waitFor(() => seen.releases.length === 1, 5000, 'the release at B')
    expect(seen.releases[0]).toMatchObject({ key: KEY, cid: v1.manifestCid, from: id(a) })
    for (const n of [r, a, b]) expect(rel(n).latestOf(dev.id, NAME)?.cid).toBe(v1.manifestCid)
    // a second version takes the same way; nothing flows back (only newer releases travel)
    rel(publisher).publish(version('1.1.0', 2000).manifestBytes)
    await waitFor(() => seen.releases.length === 2, 5000, 'the second release at B')
    await sleep(100)
    expect(rel(publisher).stats().announcesIn).toBe(0)
    expect(rel(b).stats().announcesOut).toBe(0)
  })

  it('catches up on connect (follow, then connect) and on follow (connect, then follow)', async () => {
    const publisher = await node()
    const v1 = version('1.0.0', 1000)
    rel(publisher).publish(v1.manifestBytes)

    const early = await node()
    const earlySeen = record(early)
    rel(early).follow(dev.id, NAME)
    await link(early, publisher)
    await waitFor(() => earlySeen.releases.length === 1, 5000, 'the catch-up release')
    expect(earlySeen.releases[0]).toMatchObject({ cid: v1.manifestCid, from: id(publisher) })

    const late = await node()
    const lateSeen = record(late)
    await link(late, publisher)
    // connected first: identify has told the releases service the publisher speaks it
    await waitFor(() => rel(late).stats().peers === 1, 5000, 'the publisher known')
    rel(late).follow(dev.id, NAME)
    await waitFor(() => lateSeen.releases.length === 1, 5000, 'the release after following')
    expect(rel(late).latestOf(dev.id, NAME)?.manifest.appVersion).toBe('1.0.0')
    // and both now get pushes
    rel(publisher).publish(version('1.1.0', 2000).manifestBytes)
    await waitFor(() => earlySeen.releases.length === 2 && lateSeen.releases.length === 2)
  })

  it('refuses a manifest with the followed name signed by another key', async () => {
    const publisher = await node()
    const { follower, seen } = await followerOf(publisher)
    const v1 = version('1.0.0', 1000)
    rel(publisher).publish(v1.manifestBytes)
    await waitFor(() => seen.releases.length === 1)

    const fake = version('9.9.9', Date.now(), mallory)
    const attacker = await plain()
    await sendRaw(attacker, follower, [
      ...announce(fake.manifestBytes),
      ...frames({ type: 'done' }),
    ])
    await waitFor(() => seen.refused.length === 1, 5000, 'a refusal')
    expect(seen.refused[0]).toEqual({
      publisher: mallory.id,
      name: NAME,
      reason: `signed by ${mallory.id} not the followed key ${dev.id}`,
      from: id(attacker),
    })
    expect(rel(follower).latestOf(dev.id, NAME)?.cid).toBe(v1.manifestCid)
    expect(rel(follower).latestOf(mallory.id, NAME)).toBeUndefined()
    expect(seen.releases).toHaveLength(1)
    expect(rel(follower).stats()).toMatchObject({ refused: 1, protocolErrors: 0 })

    // published by a relay, a same-named app of another key reaches the followers of the name
    // (so the user learns of it) and is refused there too, never taking the followed app's place
    const other = version('9.9.10', Date.now(), mallory)
    rel(publisher).publish(other.manifestBytes)
    await waitFor(() => seen.refused.length === 2, 5000, 'the pushed impostor refused')
    expect(seen.refused[1]).toMatchObject({ publisher: mallory.id, from: id(publisher) })
    expect(rel(follower).latestOf(dev.id, NAME)?.cid).toBe(v1.manifestCid)
    expect(seen.releases).toHaveLength(1)
  })

  it('ignores an older version (rollback) and the same version again (replay)', async () => {
    const current = await node()
    const stale = await node()
    const { follower, seen } = await followerOf(current)
    await link(follower, stale)
    await subscribed(stale, follower)
    const v1 = version('1.0.0', 1000)
    const v2 = version('2.0.0', 2000)
    rel(current).publish(v2.manifestBytes)
    await waitFor(() => seen.releases.length === 1)

    rel(stale).publish(v1.manifestBytes)
    await waitFor(() => rel(follower).stats().announcesIn === 2, 5000, 'the old announcement')
    rel(stale).publish(v2.manifestBytes)
    await waitFor(() => rel(follower).stats().announcesIn === 3, 5000, 'the replay')
    await sleep(50)
    expect(seen.releases).toHaveLength(1)
    expect(seen.refused).toEqual([])
    expect(rel(follower).latestOf(dev.id, NAME)?.cid).toBe(v2.manifestCid)

    // publishing an older version where a newer one is known: valid, not latest, not pushed
    const before = rel(current).stats().announcesOut
    expect(rel(current).publish(v1.manifestBytes)).toMatchObject({
      ok: true,
      value: { isLatest: false },
    })
    expect(rel(current).stats().announcesOut).toBe(before)
    expect(rel(current).publish(new Uint8Array([1, 2, 3]))).toMatchObject({
      ok: false,
      error: { code: 'BAD_MANIFEST' },
    })
  })

  it('stops the events on unfollow', async () => {
    const publisher = await node()
    const { follower, seen } = await followerOf(publisher)
    rel(publisher).publish(version('1.0.0', 1000).manifestBytes)
    await waitFor(() => seen.releases.length === 1)
    rel(follower).unfollow(dev.id, NAME)
    expect(rel(follower).following()).toEqual([])
    expect(rel(follower).latestOf(dev.id, NAME)).toBeUndefined()
    rel(publisher).publish(version('1.1.0', 2000).manifestBytes)
    await waitFor(() => rel(follower).stats().announcesIn === 2, 5000, 'the push')
    await sleep(50)
    expect(seen.releases).toHaveLength(1)
    expect(seen.refused).toEqual([])
  })

  it('forgets a subscriber that disconnects; on reconnect it catches up on what it missed', async () => {
    const publisher = await node()
    const { follower, seen } = await followerOf(publisher)
    await follower.hangUp(publisher.peerId)
    await waitFor(() => rel(publisher).subscribersOf(dev.id, NAME).length === 0, 5000, 'forget')
    const v1 = version('1.0.0', 1000)
    rel(publisher).publish(v1.manifestBytes)
    expect(rel(publisher).stats().announcesOut).toBe(0)
    await link(follower, publisher)
    await waitFor(() => seen.releases.length === 1, 5000, 'the missed release')
    expect(seen.releases[0]!.cid).toBe(v1.manifestCid)
  })

  it('works between peers built by createPeer', async () => {
    const peers: OrreryPeer[] = [await makePeer(), await makePeer()]
    running.push(...peers)
    const [pub, fol] = peers as [OrreryPeer, OrreryPeer]
    const events: string[] = []
    fol.node.services.releases.events.on('release', (e) => events.push(e.cid))
    fol.node.services.releases.follow(dev.id, NAME)
    await connect(fol, pub)
    await waitFor(() => pub.node.services.releases.subscribersOf(dev.id, NAME).includes(fol.id))
    const v1 = version('1.0.0', 1000)
    pub.node.services.releases.publish(v1.manifestBytes)
    await waitFor(() => events.length === 1, 5000, 'the release')
    expect(events).toEqual([v1.manifestCid])
  })
})

describe('bad input on the releases stream', () => {
  const tampered = (): Uint8Array => {
    const bytes = version('1.0.0', 1000).manifestBytes.slice()
    const text = new TextDecoder().decode(bytes).replace('"1.0.0"', '"1.0.9"')
    return utf8(text)
  }
  const bad: [string, () => Uint8Array[], boolean][] = [
    ['garbage bytes', () => [new Uint8Array(300).map((_, i) => (i * 97 + 13) & 0xff)], false],
    [
      'a truncated frame',
      () => [new Writer().varint(100).u8(0).raw(new Uint8Array(10)).finish()],
      true,
    ],
    [
      'a truncated message',
      () => encodeMessage(new Writer().u8(2).varint(500).raw(new Uint8Array(20)).finish()),
      false,
    ],
    ['a frame longer than allowed', () => [new Writer().varint(MAX_FRAME + 1).finish()], false],
    ['an oversized message', () => encodeMessage(new Uint8Array(MAX_RELEASES_MESSAGE + 1)), false],
    ['an unknown message type', () => encodeMessage(new Uint8Array([0x77, 1, 2])), false],
  ]
  for (const [name, bytes, end] of bad) {
    it(`closes the stream on ${name}; both peers keep running`, async () => {
      const publisher = await node()
      const { follower: victim, seen } = await followerOf(publisher)
      const attacker = await plain()
      await sendRaw(attacker, victim, bytes(), end)
      await waitFor(() => rel(victim).stats().protocolErrors === 1, 3000, 'the protocol error')
      await waitFor(() => logs.some((l) => l.startsWith('releases:')), 3000, 'a log line')
      expect(victim.status).toBe('started')
      expect(attacker.status).toBe('started')
      rel(publisher).publish(version('1.0.0', 1000).manifestBytes)
      await waitFor(() => seen.releases.length === 1, 5000, 'a release after the attack')
    })
  }

  it('refuses a tampered manifest (bad signature) and a malformed one, closing the stream', async () => {
    const publisher = await node()
    const { follower: victim, seen } = await followerOf(publisher)
    const attacker = await plain()
    await sendRaw(attacker, victim, [...announce(tampered()), ...frames({ type: 'done' })])
    await waitFor(() => seen.refused.length === 1, 3000, 'a refusal')
    expect(seen.refused[0]).toMatchObject({ publisher: dev.id, name: NAME, from: id(attacker) })
    expect(seen.refused[0]!.reason).toMatch(/^BAD_SIGNATURE: .*signature does not verify/)

    await sendRaw(attacker, victim, announce(utf8('{"name":"notes"')))
    await waitFor(() => seen.refused.length === 2, 3000, 'a second refusal')
    expect(seen.refused[1]).toMatchObject({ publisher: '', name: '', from: id(attacker) })
    expect(seen.refused[1]!.reason).toMatch(/^BAD_MANIFEST: bad app manifest: not JSON/)
    expect(rel(victim).stats()).toMatchObject({ refused: 2, protocolErrors: 0 })
    expect(rel(victim).latestOf(dev.id, NAME)).toBeUndefined()
    expect(seen.releases).toEqual([])
  })

  it('ignores a peer for a while after three strikes', async () => {
    const publisher = await node()
    const { follower: victim, seen } = await followerOf(publisher, { limits: { ignoreMs: 60_000 } })
    const attacker = await plain()
    for (let i = 0; i < 3; i++) await sendRaw(attacker, victim, announce(tampered()))
    await waitFor(() => seen.refused.length === 3, 3000, 'three refusals')
    await waitFor(() => logs.some((l) => /ignoring .* for 60000 ms/.test(l)), 3000, 'the ban')
    // a valid release from the banned peer is not even read
    const v1 = version('1.0.0', 1000)
    await sendRaw(attacker, victim, announce(v1.manifestBytes))
    await sleep(100)
    expect(seen.releases).toEqual([])
    expect(rel(victim).stats().announcesIn).toBe(3)
    // honest peers are unaffected
    rel(publisher).publish(v1.manifestBytes)
    await waitFor(() => seen.releases.length === 1, 5000, 'the honest release')
  })

  it('closes a stream that announces faster than the bucket allows', async () => {
    const publisher = await node()
    const limits = { announceBurst: 5, announcesPerSecond: 1 }
    const { follower: victim, seen } = await followerOf(publisher, { limits })
    const attacker = await plain()
    const many = Array.from({ length: 12 }, (_, i) => version(`1.0.${i}`, 1000 + i))
    await sendRaw(
      attacker,
      victim,
      many.flatMap((v) => announce(v.manifestBytes)),
    )
    await waitFor(() => rel(victim).stats().throttled === 1, 3000, 'the throttle')
    expect(rel(victim).stats().announcesIn).toBe(5)
    expect(seen.releases.map((e) => e.manifest.appVersion)).toEqual([
      '1.0.0',
      '1.0.1',
      '1.0.2',
      '1.0.3',
      '1.0.4',
    ])
    expect(rel(victim).stats().protocolErrors).toBe(0)
  })
})
