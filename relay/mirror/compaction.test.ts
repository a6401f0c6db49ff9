import { describe, expect, it } from 'vitest'
import { randomBytes } from '../../src/core/bytes'
import type { Identity } from '../../src/core/identity'
import { sealEnvelope } from '../../src/core/mirror/envelope'
import type { MirrorStore, MirrorStoreOptions } from './store'
import { newMirrorDoc, type MirrorTestDoc } from '../../test/mirror-doc'
import {
  ann,
  bob,
  cat,
  code,
  eve,
  must,
  newSpace,
  roster,
  seal,
  tempStores,
  type TestSpace as Space,
} from './test-spaces'

const { tmp, openStore } = tempStores('orrery-compaction-')

/** a snapshot up to index `covers`: the store sees only ciphertext, so any chunk will do */
function snapshot(
  uploader: Identity,
  seq: number,
  covers: number,
  doc: MirrorTestDoc,
  id?: Uint8Array,
): Uint8Array {
  const { docId, readKey } = doc
  return sealEnvelope({
    docId,
    readKey,
    roster: id,
    epoch: 0,
    uploader,
    seq,
    changes: [{ change: randomBytes(40) }],
    snapshot: { covers, signatures: [], heads: [] },
  })
}

/** a store holding `s`'s roster */
async function withRoster(s: Space, dir = tmp(), options: MirrorStoreOptions = {}) {
  const store = await openStore(dir, options)
  must(await store.rosters.put(roster(s, 1)))
  return store
}

/** bob's envelopes 1..n in `s`'s log, as stored */
async function fill(store: MirrorStore, s: Space, n: number): Promise<Uint8Array[]> {
  const envs: Uint8Array[] = []
  for (let seq = 1; seq <= n; seq++) {
    envs.push(seal(bob, seq, s.doc, s.id))
    expect(must(await store.put(envs.at(-1) as Uint8Array)).index).toBe(seq)
  }
  return envs
}

const log = (store: MirrorStore, s: Space) => store.since(s.doc.tag, 0, 1000, s.id)
const sum = (envs: Uint8Array[]): number => envs.reduce((n, e) => n + e.length, 0)

/** what a refused put must leave as it was */
async function state(store: MirrorStore, s: Space) {
  return { stats: store.stats(), log: await log(store, s) }
}

describe('mirror compaction', () => {
  it("replaces a log's envelopes up to `covers`, in one batch that survives a restart", async () => {
    const s = newSpace()
    const dir = tmp()
    let store = await withRoster(s, dir)
    const envs = await fill(store, s, 5)
    expect(store.stats()).toEqual({ envelopes: 5, bytes: sum(envs), pending: 0 })
    const snap = snapshot(bob, 6, 3, s.doc, s.id)
    expect(must(await store.put(snap))).toEqual({ index: 6, duplicate: false })

    const expected = [
      { index: 4, envelope: envs[3] },
      { index: 5, envelope: envs[4] },
      { index: 6, envelope: snap },
    ]
    const after = { envelopes: 3, bytes: sum(envs) - sum(envs.slice(0, 3)) + snap.length }
    expect(await log(store, s)).toEqual(expected)
    expect(store.stats()).toEqual({ ...after, pending: 0 })
    // a reader that had read up to 1 gets what is left after it
    expect((await store.since(s.doc.tag, 1, 1000, s.id)).map((r) => r.index)).toEqual([4, 5, 6])

    await store.close()
    store = await openStore(dir)
    expect(await log(store, s)).toEqual(expected)
    expect(store.stats()).toEqual({ ...after, pending: 0 })
    // the log's numbering goes on
    expect(must(await store.put(seal(cat, 1, s.doc, s.id))).index).toBe(7)
  })

  it("frees the space's quota", async () => {
    const s = newSpace()
    const size = seal(bob, 1, s.doc, s.id).length
    const dir = tmp()
    let store = await withRoster(s, dir, { maxBytesPerSpace: 3 * size + size / 2 })
    await fill(store, s, 3)
    const late = seal(cat, 1, s.doc, s.id)
    expect(code(await store.put(late))).toBe('STORAGE_FULL')
    must(await store.put(snapshot(bob, 4, 2, s.doc, s.id)))
    expect(must(await store.put(late)).index).toBe(5)
    // the freed quota was written too
    await store.close()
    store = await openStore(dir, { maxBytesPerSpace: 3 * size + size / 2 })
    expect(code(await store.put(seal(ann, 1, s.doc, s.id)))).toBe('STORAGE_FULL')
    must(await store.put(snapshot(ann, 1, 5, s.doc, s.id)))
    must(await store.put(seal(ann, 2, s.doc, s.id)))
  })

  it('takes snapshots from writers and admins of a space only, each covering more', async () => {
    const s = newSpace()
    const store = await withRoster(s, undefined, { openLogs: true })
    // a document of no space is never compacted
    const free = newMirrorDoc()
    for (const seq of [1, 2]) must(await store.put(seal(bob, seq, free)))
    const freeLog = await store.since(free.tag, 0)
    const freeStats = store.stats()
    expect(code(await store.put(snapshot(bob, 3, 1, free)))).toBe('NOT_ALLOWED')
    expect(await store.since(free.tag, 0)).toEqual(freeLog)
    expect(store.stats()).toEqual(freeStats)

    await fill(store, s, 4)
    let before = await state(store, s)
    const refused: [Uint8Array, string][] = [
      [snapshot(cat, 1, 2, s.doc, s.id), 'NOT_ALLOWED'],
      [snapshot(eve, 1, 2, s.doc, s.id), 'NOT_A_MEMBER'],
      [snapshot(bob, 5, 5, s.doc, s.id), 'PROTOCOL_VIOLATION'], // the next index
      [snapshot(bob, 5, 2 ** 40, s.doc, s.id), 'PROTOCOL_VIOLATION'],
    ]
    for (const [bytes, expected] of refused) {
      expect(code(await store.put(bytes))).toBe(expected)
      expect(await state(store, s)).toEqual(before)
    }
    // the refusals took no seq: bob's 5 is still free
    const first = snapshot(bob, 5, 2, s.doc, s.id)
    expect(must(await store.put(first)).index).toBe(5)
    expect((await log(store, s)).map((r) => r.index)).toEqual([3, 4, 5])

    before = await state(store, s)
    for (const covers of [1, 2]) {
      expect(code(await store.put(snapshot(ann, 1, covers, s.doc, s.id)))).toBe(
        'PROTOCOL_VIOLATION',
      )
      expect(await state(store, s)).toEqual(before)
    }
    // an admin's snapshot covering the first one replaces it too
    const second = snapshot(ann, 1, 5, s.doc, s.id)
    expect(must(await store.put(second)).index).toBe(6)
    expect(await log(store, s)).toEqual([{ index: 6, envelope: second }])
    // what is left: it, and the two envelopes of the document of no space
    const freeBytes = sum(freeLog.map((r) => r.envelope))
    expect(store.stats()).toEqual({
      envelopes: 3,
      bytes: second.length + freeBytes,
      pending: 0,
    })
  })

  it('answers the retry of an envelope it compacted away, and stores nothing', async () => {
    const s = newSpace()
    const dir = tmp()
    let store = await withRoster(s, dir)
    const envs = await fill(store, s, 3)
    must(await store.put(snapshot(bob, 4, 2, s.doc, s.id)))
    const before = await state(store, s)
    const check = async (): Promise<void> => {
      for (const bytes of envs.slice(0, 2)) {
        const r = await store.put(bytes)
        if (r.ok) expect(r.value.duplicate).toBe(true)
        expect(await state(store, s)).toEqual(before)
      }
      // one the snapshot did not cover is a duplicate still
      expect(must(await store.put(envs[2] as Uint8Array))).toEqual({ index: 3, duplicate: true })
    }
    await check()
    // and with nothing cached
    await store.close()
    store = await openStore(dir)
    await check()
  })
})
