import { describe, expect, it, vi } from 'vitest'
import { am } from '../automerge'
import { MemoryStorageAdapter } from '../storage/memory'
import {
  changeAt,
  changeBytesIn,
  duplicateSeq,
  EquivocationLog,
  MAX_RECORDS_PER_DOC,
} from './equivocation'

const ACTOR = 'aa'.repeat(16)
const DOC = '4JnWqUo7NuwYLBNNvQiCYw'

/** A document with `n` changes by ACTOR, and two different changes for seq n + 1. */
function branches(n: number) {
  const doc = am().create({ actor: ACTOR })
  for (let i = 0; i < n; i++) {
    doc.put('_root', 'k', i)
    doc.commit()
  }
  const branch = (value: string) => {
    const fork = doc.fork(ACTOR)
    fork.put('_root', 'k', value)
    const hash = fork.commit()!
    return { hash, bytes: fork.getLastLocalChange()! }
  }
  return { doc, one: branch('one'), two: branch('two') }
}

describe('equivocation', () => {
  it("reads Automerge's refusal of a second change for a seq, and finds both changes", () => {
    const { doc, one, two } = branches(3)
    expect(am().decodeChange(one.bytes)).toMatchObject({ actor: ACTOR, seq: 4 })
    expect(am().decodeChange(two.bytes)).toMatchObject({ actor: ACTOR, seq: 4 })
    doc.applyChanges([one.bytes])
    let error: unknown
    try {
      doc.applyChanges([two.bytes])
    } catch (e) {
      error = e
    }
    expect(duplicateSeq(error)).toEqual({ actor: ACTOR, seq: 4 })
    expect(duplicateSeq(new Error('change is malformed'))).toBeUndefined()
    expect(duplicateSeq(undefined)).toBeUndefined()
    expect(changeAt(doc, ACTOR, 4)).toBe(one.hash)
    expect(changeAt(doc, ACTOR, 5)).toBeUndefined()
    expect(changeBytesIn([two.bytes], two.hash)).toEqual(two.bytes)
    expect(changeBytesIn([doc.save()], one.hash)).toEqual(doc.getChangeByHash(one.hash))
    expect(changeBytesIn([new Uint8Array([1, 2, 3])], one.hash)).toBeUndefined()
  })

  it('keeps one record per (document, actor, seq), at most MAX_RECORDS_PER_DOC, across restarts', async () => {
    const storage = new MemoryStorageAdapter()
    const log = new EquivocationLog(storage)
    const change = { hash: 'h', bytes: 'b', author: 'did:key:z', signature: 's' }
    const at = (seq: number) => ({
      docId: DOC,
      actor: ACTOR,
      seq,
      changes: [change, { ...change, hash: 'h2' }] as [typeof change, typeof change],
      from: 'peer',
      at: seq,
    })
    for (let seq = 1; seq <= MAX_RECORDS_PER_DOC + 5; seq++) log.add(at(seq))
    log.add({ ...at(1), from: 'other' })
    const list = await log.list(DOC)
    expect(list).toHaveLength(MAX_RECORDS_PER_DOC)
    expect(list[0]).toEqual(at(1))
    // what another log over the same storage reads, once the writes have landed
    await vi.waitFor(async () => expect(await new EquivocationLog(storage).list(DOC)).toEqual(list))
    expect(await new EquivocationLog(storage).list('other')).toEqual([])
  })
})
