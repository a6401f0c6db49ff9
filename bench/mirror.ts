/**
 * The mirror's store (`npx tsx bench/mirror.ts`), issue 16's bench rows that need no tabs yet:
 *  - ingest: 5,000 envelopes of one small change each (as a W1-style edit would upload), from 10
 *    uploaders, put concurrently into a fresh store on disk; bundles/s (target ≥ 5,000 on one
 *    core). Sealing them is not timed.
 *  - bytes stored for the W2 burst (5,000 sets of one key, as Automerge changes) uploaded in
 *    batches of 100 changes per envelope, against the changes' own bytes (target ≤ 1.3×).
 *
 * Prints the medians of 5 runs and writes bench/results-mirror.json.
 */
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
  const store = await MirrorStore.open(dir)
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

async function main(): Promise<void> {
  loadAutomergeNode()
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
    ingestBundlesPerSecond: Math.round(median(rates)),
    w2StoredOverPlain: Math.round(median(ratios) * 100) / 100,
    w2DiskOverPlain: Math.round(median(disks) * 100) / 100,
  }
  console.log(
    `ingest: ${results.ingestBundlesPerSecond} bundles/s (runs: ${rates.map(Math.round).join(' / ')}; target >= 5000)`,
  )
  console.log(
    `W2 burst, ${PER_ENVELOPE} changes per envelope: envelopes ${results.w2StoredOverPlain}x the changes' bytes, LevelDB files ${results.w2DiskOverPlain}x (target <= 1.3)`,
  )
  fs.writeFileSync(
    path.join(import.meta.dirname, 'results-mirror.json'),
    JSON.stringify(results, null, 2) + '\n',
  )
}

await main()
