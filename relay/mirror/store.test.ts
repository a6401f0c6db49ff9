import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { OrreryError, Result } from '../../src/core/errors'
import { generateIdentity, sign, type Identity } from '../../src/core/identity'
import { parseEnvelope, sealEnvelope } from '../../src/core/mirror/envelope'
import { MirrorStore, type MirrorStoreOptions, type PutResult } from './store'
import { newMirrorDoc, type MirrorTestDoc } from '../../test/mirror-doc'
import { tempStores } from './test-spaces'

// (most cases here use logs of no space, which a store takes only when told to)
const { tmp, openStore } = tempStores('orrery-mirror-', { openLogs: true })
const children: ChildProcess[] = []
// (registered after tempStores': runs before it, so no crash writer holds a directory removed)
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL') // a crash writer left by a failed test
})
async function reopen(store: MirrorStore, dir: string, options: MirrorStoreOptions = {}) {
  await store.close()
  return openStore(dir, options)
}

const alice = generateIdentity()
const bob = generateIdentity()
const doc = newMirrorDoc()

/** An envelope of `size` change bytes (the same size for every seq below 128). */
function seal(
  uploader: Identity,
  seq: number,
  d: MirrorTestDoc = doc,
  size = 100,
  fill = 1,
): Uint8Array {
  const changes = [{ change: new Uint8Array(size).fill(fill) }]
  return sealEnvelope({ docId: d.docId, readKey: d.readKey, epoch: 0, uploader, seq, changes })
}

function value(r: Result<PutResult, OrreryError>): PutResult {
  if (!r.ok) throw r.error
  return r.value
}
const refused = (r: Result<PutResult, OrreryError>): string => (r.ok ? 'ok' : r.error.code)

/** What a refusal must leave unchanged. */
async function snapshot(store: MirrorStore, ...docs: MirrorTestDoc[]) {
  const rows = await Promise.all(docs.map((d) => store.since(d.tag, 0)))
  return { stats: store.stats(), rows: rows.map((r) => r.map((x) => [x.index, x.envelope])) }
}

describe('MirrorStore', () => {
  it('accepts valid envelopes, numbers them 1..n and serves them since N', async () => {
    const store = await openStore()
    const envs = [seal(alice, 1), seal(bob, 1), seal(alice, 2), seal(bob, 5), seal(alice, 3)]
    const results = []
    for (const e of envs) results.push(value(await store.put(e)))
    expect(results).toEqual([1, 2, 3, 4, 5].map((index) => ({ index, duplicate: false })))
    const all = await store.since(doc.tag, 0)
    expect(all.map((r) => r.index)).toEqual([1, 2, 3, 4, 5])
    expect(all.map((r) => r.envelope)).toEqual(envs)
    expect((await store.since(doc.tag, 2)).map((r) => r.index)).toEqual([3, 4, 5])
    expect((await store.since(doc.tag, 1, 2)).map((r) => r.index)).toEqual([2, 3])
    expect(await store.since(doc.tag, 5)).toEqual([])
    expect(await store.since(doc.tag, 0, 0)).toEqual([])
    expect(await store.since(newMirrorDoc().tag, 0)).toEqual([])
    const bytes = envs.reduce((n, e) => n + e.length, 0)
    expect(store.stats()).toEqual({ envelopes: 5, bytes, pending: 0 })
    // another document numbers its own envelopes from 1
    expect(value(await store.put(seal(alice, 1, newMirrorDoc())))).toEqual({
      index: 1,
      duplicate: false,
    })
  })

  it('keeps indexes, replay state and totals across close and reopen', async () => {
    const dir = tmp()
    let store = await openStore(dir)
    const envs = [seal(alice, 1), seal(alice, 2), seal(bob, 1)]
    for (const e of envs) value(await store.put(e))
    const before = store.stats()
    store = await reopen(store, dir)
    expect(store.stats()).toEqual(before)
    expect(value(await store.put(seal(alice, 3)))).toEqual({ index: 4, duplicate: false })
    expect(refused(await store.put(seal(alice, 2, doc, 100, 9)))).toBe('PROTOCOL_VIOLATION')
    expect(refused(await store.put(seal(bob, 1, doc, 100, 9)))).toBe('PROTOCOL_VIOLATION')
    expect(value(await store.put(envs[1] as Uint8Array))).toEqual({ index: 2, duplicate: true })
    expect((await store.since(doc.tag, 0)).map((r) => r.index)).toEqual([1, 2, 3, 4])
  })

  it('refuses forged signatures and stores nothing', async () => {
    const store = await openStore()
    value(await store.put(seal(alice, 1)))
    const before = await snapshot(store, doc)
    const flipped = seal(alice, 2)
    flipped.set([(flipped.at(-1) as number) ^ 1], flipped.length - 1)
    // a header naming alice, signed by bob
    const byBob = seal(alice, 2)
    const parsed = parseEnvelope(byBob)
    if (!parsed.ok) throw parsed.error
    byBob.set(sign(bob, parsed.value.signed), byBob.length - 64)
    // a body changed after signing
    const body = seal(alice, 2)
    body.set([(body.at(-80) as number) ^ 1], body.length - 80)
    for (const e of [flipped, byBob, body]) {
      const r = await store.put(e)
      expect(r.ok ? undefined : [r.error.name, r.error.code]).toEqual([
        'IdentityError',
        'BAD_SIGNATURE',
      ])
    }
    expect(await snapshot(store, doc)).toEqual(before)
    // the genuine seq 2 is still welcome: the forgeries changed no replay state
    expect(value(await store.put(seal(alice, 2)))).toEqual({ index: 2, duplicate: false })
  })

  it('refuses malformed bytes and stores nothing', async () => {
    const store = await openStore()
    const good = seal(alice, 1)
    const version3 = good.slice()
    version3[0] = 3
    const trailing = new Uint8Array(good.length + 1)
    trailing.set(good)
    const zeros = new Uint8Array(300)
    zeros[0] = 2 // version 2, then seq 0
    const cases: [Uint8Array, string][] = [
      [new Uint8Array(0), 'MALFORMED_MESSAGE'],
      [zeros, 'MALFORMED_MESSAGE'],
      [good.subarray(0, good.length - 1), 'MALFORMED_MESSAGE'],
      [trailing, 'MALFORMED_MESSAGE'],
      [version3, 'UNSUPPORTED_VERSION'],
      ['not bytes' as unknown as Uint8Array, 'MALFORMED_MESSAGE'],
    ]
    for (const [bytes, code] of cases) expect(refused(await store.put(bytes))).toBe(code)
    expect(await snapshot(store, doc)).toEqual({
      stats: { envelopes: 0, bytes: 0, pending: 0 },
      rows: [[]],
    })
  })

  it('refuses replayed sequence numbers and answers an identical retry as a duplicate', async () => {
    const store = await openStore()
    const envs = [seal(alice, 1), seal(alice, 2), seal(alice, 3)]
    for (const e of envs) value(await store.put(e))
    const before = await snapshot(store, doc)
    const lower = await store.put(seal(alice, 2, doc, 100, 7))
    expect(lower.ok ? undefined : [lower.error.name, lower.error.code]).toEqual([
      'ProtocolError',
      'PROTOCOL_VIOLATION',
    ])
    expect(lower.ok ? '' : lower.error.message).toMatch(/replayed sequence number 2/)
    expect(refused(await store.put(seal(alice, 3, doc, 100, 7)))).toBe('PROTOCOL_VIOLATION')
    expect(value(await store.put(envs[0] as Uint8Array))).toEqual({ index: 1, duplicate: true })
    expect(value(await store.put(envs[2] as Uint8Array))).toEqual({ index: 3, duplicate: true })
    expect(await snapshot(store, doc)).toEqual(before)
    // gaps are allowed upwards; a seq skipped over cannot be filled in later
    expect(value(await store.put(seal(alice, 10)))).toEqual({ index: 4, duplicate: false })
    expect(refused(await store.put(seal(alice, 5)))).toBe('PROTOCOL_VIOLATION')
  })

  it('decides a batch against its own earlier puts', async () => {
    const store = await openStore()
    const one = seal(alice, 1)
    const results = await Promise.all(
      [one, one, seal(alice, 1, doc, 100, 5), seal(alice, 3), seal(alice, 2), seal(bob, 1)].map(
        (e) => store.put(e),
      ),
    )
    expect(results.map((r) => (r.ok ? r.value : r.error.code))).toEqual([
      { index: 1, duplicate: false },
      { index: 1, duplicate: true },
      'PROTOCOL_VIOLATION',
      { index: 2, duplicate: false },
      'PROTOCOL_VIOLATION',
      { index: 3, duplicate: false },
    ])
    expect(store.stats().envelopes).toBe(3)
  })

  it('refuses envelopes over the per-document quota and stores nothing', async () => {
    const size = seal(alice, 1).length
    const store = await openStore(tmp(), { maxBytesPerSpace: 2 * size + size / 2 })
    value(await store.put(seal(alice, 1)))
    value(await store.put(seal(bob, 1)))
    const before = await snapshot(store, doc)
    for (const e of [seal(alice, 2), seal(bob, 2), seal(generateIdentity(), 1)]) {
      const r = await store.put(e)
      expect(r.ok ? undefined : [r.error.name, r.error.code]).toEqual([
        'StorageError',
        'STORAGE_FULL',
      ])
    }
    expect(await snapshot(store, doc)).toEqual(before)
    const other = newMirrorDoc()
    expect(value(await store.put(seal(alice, 2, other)))).toEqual({ index: 1, duplicate: false })
  })

  it('refuses envelopes over the per-uploader daily quota, and starts again the next day', async () => {
    const dir = tmp()
    const size = seal(alice, 1).length
    let now = Date.UTC(2025, 0, 1, 23)
    const options = { maxBytesPerUploaderPerDay: 2 * size + size / 2, now: () => now }
    let store = await openStore(dir, options)
    const [d1, d2, d3] = [newMirrorDoc(), newMirrorDoc(), newMirrorDoc()]
    value(await store.put(seal(alice, 1, d1)))
    value(await store.put(seal(alice, 1, d2)))
    const before = await snapshot(store, d1, d2, d3)
    expect(refused(await store.put(seal(alice, 1, d3)))).toBe('STORAGE_FULL')
    expect(await snapshot(store, d1, d2, d3)).toEqual(before)
    // the day's count survives a restart; other uploaders have their own
    store = await reopen(store, dir, options)
    expect(refused(await store.put(seal(alice, 2, d1)))).toBe('STORAGE_FULL')
    expect(value(await store.put(seal(bob, 1, d3)))).toEqual({ index: 1, duplicate: false })
    now += 2 * 60 * 60 * 1000 // 01:00 the next day (UTC)
    expect(value(await store.put(seal(alice, 1, d3)))).toEqual({ index: 2, duplicate: false })
  })

  it('fails every put of a batch that cannot be written, stores none, and recovers', async () => {
    const store = await openStore()
    value(await store.put(seal(alice, 1)))
    const before = await snapshot(store, doc)
    const db = (store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db
    vi.spyOn(db, 'batch').mockRejectedValueOnce(new Error('disk gone'))
    const envs = [seal(alice, 2), seal(bob, 1), seal(alice, 3)]
    const results = await Promise.all(envs.map((e) => store.put(e)))
    expect(results.map(refused)).toEqual(['STORAGE_FAILED', 'STORAGE_FAILED', 'STORAGE_FAILED'])
    expect(await snapshot(store, doc)).toEqual(before)
    // the caches did not move: the same envelopes are new, not replays or duplicates
    const again = await Promise.all(envs.map((e) => store.put(e)))
    expect(again.map(value)).toEqual([2, 3, 4].map((index) => ({ index, duplicate: false })))
  })

  it('numbers 200 concurrent puts 1..200 in one batch, each uploader in seq order', async () => {
    const store = await openStore()
    const db = (store as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db
    const batches = vi.spyOn(db, 'batch')
    const uploaders = [alice, bob, generateIdentity(), generateIdentity()]
    const envs: Uint8Array[] = []
    for (let seq = 1; seq <= 50; seq++)
      for (const u of uploaders) envs.push(seal(u, seq, doc, 10 + seq))
    const results = (await Promise.all(envs.map((e) => store.put(e)))).map(value)
    expect(results.every((r) => !r.duplicate)).toBe(true)
    expect(results.map((r) => r.index).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 200 }, (_, i) => i + 1),
    )
    expect(batches).toHaveBeenCalledTimes(1) // group commit: one synced write for all
    expect(batches).toHaveBeenCalledWith(expect.any(Array), { sync: true })
    const stored = await store.since(doc.tag, 0)
    expect(stored.map((s) => s.index)).toEqual(results.map((r) => r.index).sort((a, b) => a - b))
    const lastSeq = new Map<string, number>()
    for (const { envelope } of stored) {
      const p = parseEnvelope(envelope)
      if (!p.ok) throw p.error
      const who = Buffer.from(p.value.header.uploader).toString('hex')
      expect(p.value.header.seq).toBeGreaterThan(lastSeq.get(who) ?? 0)
      lastSeq.set(who, p.value.header.seq)
    }
    expect([...lastSeq.values()]).toEqual([50, 50, 50, 50])
  })

  it('keeps every acknowledged envelope when the writer is killed (SIGKILL) mid-stream', async () => {
    // killed from here, at whatever point its puts and batches are when the signal lands
    await crashAndCheck(tmp(), [], (child, acked) => {
      if (acked >= 200) child.kill('SIGKILL')
    })
  }, 120_000)

  it('keeps the envelope acknowledged last when the writer kills itself right after it', async () => {
    // the writer kills itself in the very callback that prints its 200th acknowledgement: an
    // acknowledgement given before its batch reached the disk is lost every time, not by luck
    await crashAndCheck(tmp(), ['200'], () => {})
  }, 120_000)

  it('prints its throughput for 5,000 concurrent puts', async () => {
    const store = await openStore()
    const uploaders = Array.from({ length: 10 }, () => generateIdentity())
    const envs: Uint8Array[] = []
    for (let seq = 1; seq <= 500; seq++)
      for (const u of uploaders) envs.push(seal(u, seq, doc, 200))
    const start = performance.now()
    const results = await Promise.all(envs.map((e) => store.put(e)))
    const seconds = (performance.now() - start) / 1000
    expect(results.every((r) => r.ok)).toBe(true)
    console.log(
      `mirror store: ${envs.length} puts (${envs[0]?.length} bytes each) in ${seconds.toFixed(2)} s: ${Math.round(envs.length / seconds)} bundles/s`,
    )
  }, 60_000)
})

/**
 * Runs crash-writer.ts on `dir` until it dies of SIGKILL (`onAcks` may send it), then checks that
 * every envelope it acknowledged is stored whole, and that the store is consistent.
 */
async function crashAndCheck(
  dir: string,
  args: string[],
  onAcks: (child: ChildProcess, acked: number) => void,
): Promise<void> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'relay/mirror/crash-writer.ts', dir, ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  children.push(child)
  let out = ''
  let errors = ''
  child.stderr.on('data', (d: Buffer) => (errors += d.toString()))
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.once('exit', (_code, signal) => resolve(signal)),
  )
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString()
    onAcks(child, out.split('\n').length - 2) // less the tag line and the unfinished one
  })
  expect(await exited).toBe('SIGKILL')
  expect(errors).toBe('')
  const lines = out.slice(0, out.lastIndexOf('\n')).split('\n') // a cut last line is dropped
  const tag = Buffer.from((lines.shift() as string).replace(/^tag:/, ''), 'hex')
  const acked = lines.map((l) => l.split(':').map(Number) as [number, number, number])
  expect(acked.length).toBeGreaterThanOrEqual(200)

  const store = await openStore(dir)
  const stored = new Map<number, Uint8Array>()
  for (let after = 0; ;) {
    const page = await store.since(tag, after)
    if (page.length === 0) break
    for (const { index, envelope } of page) stored.set(index, envelope)
    after = (page[page.length - 1] as { index: number }).index
  }
  for (const [index, seq, length] of acked) {
    const envelope = stored.get(index)
    expect(envelope?.length, `index ${index}`).toBe(length)
    const p = parseEnvelope(envelope as Uint8Array)
    expect(p.ok && p.value.header.seq).toBe(seq)
  }
  // what was stored is whole: indexes 1..n with no hole, and the totals agree
  expect([...stored.keys()]).toEqual(Array.from({ length: stored.size }, (_, i) => i + 1))
  expect(store.stats().envelopes).toBe(stored.size)
  expect(store.stats().bytes).toBe([...stored.values()].reduce((n, e) => n + e.length, 0))
}
