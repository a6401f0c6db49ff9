/**
 * The mirror's reads over HTTP (src/core/mirror/http.ts, relay/mirror/http-reads.ts) and a link's
 * first sight through them (src/core/mirror/prefetch.ts): a real mirror service on LevelDB behind
 * a real HTTP server on loopback, real tabs. Reads answer as over libp2p; anything else, and bad
 * or oversized input either way, is refused with a clear answer and the server goes on serving.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { generateIdentity } from '../src/core/identity'
import { utf8 } from '../src/core/bytes'
import type { OrreryError, Result } from '../src/core/errors'
import { MirrorClient } from '../src/core/mirror/client'
import { sealEnvelope } from '../src/core/mirror/envelope'
import { httpExchange, MAX_MIRROR_HTTP_REQUEST, MIRROR_HTTP_PATH } from '../src/core/mirror/http'
import { MirrorPrefetch } from '../src/core/mirror/prefetch'
import { freeDocRosterId } from '../src/core/mirror/free-doc'
import { encodeMirrorRequest } from '../src/core/mirror/protocol'
import type { MirrorService } from '../relay/mirror/service'
import { serveMirrorRead } from '../relay/mirror/http-reads'
import { mirrorPeers, mirrored, read, type MirrorNode } from './mirror-peers'
import type { OrreryPeer } from '../src/core/peer'
import { newMirrorDoc } from './mirror-doc'
import { waitFor } from './peers'

const { peer, startMirror, viaMirror } = mirrorPeers()
const servers: http.Server[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(
    servers.splice(0).map((s) => new Promise((r) => s.close(r).closeAllConnections())),
  )
})

/** An HTTP server on loopback answering requests with `handle`; its base URL. */
async function serve(handle: http.RequestListener): Promise<string> {
  const server = http.createServer(handle)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** The relay's mirror route in front of `mirror` (none: a relay that keeps no mirror). */
const mirrorRoute = (mirror: MirrorService | undefined) =>
  serve((req, res) => {
    if (req.url === MIRROR_HTTP_PATH) serveMirrorRead(mirror, req, res)
    else res.writeHead(404).end()
  })

const code = (r: Result<unknown, OrreryError>): string => (r.ok ? 'ok' : r.error.code)
const overHttp = (base: string) =>
  new MirrorClient(httpExchange(base + MIRROR_HTTP_PATH), { timeoutMs: 5000 })

describe("the mirror's reads over HTTP", { timeout: 60_000 }, () => {
  it('answers a since as libp2p does, pages and all, and member lists', async () => {
    const { node } = await startMirror(undefined, { openLogs: true }) // (a log of no space)
    const base = await mirrorRoute(node.services.mirror)
    const doc = newMirrorDoc()
    const uploader = generateIdentity()
    const tab = await viaMirror(node)
    const p2p = MirrorClient.dial(tab.node, node.getMultiaddrs(), { timeoutMs: 5000 })
    for (let seq = 1; seq <= 3; seq++) {
      const changes = [{ change: utf8(`change ${seq}`) }]
      const e = sealEnvelope({ ...doc, epoch: 0, uploader, seq, changes })
      expect(code(await p2p.put(e))).toBe('ok')
    }
    const client = overHttp(base)
    const all = await client.sinceAll(doc.tag, 0)
    expect(all).toEqual(await p2p.sinceAll(doc.tag, 0))
    expect(all.ok && all.value.map((e) => e.index)).toEqual([1, 2, 3])
    const page = await client.since(doc.tag, 1, 1)
    expect(page.ok && [page.value.more, page.value.envelopes.map((e) => e.index)]).toEqual([
      true,
      [2],
    ])
    expect(await client.getRoster(new Uint8Array(32).fill(7))).toEqual({
      ok: true,
      value: undefined,
    })
  })

  it('refuses uploads, admissions and malformed bodies with an answer, and serves on', async () => {
    const { node } = await startMirror()
    const base = await mirrorRoute(node.services.mirror)
    const client = overHttp(base)
    const doc = newMirrorDoc()
    const e = sealEnvelope({
      ...doc,
      epoch: 0,
      uploader: generateIdentity(),
      seq: 1,
      changes: [{ change: utf8('x') }],
    })
    expect(code(await client.put(e))).toBe('NOT_ALLOWED')
    expect(code(await client.admit(new Uint8Array(200)))).toBe('NOT_ALLOWED')
    expect(code(await client.putRoster(new Uint8Array(200)))).toBe('NOT_ALLOWED')
    const url = base + MIRROR_HTTP_PATH
    const garbage = await fetch(url, { method: 'POST', body: new Uint8Array([0xff, 1, 2]) })
    expect(garbage.status).toBe(200) // the error is the mirror's answer, as over a stream
    expect(garbage.headers.get('access-control-allow-origin')).toBeNull() // no other origin reads it
    const asked = httpExchange(url)
    const raw = await asked(new Uint8Array([0xff, 1, 2]), 1000, AbortSignal.timeout(5000))
    expect(raw.ok).toBe(true)
    expect((await fetch(url)).status).toBe(405)
    const big = await fetch(url, {
      method: 'POST',
      body: new Uint8Array(MAX_MIRROR_HTTP_REQUEST + 1),
    })
    expect(big.status).toBe(413)
    // (the request of a since is small: a big body is nobody's read)
    const since = encodeMirrorRequest({
      type: 'since',
      roster: new Uint8Array(32),
      docTag: doc.tag,
      after: 0,
      limit: 10,
    })
    expect(since.length).toBeLessThan(MAX_MIRROR_HTTP_REQUEST)
    expect(code(await client.sinceAll(doc.tag, 0))).toBe('ok')
    expect(node.services.mirror.stats().putsAccepted).toBe(0)
  })

  it('a relay without a mirror, or a broken answer, is a clear error, never a throw', async () => {
    const none = overHttp(await mirrorRoute(undefined))
    const noMirror = await none.sinceAll(newMirrorDoc().tag, 0)
    expect(!noMirror.ok && noMirror.error.message).toMatch(/PEER_UNREACHABLE|HTTP 404/)
    expect(code(noMirror)).toBe('PEER_UNREACHABLE')
    // a liar: more bytes than asked for, with and without saying so, or nothing at all
    const liar = await serve((req, res) => {
      if (req.url === '/long')
        res.writeHead(200, { 'content-length': '5000' }).end('x'.repeat(5000))
      else if (req.url === '/chunked') {
        res.writeHead(200)
        for (let i = 0; i < 10; i++) res.write('x'.repeat(1000))
        res.end()
      } else if (req.url === '/silent')
        res.writeHead(200) // and never ends
      else res.writeHead(200).end(new Uint8Array([9, 9, 9]))
    })
    const ask = (p: string, ms = 5000) =>
      httpExchange(liar + p)(new Uint8Array([1]), 1000, AbortSignal.timeout(ms))
    expect(code(await ask('/long'))).toBe('MESSAGE_TOO_LARGE')
    expect(code(await ask('/chunked'))).toBe('MESSAGE_TOO_LARGE')
    expect(code(await ask('/silent', 300))).toBe('PEER_UNREACHABLE')
    const junk = new MirrorClient(httpExchange(liar + '/junk'), { timeoutMs: 5000 })
    expect(code(await junk.sinceAll(newMirrorDoc().tag, 0))).toBe('MALFORMED_MESSAGE')
    const closed = new MirrorClient(httpExchange('http://127.0.0.1:9/nothing'), { timeoutMs: 5000 })
    expect(code(await closed.sinceAll(newMirrorDoc().tag, 0))).toBe('PEER_UNREACHABLE')
  })
})

describe("a link's first sight from the mirror", { timeout: 60_000 }, () => {
  /** A document of 10 keys on the mirror, its maker gone; its id and keys. */
  async function onTheMirror(node: MirrorNode) {
    const a = await viaMirror(node)
    const id = (await a.repo.create()).id
    for (let i = 0; i < 10; i++) await a.state.set(`/${id}/k${i}`, i)
    await mirrored(a, id)
    const keys = { key: a.repo.keys.get(id)!, write: a.repo.keys.writeKey(id)! }
    await a.stop()
    return { id, ...keys }
  }

  /** A fresh tab of the mirror whose first reads went through `prefetch`. */
  async function opener(node: MirrorNode, prefetch: MirrorPrefetch) {
    const address = node.getMultiaddrs()
    return peer({ mirror: { address, pullEveryMs: 200, retryMs: 50, timeoutMs: 5000, prefetch } })
  }

  type LinkedDoc = Awaited<ReturnType<typeof onTheMirror>>

  async function openWithKeys(p: OrreryPeer, doc: LinkedDoc): Promise<void> {
    await p.repo.setKey(doc.id, doc.key)
    await p.repo.setWriteKey(doc.id, doc.write)
    await p.repo.open(doc.id)
  }

  /** A fresh tab opening `doc` as its link would, asked for early through `prefetch`; once it shows it. */
  async function linkOpened(node: MirrorNode, doc: LinkedDoc, prefetch: MirrorPrefetch) {
    prefetch.start(doc.id, doc.key, freeDocRosterId(doc.id, doc.key, doc.write.pub))
    const c = await opener(node, prefetch)
    await openWithKeys(c, doc)
    await waitFor(async () => (await read(c, doc.id, 'k9')) === 9, 10_000, 'the link shows it')
    return c
  }

  it("the seat's first pull is the page's early read over HTTP; later pulls ask the mirror", async () => {
    const { node } = await startMirror()
    const doc = await onTheMirror(node)
    const reader = overHttp(await mirrorRoute(node.services.mirror))
    const prefetch = new MirrorPrefetch(reader)
    const reads = vi.spyOn(MirrorClient.prototype, 'sinceAll')
    const c = await linkOpened(node, doc, prefetch)
    // the first read from index 0 was the early one, over HTTP; libp2p's only from later on
    const p2pFromStart = reads.mock.calls.filter((args, i) => {
      return reads.mock.contexts[i] !== reader && args[1] === 0
    })
    expect(reads.mock.contexts[0]).toBe(reader)
    expect(p2pFromStart).toEqual([])
    // a change made afterwards still arrives: the later pulls go to the mirror
    const b = await viaMirror(node)
    await openWithKeys(b, doc)
    await waitFor(async () => (await read(b, doc.id, 'k0')) === 0, 10_000, 'b reads')
    await b.state.set(`/${doc.id}/later`, 'yes')
    await mirrored(b, doc.id)
    await waitFor(async () => (await read(c, doc.id, 'later')) === 'yes', 10_000, 'c reads later')
  })

  it('an early read that failed leaves the first pull to libp2p: the document still comes', async () => {
    const { node } = await startMirror()
    const doc = await onTheMirror(node)
    const prefetch = new MirrorPrefetch(overHttp(await mirrorRoute(undefined)))
    await linkOpened(node, doc, prefetch) // (it waits for the document)
  })
})
