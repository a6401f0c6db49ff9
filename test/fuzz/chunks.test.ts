/**
 * Fuzzing Automerge chunk framing (chunks.ts: what every sync message's changes go through first)
 * and the check of signed changes (repo/governance.ts `checkSignatures`): no change whose bytes
 * or signature were altered is ever attributed to an author.
 */
import { describe, expect, it } from 'vitest'
import { am } from '../../src/core/automerge'
import { bytesToHex, concatBytes, sha256 } from '../../src/core/bytes'
import { splitChunks } from '../../src/core/chunks'
import { didKeyFromPublicKey, identityFromSeed, type Identity } from '../../src/core/identity'
import { checkSignatures, signChange } from '../../src/core/repo/governance'
import { decodeSigRecords, encodeSigRecords } from '../../src/core/repo/sigs'
import type { ChangeSignature } from '../../src/core/sync/messages'
import { fuzz } from './harness'

const ids = [1, 2].map((n) => identityFromSeed(new Uint8Array(32).fill(n), 0)) as Identity[]

/** a document with changes by two actors, and each change's signature by "its" identity */
function history(): { changes: Uint8Array[]; saved: Uint8Array; sigs: ChangeSignature[] } {
  const d = am().create({ actor: 'aa'.repeat(16) })
  d.put('_root', 'title', 'hello')
  d.commit(undefined, 0)
  const list = d.putObject('_root', 'items', [1, 2, 3])
  d.insert(list, 0, 'x'.repeat(300)) // long enough for a compressed chunk
  d.commit(undefined, 0)
  const e = d.fork('bb'.repeat(16))
  e.put('_root', 'by', 'bb')
  e.commit(undefined, 0)
  d.merge(e)
  const changes = d.getChanges([])
  const sigs = d.getChangesMeta([]).map((m, i) => signChange(ids[i % 2] as Identity, m.hash))
  const saved = d.save()
  d.free()
  e.free()
  return { changes, saved, sigs }
}

const { changes, saved, sigs } = history()
const signedBy = new Map(sigs.map((s) => [bytesToHex(s.hash), didKeyFromPublicKey(s.author)]))

describe('fuzz: Automerge chunks', () => {
  it('splits every input into whole chunks covering it, or gives a typed error', async () => {
    const pool = [...changes, saved, concatBytes(changes), concatBytes([saved, ...changes])]
    for (const verify of [true, false]) {
      const report = await fuzz({
        name: `chunks (checksums ${verify ? 'checked' : 'not checked'})`,
        pool,
        run: (input) => splitChunks(input, verify),
        check: (input, out) => {
          if (out.ok) expect(concatBytes(out.value)).toEqual(input)
        },
      })
      expect(report.outcomes.ok).toBeGreaterThan(0)
      expect(report.outcomes.MALFORMED_MESSAGE).toBeGreaterThan(0)
    }
  })
})

describe('fuzz: signed changes', () => {
  it('never attributes an altered change or signature to an author', async () => {
    // an input is: change or document bytes, signature records, and the number of records
    const withSigs = (entry: Uint8Array, s: ChangeSignature[]): Uint8Array =>
      concatBytes([entry, encodeSigRecords(s), Uint8Array.of(s.length)])
    const hashOf = (c: Uint8Array): string => bytesToHex(sha256(c.subarray(8)))
    const pool = [
      ...changes.map((c) =>
        withSigs(
          c,
          sigs.filter((s) => bytesToHex(s.hash) === hashOf(c)),
        ),
      ),
      withSigs(saved, sigs),
    ]
    const report = await fuzz({
      name: 'signed changes',
      pool,
      run: (input) => {
        const n = input.at(-1) ?? 0
        const split = Math.max(0, input.length - 1 - n * 128)
        const records = decodeSigRecords(input.subarray(split, input.length - 1))
        return checkSignatures(
          [input.subarray(0, split)],
          (h) => records.get(h),
          () => false,
        )
      },
      check: (_input, out) => {
        if (!out.ok) return
        for (const c of out.value) expect(signedBy.get(c.hash)).toBe(c.author)
      },
    })
    expect(report.outcomes.ok).toBeGreaterThan(0)
    expect(report.outcomes.BAD_SIGNATURE).toBeGreaterThan(0)
  })
})
