/**
 * Bad input on the sync stream: garbage, truncated, oversized and out-of-order messages, forged
 * certificates and corrupt changes. Each time the offending stream is closed and logged, and the
 * peer keeps working with honest peers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { generateIdentity } from '../src/core/identity'
import { issueTabCert } from '../src/core/tab-cert'
import { decodeSyncFrame, encodeSyncFrame, SYNC_PROTOCOL } from '../src/core/sync/messages'
import { helloVersion, VERSIONS } from '../src/core/wire/versions'
import { encodeMessage, MAX_FRAME, MessageDecoder } from '../src/core/wire/framing'
import { docIdToBytes, docTopic, interestKey, interestTag } from '../src/core/ids'
import { concatBytes, sha256, utf8 } from '../src/core/bytes'
import { Writer } from '../src/core/wire/codec'
import { am } from '../src/core/automerge'
import type { OrreryPeer } from '../src/core/peer'
import { writeTag } from '../src/core/keys/write-key'
import { collectWarnings, connect, makePeer, proofTag, shareKeys, waitFor } from './peers'

let victim: OrreryPeer
let honest: OrreryPeer
let attacker: Libp2p
const logs = collectWarnings()

beforeEach(async () => {
  victim = await makePeer()
  honest = await makePeer()
  attacker = await createLibp2p({
    addresses: { listen: [] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
})

afterEach(async () => {
  await Promise.all([victim.stop(), honest.stop(), attacker.stop()])
})

async function openSync(): Promise<Stream> {
  return attacker.dialProtocol(victim.node.getMultiaddrs(), SYNC_PROTOCOL)
}

/** Resolves when the victim has closed or reset the stream. */
async function closedByVictim(stream: Stream): Promise<void> {
  try {
    for await (const chunk of stream) void chunk
  } catch {
    // reset: what we expect
  }
}

const frame = (body: Uint8Array): Uint8Array => encodeMessage(body)[0] as Uint8Array
const helloFor = (peerId: string): Uint8Array =>
  frame(
    encodeSyncFrame({
      type: 'hello',
      version: helloVersion('sync', VERSIONS.sync.current),
      cert: issueTabCert(generateIdentity(), peerId, 'attacker'),
    }),
  )

async function victimStillSyncs(): Promise<void> {
  const id = (await victim.repo.create()).id
  await victim.state.set(`/${id}/alive`, true)
  await shareKeys(victim, honest, id)
  await honest.repo.open(id)
  await connect(honest, victim)
  await waitFor(
    async () => (await honest.state.get(`/${id}/alive`)) === true,
    8000,
    'honest peer syncs',
  )
}

const cases: [string, () => Uint8Array[]][] = [
  ['garbage bytes', () => [new Uint8Array(300).map((_, i) => (i * 97 + 13) & 0xff)]],
  [
    'a frame longer than allowed (refused from its length prefix)',
    () => [new Writer().varint(MAX_FRAME + 1).finish()],
  ],
  ['a sync message before hello', () => [frame(encodeSyncFrame({ type: 'interest', topics: [] }))]],
  ['an unknown message type', () => [frame(new Uint8Array([0x77, 1, 2, 3]))]],
  [
    'a hello certifying another peer',
    () => [helloFor('12D3KooWNotTheRealPeerIdAtAllxxxxxxxxxxxxxxxxxxxxxxx')],
  ],
]

describe('interest in a document', () => {
  it('takes its read key: the id, its old hashes and a SYNC without a tag get nothing', async () => {
    const id = (await victim.repo.create()).id
    await victim.state.set(`/${id}/secret`, 'only for those with the key')
    const key = victim.repo.keys.get(id) as Uint8Array
    await victim.repo.close(id) // stored, not open: served to whoever shows they hold its key
    const stream = await openSync()
    const docsSent = new Set<string>()
    const decoder = new MessageDecoder({ maxFrame: MAX_FRAME, maxMessage: 64 * 1024 * 1024 })
    const reading = (async () => {
      try {
        for await (const chunk of stream) {
          const got = decoder.push(chunk)
          if (!got.ok) return
          for (const m of got.value) {
            const f = decodeSyncFrame(m)
            if (f.ok && f.value.type === 'sync') docsSent.add(f.value.docId)
          }
        }
      } catch {
        // closed
      }
    })()
    const me = attacker.peerId.toString()
    const them = victim.node.peerId.toString()
    const idBytes = docIdToBytes(id)
    const withId = (label: string): Uint8Array => sha256(concatBytes([utf8(label), idBytes]))
    stream.send(helloFor(me))
    // what knowing the id gives: the hashes ids used to be announced with, a tag keyed by the id
    // itself, the topic, and a tag made with the key for another pair of peers
    const guesses = [
      withId('orrery/doc-topic/v1:'),
      withId(`orrery/interest/v1:${me}:${them}:`),
      interestTag(interestKey(id, sha256(idBytes)), me, them),
      docTopic(id, key),
      interestTag(interestKey(id, key), them, me),
    ]
    stream.send(frame(encodeSyncFrame({ type: 'interest', topics: guesses })))
    // and a sync message for the id, as if it had been asked for
    const empty = am().create()
    const ask = am().initSyncState()
    const msg = empty.generateSyncMessage(ask) as Uint8Array
    stream.send(frame(encodeSyncFrame({ type: 'sync', docId: id, message: msg, sigs: [] })))
    await new Promise((r) => setTimeout(r, 800))
    expect(docsSent.has(id)).toBe(false)
    expect(victim.repo.get(id)).toBeUndefined() // not even opened to look
    // the tag made with the key, for this pair: the victim starts syncing (the harness works)
    stream.send(
      frame(
        encodeSyncFrame({
          type: 'interest',
          topics: [interestTag(interestKey(id, key), me, them)],
        }),
      ),
    )
    await waitFor(() => docsSent.has(id), 5000, 'a sync message for the document')
    stream.abort(new Error('done'))
    await reading
  })
})

describe('bad input on the sync stream', () => {
  for (const [name, bytes] of cases) {
    it(`closes the stream on ${name} and keeps serving honest peers`, async () => {
      const stream = await openSync()
      for (const b of bytes()) stream.send(b)
      await closedByVictim(stream)
      await waitFor(() => logs.some((l) => l.startsWith('sync:')), 3000, 'a log line')
      await victimStillSyncs()
    })
  }

  it('closes the stream when a hello is cut short by the end of the stream', async () => {
    const stream = await openSync()
    const hello = helloFor(attacker.peerId.toString())
    stream.send(hello.subarray(0, hello.length - 10))
    await stream.close()
    await waitFor(
      () =>
        logs.some((l) => l.includes('stream ended inside a message') || l.includes('MALFORMED')),
      3000,
    )
    await victimStillSyncs()
  })

  it('closes the stream on an undecodable Automerge sync message and on a corrupt change', async () => {
    for (const message of [
      new Uint8Array([0x42, 1, 2, 3, 4]),
      (() => {
        const d = am().create()
        d.put('_root', 'x', 1)
        d.commit()
        const change = d.getLastLocalChange()!.slice()
        change[change.length - 1]! ^= 0xff // checksum no longer matches
        return am().encodeSyncMessage({ heads: [], need: [], have: [], changes: [change] })
      })(),
    ]) {
      const stream = await openSync()
      const me = attacker.peerId.toString()
      stream.send(helloFor(me))
      const docId = (await victim.repo.create()).id
      // an attacker holding an edit link's keys: what it sends is checked like a writer's
      const to = victim.node.peerId.toString()
      const tag = proofTag(victim, docId, me, to)
      const write = writeTag(victim.repo.keys.writeKey(docId)!, me, to)!
      stream.send(frame(encodeSyncFrame({ type: 'interest', topics: [tag, write] })))
      stream.send(frame(encodeSyncFrame({ type: 'sync', docId, message, sigs: [] })))
      await closedByVictim(stream)
    }
    expect(logs.filter((l) => l.includes('MALFORMED_MESSAGE')).length).toBeGreaterThanOrEqual(2)
    await victimStillSyncs()
  })
})
