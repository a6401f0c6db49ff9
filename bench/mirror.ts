/**
 * The mirror's store (`npx tsx bench/mirror.ts`), issue 16's bench rows that need no tabs yet:
 *  - ingest: 5,000 envelopes of one small change each (as a W1-style edit would upload), from 10
 *    uploaders, put concurrently into a fresh store on disk; bundles/s (target ≥ 5,000 on one
 *    core). Sealing them is not timed.
 *  - bytes stored for the W2 burst (5,000 sets of one key, as Automerge changes) uploaded in
 *    batches of 100 changes per envelope, against the changes' own bytes (target ≤ 1.3×).
 *
 *
 * and, with tabs (in-process: peers on libp2p's memory transport, the relay's mirror service on a
 * store on disk; a browser adds its boot and a WebSocket):
 *  - upload: a change made in an online tab until the mirror acknowledged it (p50 / p95 of 20
 *    changes made 300 ms apart; target p95 <= 1 s)
 *  - link, nobody online: every member's tab is closed; a fresh tab with the link's keys opens
 *    the document until all of it is there: a small document (10 keys) and the W3 document
 *    (10,000 keys of 100 bytes, ~1 MB); targets <= 1.5 s and <= 2.0 s in a browser
 *  - compaction: the W3 document written in a space (10,000 signed changes of a 100-byte random
 *    value each), its log compacted into one snapshot; bytes the mirror stores for the space,
 *    against the document's saved size and against its values' bytes (target <= 1.3x)
 *
 * Prints the medians of 5 runs and writes bench/results-mirror.json.
 */
import '../relay/polyfill.js' // (first: libp2p needs Promise.withResolvers on Node 20)
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { am } from '../src/core/automerge'
import { loadAutomergeNode } from '../src/core/automerge-node'
import { generateIdentity, type Identity } from '../src/core/identity'
import { newDocId } from '../src/core/ids'
import { randomKey } from '../src/core/keys/aead'
import { sealEnvelope } from '../src/core/mirror/envelope'
import { MirrorStore } from '../relay/mirror/store'
import { mirrorService, type MirrorService } from '../relay/mirror/service'
import { createLibp2p, type Libp2p } from 'libp2p'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { createPeer, type OrreryPeer } from '../src/core/peer'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import type { DocId } from '../src/core/ids'
import { median } from './stats'

const RUNS = 5
const ENVELOPES = 5_000
const UPLOADERS = 10
const W2_CHANGES = 5_000
const PER_ENVELOPE = 100

function dirSize(dir: string): number {
  let total = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    total += e.isDirectory() ? dirSize(p) : fs.statSync(p).size
  }
  return total
}

async function withStore<T>(f: (store: MirrorStore, dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-mirror-bench-'))
  // logs of no space (no member list to look up): the store's own write path
  const store = await MirrorStore.open(dir, { openLogs: true })
  try {
    return await f(store, dir)
  } finally {
    await store.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** W1-style uploads: one change of a few dozen bytes per envelope. */
async function ingest(): Promise<number> {
  const docId = newDocId()
  const readKey = randomKey()
  const uploaders: Identity[] = Array.from({ length: UPLOADERS }, () => generateIdentity())
  const doc = am().create()
  const envelopes: Uint8Array[] = []
  for (let seq = 1; envelopes.length < ENVELOPES; seq++)
    for (const uploader of uploaders) {
      doc.put('_root', 'k', envelopes.length)
      doc.commit()
      const change = doc.getLastLocalChange()!
      envelopes.push(
        sealEnvelope({ docId, readKey, epoch: 0, uploader, seq, changes: [{ change }] }),
      )
    }
  doc.free()
  return withStore(async (store) => {
    const t = performance.now()
    const results = await Promise.all(envelopes.map((e) => store.put(e)))
    const seconds = (performance.now() - t) / 1000
    if (!results.every((r) => r.ok)) throw new Error('an envelope was refused')
    return envelopes.length / seconds
  })
}

/** The W2 burst, uploaded 100 changes per envelope: bytes on disk against the changes' bytes. */
async function w2Overhead(): Promise<{ plain: number; stored: number; disk: number }> {
  const docId = newDocId()
  const readKey = randomKey()
  const uploader = generateIdentity()
  const doc = am().create()
  const changes: Uint8Array[] = []
  for (let i = 0; i < W2_CHANGES; i++) {
    doc.put('_root', `k${i % 50}`, i)
    doc.commit()
    changes.push(doc.getLastLocalChange()!)
  }
  doc.free()
  const plain = changes.reduce((n, c) => n + c.length, 0)
  return withStore(async (store, dir) => {
    for (let i = 0, seq = 1; i < changes.length; i += PER_ENVELOPE, seq++) {
      const batch = changes.slice(i, i + PER_ENVELOPE).map((change) => ({ change }))
      const r = await store.put(
        sealEnvelope({ docId, readKey, epoch: 0, uploader, seq, changes: batch }),
      )
      if (!r.ok) throw r.error
    }
    const stored = store.stats().bytes
    await store.close()
    return { plain, stored, disk: dirSize(dir) }
  })
}

type MirrorNode = Libp2p<{ mirror: MirrorService }>

async function withMirror<T>(f: (mirror: MirrorNode) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-mirror-bench-'))
  const mirror: MirrorNode = await createLibp2p({
    addresses: { listen: [`/memory/mirror-bench-${Date.now()}-${Math.random()}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { mirror: mirrorService({ dir, storeOptions: { openLogs: true } }) },
  })
  try {
    return await f(mirror)
  } finally {
    await mirror.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

let tabs = 0
async function tab(
  mirror: MirrorNode,
  storage = new MemoryStorageAdapter(),
  snapshotAfter?: { envelopes: number; bytes: number },
): Promise<OrreryPeer> {
  const p = await createPeer({
    identity: generateIdentity(),
    storage,
    transports: [memory()],
    listen: [`/memory/tab-bench-${process.pid}-${++tabs}`],
    mirror: {
      address: mirror.getMultiaddrs(),
      timeoutMs: 10_000,
      ...(snapshotAfter === undefined ? {} : { snapshotAfter, pullEveryMs: 500 }),
    },
  })
  await p.identityReady
  return p
}

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + 60_000
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

const mirroredHeads = (p: OrreryPeer, id: DocId): boolean => {
  const heads = p.repo.get(id)?.status().heads ?? []
  const c = p.mirror?.confirmation(id)
  return heads.length > 0 && c !== undefined && heads.every((h) => c.heads.includes(h))
}

/** Change made → the mirror acknowledged it, for changes made 300 ms apart (ms each). */
async function uploadLatency(mirror: MirrorNode): Promise<number[]> {
  const a = await tab(mirror)
  const id = (await a.repo.create()).id
  await a.state.set(`/${id}/n`, -1)
  await until('first upload', () => mirroredHeads(a, id))
  const out: number[] = []
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 300))
    const t = performance.now()
    await a.state.set(`/${id}/n`, i)
    a.repo.get(id)?.flush()
    await until('upload', () => mirroredHeads(a, id))
    out.push(performance.now() - t)
  }
  await a.stop()
  return out
}

/** A document of `keys` keys of 100 bytes made and mirrored by a tab that then closes. */
async function mirroredDoc(mirror: MirrorNode, keys: number) {
  const a = await tab(mirror)
  const id = (await a.repo.create()).id
  const value = 'x'.repeat(90)
  for (let i = 0; i < keys; i++) await a.state.set(`/${id}/k${i}`, `${value}${i}`)
  a.repo.get(id)?.flush()
  await until('the document on the mirror', () => mirroredHeads(a, id))
  const link = { key: a.repo.keys.get(id)!, write: a.repo.keys.writeKey(id)! }
  await a.stop()
  return { id, link, keys }
}

/** A fresh tab opens the link while nobody is online: until every key is there (ms). */
async function linkOffline(
  mirror: MirrorNode,
  d: Awaited<ReturnType<typeof mirroredDoc>>,
): Promise<number> {
  const b = await tab(mirror)
  const t = performance.now()
  await b.repo.setKey(d.id, d.link.key)
  await b.repo.setWriteKey(d.id, d.link.write)
  await b.repo.open(d.id)
  await until('all keys', async () => (await b.state.get(`/${d.id}/k${d.keys - 1}`)) !== undefined)
  const ms = performance.now() - t
  await b.stop()
  return ms
}

/** The W3 document in a space, compacted: what the mirror stores for it, and the bases. */
async function compacted(): Promise<{ stored: number; saved: number; values: number }> {
  return withMirror(async (mirror) => {
    const a = await tab(mirror, new MemoryStorageAdapter(), { envelopes: 1, bytes: 1 })
    const space = await a.spaces!.create('bench')
    const id = await a.spaces!.createDoc(space)
    // mulberry32 with W3's seed (bench/workloads.ts has its own copy: it runs inside the page)
    let seed = 0x2f6b1d3a
    const rnd = (): number => {
      seed = (seed + 0x6d2b79f5) | 0
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296
    }
    const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    let values = 0
    for (let i = 0; i < 10_000; i++) {
      let v = ''
      for (let j = 0; j < 100; j++) v += abc.charAt(Math.floor(rnd() * 64))
      values += v.length
      await a.state.set(`/${id}/k${i}`, v)
    }
    a.repo.get(id)?.flush()
    await until('the document on the mirror', () => mirroredHeads(a, id))
    const store = mirror.services.mirror
    const before = store.stats().store?.bytes ?? 0
    // the next full runs pull the log (its tally), then compact it
    await until('compacted', () => (store.stats().store?.bytes ?? before) < before)
    await new Promise((r) => setTimeout(r, 1500)) // (and nothing after it)
    const stored = store.stats().store?.bytes ?? 0
    const saved = a.repo.get(id)!.save().length
    await a.stop()
    return { stored, saved, values }
  })
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number
}

async function main(): Promise<void> {
  loadAutomergeNode()
  const tabsResults = await withMirror(async (mirror) => {
    const up = await uploadLatency(mirror)
    const small = await mirroredDoc(mirror, 10)
    const big = await mirroredDoc(mirror, 10_000)
    const smallMs: number[] = []
    const bigMs: number[] = []
    for (let i = 0; i < RUNS; i++) {
      smallMs.push(await linkOffline(mirror, small))
      bigMs.push(await linkOffline(mirror, big))
    }
    return { up, smallMs, bigMs }
  })
  const compaction = await compacted()
  const rates: number[] = []
  const ratios: number[] = []
  const disks: number[] = []
  for (let i = 0; i < RUNS; i++) {
    rates.push(await ingest())
    const o = await w2Overhead()
    ratios.push(o.stored / o.plain)
    disks.push(o.disk / o.plain)
  }
  const results = {
    at: new Date().toISOString(),
    uploadP50Ms: Math.round(pct(tabsResults.up, 50)),
    uploadP95Ms: Math.round(pct(tabsResults.up, 95)),
    linkOfflineSmallMs: Math.round(median(tabsResults.smallMs)),
    linkOfflineW3Ms: Math.round(median(tabsResults.bigMs)),
    ingestBundlesPerSecond: Math.round(median(rates)),
    w2StoredOverPlain: Math.round(median(ratios) * 100) / 100,
    w2DiskOverPlain: Math.round(median(disks) * 100) / 100,
    w3CompactedBytes: compaction.stored,
    w3CompactedOverSaved: Math.round((compaction.stored / compaction.saved) * 100) / 100,
    w3CompactedOverValues: Math.round((compaction.stored / compaction.values) * 100) / 100,
  }
  console.log(
    `ingest: ${results.ingestBundlesPerSecond} bundles/s (runs: ${rates.map(Math.round).join(' / ')}; target >= 5000)`,
  )
  console.log(
    `W2 burst, ${PER_ENVELOPE} changes per envelope: envelopes ${results.w2StoredOverPlain}x the changes' bytes, LevelDB files ${results.w2DiskOverPlain}x (target <= 1.3)`,
  )
  console.log(
    `upload, change -> acknowledged by the mirror: p50 ${results.uploadP50Ms} ms, p95 ${results.uploadP95Ms} ms (target p95 <= 1000; the tab uploads once the document is quiet for 250 ms, at most 750 ms after a change)`,
  )
  console.log(
    `link with nobody online -> all there (in-process): small ${results.linkOfflineSmallMs} ms (runs ${tabsResults.smallMs.map(Math.round).join(' / ')}), W3 ${results.linkOfflineW3Ms} ms (runs ${tabsResults.bigMs.map(Math.round).join(' / ')})`,
  )
  console.log(
    `W3 in a space, compacted: the mirror stores ${results.w3CompactedBytes} bytes for the space: ${results.w3CompactedOverSaved}x the document's saved size, ${results.w3CompactedOverValues}x its values (target <= 1.3)`,
  )
  fs.writeFileSync(
    path.join(import.meta.dirname, 'results-mirror.json'),
    JSON.stringify(results, null, 2) + '\n',
  )
}

await main()
