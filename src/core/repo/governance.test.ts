import { describe, expect, it } from 'vitest'
import { deflateRawSync } from 'node:zlib'
import { am } from '../automerge'
import { bytesToHex, sha256 } from '../bytes'
import { generateIdentity } from '../identity'
import type { ChangeSignature } from '../sync/messages'
import { checkSignatures, signaturesFor, signChange } from './governance'

const writer = generateIdentity()

function oneChange(): { change: Uint8Array; hash: string } {
  const d = am().create()
  d.put('_root', 'k', 'v'.repeat(500))
  const hash = d.commit()!
  const change = d.getLastLocalChange()!
  d.free()
  return { change, hash }
}

/** The change as a compressed chunk (type 2), the way Automerge compresses one. */
function compressed(change: Uint8Array): Uint8Array {
  let at = 9
  while ((change[at] as number) & 0x80) at++
  const data = deflateRawSync(change.subarray(at + 1))
  const len: number[] = []
  for (let n = data.length; ; n = Math.floor(n / 0x80)) {
    if (n < 0x80) {
      len.push(n)
      break
    }
    len.push((n & 0x7f) | 0x80)
  }
  return new Uint8Array([...change.subarray(0, 8), 2, ...len, ...data])
}

describe('checkSignatures', () => {
  it('binds a signature to the change hash of an uncompressed change chunk', () => {
    const { change, hash } = oneChange()
    const sig = signChange(writer, hash)
    const r = checkSignatures(
      [change],
      (h) => (h === hash ? sig : undefined),
      () => false,
    )
    expect(r.ok && r.value.map((c) => c.hash)).toEqual([hash])
  })

  it('refuses a compressed change chunk, whatever hash its signature names', () => {
    const { change, hash } = oneChange()
    const packed = compressed(change)
    expect(am().decodeChange(packed).hash).toBe(hash) // Automerge takes it as the same change
    const wrong = bytesToHex(sha256(packed.subarray(8))) // what used to be looked up
    const sigs = new Map<string, ChangeSignature>([
      [hash, signChange(writer, hash)],
      [wrong, signChange(writer, wrong)],
    ])
    const r = checkSignatures(
      [packed],
      (h) => sigs.get(h),
      () => false,
    )
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('MALFORMED_MESSAGE')
  })
})

describe('signaturesFor', () => {
  it('finds the signature of each change in an outgoing sync message', () => {
    const { change, hash } = oneChange()
    const sig = signChange(writer, hash)
    const message = am().encodeSyncMessage({ heads: [], need: [], have: [], changes: [change] })
    const found = signaturesFor(
      message,
      (h) => (h === hash ? sig : undefined),
      () => [],
    )
    expect(found).toEqual([sig])
  })
})
