/**
 * Batches to and from the mirror: a change in several envelopes reaches the document once, and
 * what a pull tells of the mirror's log counts only changes whose whole history is there.
 */
import { describe, expect, it } from 'vitest'
import { am } from '../automerge'
import { changeHash } from '../chunks'
import { NO_ROSTER, type EnvelopeHeader, type OpenedEnvelope } from './envelope'
import { fromEnvelopes, mirrorHolds } from './batch'

const header: EnvelopeHeader = {
  version: 2,
  docTag: new Uint8Array(32),
  roster: NO_ROSTER,
  epoch: 0,
  covers: 0,
  uploader: new Uint8Array(32),
  seq: 1,
}
const envelope = (...changes: Uint8Array[]): OpenedEnvelope => ({
  header,
  changes: changes.map((change) => ({ change })),
})

/** b writes x; a, having it, writes y on top: the document has both. */
function twoWriters() {
  const b = am().create({ actor: 'bb'.repeat(16) })
  b.put('_root', 'x', 1)
  b.commit()
  const x = b.getLastLocalChange() as Uint8Array
  const a = am().create({ actor: 'aa'.repeat(16) })
  a.applyChanges([x])
  a.put('_root', 'y', 2)
  a.commit()
  const y = a.getLastLocalChange() as Uint8Array
  return { doc: a, x, y, hx: changeHash(x) as string, hy: changeHash(y) as string }
}

describe('mirror batches', () => {
  it('a change in two envelopes goes to the document once', () => {
    const { x, y, hx, hy } = twoWriters()
    const batch = fromEnvelopes([envelope(x, y), envelope(x), envelope(y, x)])
    expect(batch.message.changes).toHaveLength(2)
    expect(batch.hashes).toEqual([hx, hy])
  })

  it('counts a pulled change as held only with its whole history on the mirror', () => {
    const { doc, x, y, hx, hy } = twoWriters()
    const both = new Set([hx, hy])
    // y uploaded by its author alone: x (someone else's) may not be on the mirror
    expect(mirrorHolds(doc, [], [envelope(y)], both)).toEqual([])
    // with x in the same pull, or already held, y is whole
    expect(mirrorHolds(doc, [], [envelope(y), envelope(x)], both).sort()).toEqual([hx, hy].sort())
    expect(mirrorHolds(doc, [hx], [envelope(y)], both).sort()).toEqual([hx, hy].sort())
    // a change the document refused is not counted
    expect(mirrorHolds(doc, [], [envelope(x, y)], new Set([hy]))).toEqual([])
  })
})
