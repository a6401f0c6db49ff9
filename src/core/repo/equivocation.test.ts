import { describe, expect, it } from 'vitest'
import { am } from '../automerge'
import type { IncomingChange } from './governance'
import { changeAt, changeBytesIn, findEquivocation, SeqIndex } from './equivocation'

const ACTOR = 'aa'.repeat(16)

/** A document with `n` changes by ACTOR, and the change a fork makes for seq n + 1. */
function history(n: number) {
  const doc = am().create({ actor: ACTOR })
  for (let i = 0; i < n; i++) {
    doc.put('_root', 'k', i)
    doc.commit()
  }
  const branch = (value: string): IncomingChange & { bytes: Uint8Array } => {
    const fork = doc.fork(ACTOR)
    fork.put('_root', 'k', value)
    const hash = fork.commit()!
    const bytes = fork.getLastLocalChange()!
    const { actor, seq } = am().decodeChange(bytes)
    return { hash, actor, seq, author: 'did:key:x', bytes }
  }
  return { doc, branch }
}

describe('equivocation', () => {
  it('spots a change for a seq the document holds, and two for one seq in a batch', () => {
    const { doc, branch } = history(3)
    const one = branch('one')
    const two = branch('two')
    expect(one.seq).toBe(4)
    expect(two.seq).toBe(4)
    const index = new SeqIndex()
    index.update(doc)
    expect(findEquivocation([one], index, new Map())).toBeUndefined()
    // both in one batch, or one taken earlier in the same flush
    expect(findEquivocation([one, two], index, new Map())).toEqual({
      change: two,
      otherHash: one.hash,
    })
    expect(findEquivocation([two], index, new Map([[`${ACTOR}:4`, one.hash]]))).toEqual({
      change: two,
      otherHash: one.hash,
    })
    // once the document holds one, the other is caught against the index (updated from heads)
    doc.applyChanges([one.bytes])
    index.update(doc)
    expect(findEquivocation([two], index, new Map())).toEqual({ change: two, otherHash: undefined })
    expect(changeAt(doc, ACTOR, 4)).toBe(one.hash)
    expect(changeBytesIn([two.bytes], two.hash)).toEqual(two.bytes)
    expect(changeBytesIn([doc.save()], one.hash)).toEqual(doc.getChangeByHash(one.hash))
    // a change already held, or the next seq, is no equivocation
    const next = history(4).branch('next')
    expect(findEquivocation([{ ...next, seq: 5 }], index, new Map())).toBeUndefined()
  })
})
