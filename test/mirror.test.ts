/**
 * The mirror over real libp2p streams (memory transport): tabs upload sealed envelopes to a node
 * running the mirror service and others fetch and open them; refusals reach the uploader with
 * their code and store nothing; pages end with `more`; a dead, silent or lying mirror gives typed
 * errors; and no plaintext reaches the mirror's files.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { fromUtf8, utf8 } from '../src/core/bytes'
import { err, IdentityError, StorageError, type OrreryError, type Result } from '../src/core/errors'
import { generateIdentity, type Identity } from '../src/core/identity'
import { MirrorClient, type MirrorClientOptions } from '../src/core/mirror/client'
import { openEnvelope, sealEnvelope } from '../src/core/mirror/envelope'
import {
  decodeMirrorAnswer,
  encodeMirrorAnswer,
  encodeMirrorRequest,
  MAX_MIRROR_REQUEST,
  MAX_SINCE_ANSWER,
  MIRROR_PROTOCOL,
  mirrorError,
  readOne,
  type MirrorAnswer,
} from '../src/core/mirror/protocol'
import { Writer } from '../src/core/wire/codec'
import { encodeMessage } from '../src/core/wire/framing'
import { mirrorService, type MirrorService, type MirrorServiceInit } from '../relay/mirror/service'
import { memoryNode } from './peers'
import { newMirrorDoc, type MirrorTestDoc } from './mirror-doc'

const dirs: string[] = []
const nodes: Libp2p[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async (n) => n.stop()))
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

type MirrorNode = Libp2p<{ mirror: MirrorService }>

async function mirrorNode(init: Omit<MirrorServiceInit, 'dir' | 'store'> = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-mirror-net-'))
  dirs.push(dir)
  const node: MirrorNode = await memoryNode('mirror', {
    mirror: mirrorService({ dir, ...init, storeOptions: { openLogs: true, ...init.storeOptions } }),
  })
  nodes.push(node)
  return { node, dir, service: node.services.mirror }
}

async function tab(): Promise<Libp2p> {
  const node = await memoryNode('tab')
  nodes.push(node)
  return node
}

async function clientOf(mirror: Libp2p, options: MirrorClientOptions = { timeoutMs: 5000 }) {
  return MirrorClient.dial(await tab(), mirror.getMultiaddrs(), options)
}

const alice = generateIdentity()
const bob = generateIdentity()

function seal(uploader: Identity, seq: number, text: string, doc: MirrorTestDoc): Uint8Array {
  const changes = [{ change: utf8(text) }]
  return sealEnvelope({ docId: doc.docId, readKey: doc.readKey, epoch: 0, uploader, seq, changes })
}

function value<T>(r: Result<T, OrreryError>): T {
  if (!r.ok) throw r.error
  return r.value
}
const code = (r: Result<unknown, OrreryError>): string => (r.ok ? 'ok' : r.error.code)

/** Sends raw bytes on a mirror stream, closes our end, and reads the answer. */
async function rawExchange(
  from: Libp2p,
  to: Libp2p,
  bytes: Uint8Array,
  close = true,
): Promise<{ answer: Result<MirrorAnswer, OrreryError>; stream: Stream }> {
  const stream = await from.dialProtocol(to.getMultiaddrs(), MIRROR_PROTOCOL)
  const reading = readOne(stream, {
    maxMessage: MAX_SINCE_ANSWER,
    signal: AbortSignal.timeout(5000),
    remote: 'the mirror',
  })
  stream.send(bytes)
  if (close) await stream.close()
  const got = await reading
  const decoded = got.ok ? decodeMirrorAnswer(got.value) : got
  const answer =
    decoded.ok && decoded.value.type === 'error'
      ? err(mirrorError(decoded.value.code, decoded.value.message))
      : decoded
  return { answer, stream }
}

/** A frame of `body` as it is (flag and all), not checked in any way. */
const frame = (body: Uint8Array): Uint8Array => new Writer().varint(body.length).raw(body).finish()

const framed = (message: Uint8Array): Uint8Array => {
  const frames = encodeMessage(message)
  expect(frames).toHaveLength(1)
  return frames[0] as Uint8Array
}

describe('mirror protocol over libp2p streams', () => {
  it('stores uploads with their indexes; another tab fetches and opens them', async () => {
    const { node, service } = await mirrorNode()
    const doc = newMirrorDoc()
    const uploader = await clientOf(node)
    const envelopes = [1, 2, 3].map((seq) => seal(alice, seq, `change ${seq}`, doc))
    const answers = []
    for (const e of envelopes) answers.push(value(await uploader.put(e)))
    expect(answers).toEqual([1, 2, 3].map((index) => ({ index, duplicate: false })))
    // an outbox retrying after a lost acknowledgement
    expect(value(await uploader.put(envelopes[1] as Uint8Array))).toEqual({
      index: 2,
      duplicate: true,
    })
    const reader = await clientOf(node)
    const page = value(await reader.since(doc.tag, 0))
    expect(page.more).toBe(false)
    expect(page.envelopes.map((e) => e.index)).toEqual([1, 2, 3])
    const texts = page.envelopes.map((e) => {
      const opened = value(openEnvelope(e.envelope, doc.docId, doc.readKey))
      return opened.changes.map((c) => fromUtf8(c.change)).join()
    })
    expect(texts).toEqual(['change 1', 'change 2', 'change 3'])
    expect(value(await reader.since(doc.tag, 2)).envelopes.map((e) => e.index)).toEqual([3])
    expect(value(await reader.since(newMirrorDoc().tag, 0))).toEqual({ envelopes: [], more: false })
    expect(service.stats()).toMatchObject({
      putsAccepted: 3,
      putsDuplicate: 1,
      putsRefused: 0,
      sinceRequests: 3,
      envelopesServed: 4,
      store: { envelopes: 3 },
    })
  })

  it('answers refusals with their code and stores nothing: forgery, replay, quota', async () => {
    const { node, service } = await mirrorNode({ storeOptions: { maxBytesPerSpace: 1000 } })
    const doc = newMirrorDoc()
    const client = await clientOf(node)
    value(await client.put(seal(alice, 1, 'first', doc)))
    value(await client.put(seal(alice, 2, 'second', doc)))

    const forged = seal(bob, 3, 'forged', doc)
    forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 1
    const bad = await client.put(forged)
    expect(code(bad)).toBe('BAD_SIGNATURE')
    expect(!bad.ok && bad.error).toBeInstanceOf(IdentityError)

    const replay = await client.put(seal(alice, 2, 'another second', doc))
    expect(code(replay)).toBe('PROTOCOL_VIOLATION')
    expect(!replay.ok && replay.error.message).toMatch(/replayed sequence number 2/)

    const big = await client.put(seal(bob, 1, 'x'.repeat(800), doc))
    expect(code(big)).toBe('STORAGE_FULL')
    expect(!big.ok && big.error).toBeInstanceOf(StorageError)

    const stored = value(await client.since(doc.tag, 0))
    expect(stored.envelopes.map((e) => e.index)).toEqual([1, 2])
    expect(service.stats()).toMatchObject({
      putsAccepted: 2,
      putsRefused: 3,
      refusals: { BAD_SIGNATURE: 1, PROTOCOL_VIOLATION: 1, STORAGE_FULL: 1 },
      store: { envelopes: 2 },
    })
  })

  it('answers malformed bytes MALFORMED_MESSAGE (or MESSAGE_TOO_LARGE), closes the stream, stores nothing', async () => {
    const { node, service } = await mirrorNode()
    const doc = newMirrorDoc()
    const from = await tab()
    const put = encodeMirrorRequest({ type: 'put', envelope: seal(alice, 1, 'ok', doc) })
    const cases: [string, Uint8Array, string][] = [
      ['an unknown request type', framed(Uint8Array.of(9, 1, 2, 3)), 'MALFORMED_MESSAGE'],
      ['a put with trailing bytes', framed(Uint8Array.of(...put, 0)), 'MALFORMED_MESSAGE'],
      [
        'a truncated since',
        framed(Uint8Array.of(2, ...doc.tag.subarray(0, 10))),
        'MALFORMED_MESSAGE',
      ],
      [
        'a since of limit 0',
        framed(new Writer().u8(2).raw(doc.tag).varint(0).varint(0).finish()),
        'MALFORMED_MESSAGE',
      ],
      ['an empty frame', Uint8Array.of(0), 'MALFORMED_MESSAGE'],
      ['an unknown frame flag', Uint8Array.of(2, 7, 1), 'MALFORMED_MESSAGE'],
      ['a frame over the cap', new Writer().varint(10_000_000).finish(), 'MESSAGE_TOO_LARGE'],
      [
        'a split message over the cap',
        frame(
          new Writer()
            .u8(1)
            .varint(MAX_MIRROR_REQUEST + 1)
            .u8(0)
            .finish(),
        ),
        'MESSAGE_TOO_LARGE',
      ],
      [
        'a put of a truncated envelope',
        framed(
          new Writer()
            .u8(1)
            .bytes(Uint8Array.of(2, 2, 3))
            .finish(),
        ),
        'MALFORMED_MESSAGE',
      ],
    ]
    for (const [what, bytes, expected] of cases) {
      const { answer, stream } = await rawExchange(from, node, bytes)
      expect(code(answer), what).toBe(expected)
      expect(stream.status, what).not.toBe('open')
    }
    // a second request on one stream: answered, and the stream closed though the client kept it
    const { answer, stream } = await rawExchange(
      from,
      node,
      Uint8Array.of(...framed(put), ...framed(put)),
      false,
    )
    expect(code(answer)).toBe('PROTOCOL_VIOLATION')
    await expect.poll(() => stream.status).not.toBe('open')
    expect(service.stats()).toMatchObject({
      putsAccepted: 0,
      malformed: 9,
      store: { envelopes: 0 },
    })
    // a stream cut before its request was read answers nothing; the mirror serves on
    const cut = await from.dialProtocol(node.getMultiaddrs(), MIRROR_PROTOCOL)
    cut.send(Uint8Array.of(5, 0))
    cut.abort(new Error('gone'))
    expect(value(await (await clientOf(node)).put(seal(alice, 1, 'ok', doc))).index).toBe(1)
  })

  it('pages with more: by envelope count, by bytes, and by the limit asked', async () => {
    const { node } = await mirrorNode({ maxPageEnvelopes: 2 })
    const doc = newMirrorDoc()
    const client = await clientOf(node)
    for (let seq = 1; seq <= 5; seq++) value(await client.put(seal(alice, seq, `c${seq}`, doc)))
    const pages = []
    for (const after of [0, 2, 4]) {
      const page = value(await client.since(doc.tag, after))
      pages.push([page.envelopes.map((e) => e.index), page.more])
    }
    expect(pages).toEqual([
      [[1, 2], true],
      [[3, 4], true],
      [[5], false],
    ])
    const limited = value(await client.since(doc.tag, 0, 1))
    expect([limited.envelopes.map((e) => e.index), limited.more]).toEqual([[1], true])
    expect(value(await client.sinceAll(doc.tag, 0)).map((e) => e.index)).toEqual([1, 2, 3, 4, 5])
    expect(value(await client.sinceAll(doc.tag, 5))).toEqual([])

    // pages cut by bytes: 1000 bytes hold one of these envelopes, never none
    const small = await mirrorNode({ maxPageBytes: 1000 })
    const other = await clientOf(small.node)
    for (let seq = 1; seq <= 3; seq++) value(await other.put(seal(bob, seq, 'y'.repeat(600), doc)))
    const first = value(await other.since(doc.tag, 0))
    expect([first.envelopes.map((e) => e.index), first.more]).toEqual([[1], true])
    expect(value(await other.sinceAll(doc.tag, 0)).map((e) => e.index)).toEqual([1, 2, 3])
  })

  it('a dead or silent mirror gives PEER_UNREACHABLE, never a throw or a hang', async () => {
    const { node } = await mirrorNode()
    const doc = newMirrorDoc()
    const client = await clientOf(node, { timeoutMs: 2000 })
    value(await client.put(seal(alice, 1, 'before', doc)))
    await node.stop()
    const started = Date.now()
    expect(code(await client.put(seal(alice, 2, 'after', doc)))).toBe('PEER_UNREACHABLE')
    expect(code(await client.since(doc.tag, 0))).toBe('PEER_UNREACHABLE')
    expect(code(await client.sinceAll(doc.tag, 0))).toBe('PEER_UNREACHABLE')
    // by peer id, with no address known
    const byId = MirrorClient.dial(await tab(), node.peerId, { timeoutMs: 2000 })
    expect(code(await byId.put(seal(alice, 2, 'after', doc)))).toBe('PEER_UNREACHABLE')
    expect(Date.now() - started).toBeLessThan(8000)

    // a mirror that takes the stream and never answers
    const silent = await memoryNode('silent')
    nodes.push(silent)
    await silent.handle(MIRROR_PROTOCOL, () => undefined)
    const waiting = MirrorClient.dial(await tab(), silent.getMultiaddrs(), { timeoutMs: 500 })
    const before = Date.now()
    const r = await waiting.since(doc.tag, 0)
    expect(code(r)).toBe('PEER_UNREACHABLE')
    expect(!r.ok && r.error.message).toMatch(/in time/)
    expect(Date.now() - before).toBeLessThan(3000)
  })

  it('a lying mirror gets typed errors, never a throw', async () => {
    const doc = newMirrorDoc()
    const liar = await memoryNode('liar')
    nodes.push(liar)
    let reply: (stream: Stream) => Promise<void> = async () => undefined
    await liar.handle(MIRROR_PROTOCOL, async (stream) => {
      await readOne(stream, {
        maxMessage: MAX_MIRROR_REQUEST,
        signal: AbortSignal.timeout(5000),
        remote: 'the client',
      })
      await reply(stream)
    })
    const say = (bytes: Uint8Array) => async (stream: Stream) => {
      stream.send(bytes)
      await stream.close()
    }
    const answer = (m: MirrorAnswer) => say(framed(encodeMirrorAnswer(m)))
    const mine = (index: number, seq = index) => ({ index, envelope: seal(alice, seq, 'x', doc) })
    const client = MirrorClient.dial(await tab(), liar.getMultiaddrs(), { timeoutMs: 2000 })
    const since = () => client.since(doc.tag, 0, 10)
    const put = () => client.put(seal(alice, 1, 'x', doc))
    const cases: [string, (s: Stream) => Promise<void>, () => Promise<Result<unknown>>, string][] =
      [
        ['garbage', say(framed(Uint8Array.of(0xff, 1, 2))), put, 'MALFORMED_MESSAGE'],
        ['bytes that are not frames', say(Uint8Array.of(0, 0, 0)), put, 'MALFORMED_MESSAGE'],
        ['a truncated frame', say(Uint8Array.of(9, 0, 3)), put, 'MALFORMED_MESSAGE'],
        ['a duplicate flag of 2', say(framed(Uint8Array.of(3, 1, 2))), put, 'MALFORMED_MESSAGE'],
        [
          'index 0',
          answer({ type: 'ok-put', index: 0, duplicate: false }),
          put,
          'MALFORMED_MESSAGE',
        ],
        [
          'an unknown error code',
          say(framed(new Writer().u8(5).string('WHATEVER').string('no').finish())),
          put,
          'MALFORMED_MESSAGE',
        ],
        [
          'envelopes for a put',
          answer({ type: 'envelopes', envelopes: [], more: false }),
          put,
          'PROTOCOL_VIOLATION',
        ],
        [
          'an ok-put for a since',
          answer({ type: 'ok-put', index: 1, duplicate: false }),
          since,
          'PROTOCOL_VIOLATION',
        ],
        [
          "another document's envelope",
          answer({
            type: 'envelopes',
            envelopes: [{ index: 1, envelope: seal(alice, 1, 'x', newMirrorDoc()) }],
            more: false,
          }),
          since,
          'PROTOCOL_VIOLATION',
        ],
        [
          'indexes going down',
          answer({ type: 'envelopes', envelopes: [mine(2), mine(1)], more: false }),
          since,
          'PROTOCOL_VIOLATION',
        ],
        [
          'more, and nothing',
          answer({ type: 'envelopes', envelopes: [], more: true }),
          since,
          'PROTOCOL_VIOLATION',
        ],
        [
          'more envelopes than asked for',
          answer({
            type: 'envelopes',
            envelopes: Array.from({ length: 11 }, (_, i) => mine(i + 1)),
            more: false,
          }),
          since,
          'PROTOCOL_VIOLATION',
        ],
        [
          'an envelope that is not one',
          answer({
            type: 'envelopes',
            envelopes: [{ index: 1, envelope: utf8('hi') }],
            more: false,
          }),
          since,
          'PROTOCOL_VIOLATION',
        ],
        [
          'two answers',
          say(
            Uint8Array.of(
              ...framed(encodeMirrorAnswer({ type: 'ok-put', index: 1, duplicate: false })),
              ...framed(encodeMirrorAnswer({ type: 'ok-put', index: 1, duplicate: false })),
            ),
          ),
          put,
          'PROTOCOL_VIOLATION',
        ],
        ['no answer', say(new Uint8Array(0)), put, 'PROTOCOL_VIOLATION'],
        ['a reset', async (s) => s.abort(new Error('no')), put, 'PEER_UNREACHABLE'],
        [
          'a frame over the cap',
          say(new Writer().varint(MAX_SINCE_ANSWER * 2).finish()),
          since,
          'MESSAGE_TOO_LARGE',
        ],
      ]
    for (const [what, liarSays, ask, expected] of cases) {
      reply = liarSays
      expect(code(await ask()), what).toBe(expected)
    }
    // an honest answer from the same node still goes through
    reply = answer({ type: 'error', code: 'STORAGE_FULL', message: 'full' })
    const full = await put()
    expect(code(full)).toBe('STORAGE_FULL')
    expect(!full.ok && full.error).toBeInstanceOf(StorageError)
  })

  it('keeps no plaintext: a canary in a change is nowhere in the store files', async () => {
    const { node, dir } = await mirrorNode()
    const client = await clientOf(node)
    const canary = 'CANARY-7f3a9c-plaintext-that-must-not-be-stored'
    const docs = [newMirrorDoc(), newMirrorDoc()]
    const sealed: Uint8Array[] = []
    for (const doc of docs)
      for (let seq = 1; seq <= 3; seq++) {
        const e = seal(alice, seq, `${canary} ${seq} ${canary}`, doc)
        sealed.push(e)
        value(await client.put(e))
      }
    await node.stop() // the store closes: everything is on disk
    const files: Buffer[] = []
    const walk = (d: string): void => {
      for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, entry.name)
        if (entry.isDirectory()) walk(p)
        else files.push(fs.readFileSync(p))
      }
    }
    walk(dir)
    const found = (needle: Uint8Array): boolean => files.some((f) => f.indexOf(needle) >= 0)
    // the files do hold the envelopes (their signatures: random bytes no compression touches),
    // so the search looks in the right place…
    expect(sealed.every((e) => found(e.subarray(e.length - 64)))).toBe(true)
    // …and none of the plaintext, the document ids or the read keys
    expect(found(utf8(canary))).toBe(false)
    expect(found(utf8('CANARY'))).toBe(false)
    for (const doc of docs) {
      expect(found(utf8(doc.docId))).toBe(false)
      expect(found(doc.readKey)).toBe(false)
    }
  })
})
