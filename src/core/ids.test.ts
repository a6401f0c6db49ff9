import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { fromBase58, toBase58 } from './bytes'
import { generateIdentity } from './identity'
import {
  docBelongsTo,
  docIdFromBytes,
  idKind,
  newDocId,
  newDocIdIn,
  newSpaceId,
  parseDocId,
  spaceIdMatches,
} from './ids'

const FC = { seed: 0x1d5, numRuns: 200 }

describe('bound ids', () => {
  const alice = generateIdentity().id
  const mallory = generateIdentity().id

  it('tells the three forms apart, and each parses and crosses the wire', () => {
    const space = newSpaceId(alice).id
    const doc = newDocIdIn(space)
    expect([idKind(newDocId()), idKind(space), idKind(doc)]).toEqual(['legacy', 'space', 'bound'])
    for (const id of [newDocId(), space, doc]) {
      expect(parseDocId(id).ok).toBe(true)
      const back = docIdFromBytes(fromBase58(id)!)
      expect(back.ok && back.value).toBe(id)
    }
    expect(idKind('not an id')).toBeUndefined()
  })

  it('a space id names its creator and nonce: no other creator or nonce matches', () => {
    const { id, nonce } = newSpaceId(alice)
    expect(spaceIdMatches(id, alice, nonce)).toBe(true)
    expect(spaceIdMatches(id, mallory, nonce)).toBe(false)
    expect(spaceIdMatches(id, alice, newSpaceId(alice).nonce)).toBe(false)
    for (const bad of [undefined, 7, '', 'x', `${nonce}1`])
      expect(spaceIdMatches(id, alice, bad)).toBe(false)
    // a legacy space id binds nobody (first writer wins); a document id is not a space
    expect(spaceIdMatches(newDocId(), mallory, undefined)).toBe(true)
    expect(spaceIdMatches(newDocIdIn(id), alice, nonce)).toBe(false)
  })

  it('a space’s document belongs to that space only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (other) => {
        const space = newSpaceId(alice).id
        const doc = newDocIdIn(space)
        const legacySpace = toBase58(other)
        expect(docBelongsTo(doc, space)).toBe(true)
        expect(docBelongsTo(doc, newSpaceId(alice).id)).toBe(false)
        expect(docBelongsTo(doc, legacySpace)).toBe(false)
        expect(docBelongsTo(newDocIdIn(legacySpace), legacySpace)).toBe(true)
        // legacy documents: only legacy spaces (unchecked); never a space of its own or another
        expect(docBelongsTo(newDocId(), legacySpace)).toBe(true)
        expect(docBelongsTo(newDocId(), space)).toBe(false)
        expect(docBelongsTo(space, legacySpace)).toBe(false)
        expect(docBelongsTo(space, space)).toBe(false)
        expect(docBelongsTo(legacySpace, doc)).toBe(false)
      }),
      FC,
    )
  })
})
