import { describe, expect, it } from 'vitest'
import { am, automergeReady } from '../automerge'
import { newDocId } from '../ids'
import { randomKey } from '../keys/aead'
import { signHead, writeKeyFromPublic, writeKeyFromSecret } from '../keys/write-key'
import type { ChangeSignature } from '../sync/signature-list'
import { writeJudge } from './write-judge'

/** Three changes in a row (c1 ← c2 ← c3), as change chunks, with their hashes. */
async function chain(): Promise<{ bytes: Uint8Array[]; hashes: string[] }> {
  await automergeReady()
  const d = am().create()
  const bytes: Uint8Array[] = []
  for (let i = 1; i <= 3; i++) {
    d.put('_root', `k${i}`, i)
    d.commit()
    bytes.push(d.getLastLocalChange()!.slice())
  }
  const hashes = bytes.map((b) => am().decodeChange(b).hash)
  d.free()
  return { bytes, hashes }
}

describe('writeJudge', () => {
  const id = newDocId()
  const writer = writeKeyFromSecret(id, randomKey())
  const reader = writeKeyFromPublic(writer.pub)
  const gate = { key: () => reader, isWriter: () => false }
  const none = (): undefined => undefined
  const nothingKnown = (): boolean => false

  it("takes changes vouched for by the writer's signature over a later head, and only those", async () => {
    const { bytes, hashes } = await chain()
    const sig = signHead(writer, hashes[2]!)!
    const sigs = (h: string): ChangeSignature | undefined => (h === hashes[2] ? sig : undefined)
    const r = writeJudge(gate).check(bytes, sigs, nothingKnown)
    expect(r.ok && r.value.map((c) => [c.hash, c.vouched === true])).toEqual([
      [hashes[0], true],
      [hashes[1], true],
      [hashes[2], false], // its own signature: the one kept
    ])
    // vouched for c2 does not vouch for c3, which came after it
    const r2 = writeJudge(gate).check(
      bytes,
      (h) => (h === hashes[1] ? sig : undefined),
      nothingKnown,
    )
    expect(r2.ok).toBe(false)
    // nor does a signature by another key, or none at all
    const other = writeKeyFromSecret(id, randomKey())
    const forged = signHead(other, hashes[2]!)!
    for (const s of [forged, { ...sig, author: other.pub }, undefined]) {
      const r3 = writeJudge(gate).check(bytes, () => s, nothingKnown)
      expect(!r3.ok && r3.error.code).toBe('BAD_SIGNATURE')
    }
  })

  it('takes a dependency that comes after its vouched-for dependents (a message Automerge holds)', async () => {
    const { bytes, hashes } = await chain()
    const judge = writeJudge(gate)
    const sig = signHead(writer, hashes[2]!)!
    // c2 and c3 first (c1 was left out: the sender believed we had it), then c1 alone, unsigned
    const first = judge.check(
      bytes.slice(1),
      (h) => (h === hashes[2] ? sig : undefined),
      nothingKnown,
    )
    expect(first.ok).toBe(true)
    const second = judge.check(bytes.slice(0, 1), none, nothingKnown)
    expect(second.ok && second.value.map((c) => c.hash)).toEqual([hashes[0]])
    // a judge that did not see them refuses it
    expect(writeJudge(gate).check(bytes.slice(0, 1), none, nothingKnown).ok).toBe(false)
  })

  it('takes everything while the document has no write key', async () => {
    const { bytes } = await chain()
    const open = writeJudge({ key: () => undefined, isWriter: () => false })
    expect(open.check(bytes, none, nothingKnown)).toEqual({ ok: true, value: [] })
  })
})
