import { describe, expect, it } from 'vitest'
import { bytesToHex, concatBytes, randomBytes } from '../bytes'
import { decodeSigRecords, encodeSigRecords, ReceivedSigs, SigStore } from '../repo/sigs'
import { own, SIG_RECORD_BYTES, SignatureList, type ChangeSignature } from './signature-list'

/** a signature whose fields are filled with `n`, `n + 1` and `n + 2` */
const sigOf = (n: number): ChangeSignature => ({
  hash: new Uint8Array(32).fill(n),
  author: new Uint8Array(32).fill(n + 1),
  signature: new Uint8Array(64).fill(n + 2),
})
const hexOf = (s: ChangeSignature): string => bytesToHex(s.hash)
const sigs0 = sigOf(0)

describe('SignatureList', () => {
  it('holds the records in the order given, as one buffer in the record encoding', () => {
    const sigs = [sigOf(1), sigOf(10), sigOf(20)]
    const list = SignatureList.of(sigs)
    expect(list.length).toBe(3)
    expect(list.bytes).toEqual(encodeSigRecords(sigs))
    expect([...list]).toEqual(sigs)
    expect(list.at(1)).toEqual(sigs[1])
    expect(() => list.at(3)).toThrow(RangeError)
    expect(() => list.at(-1)).toThrow(RangeError)
  })

  it('copies records, leaving out a trailing partial one, and keeps nothing of the input', () => {
    const bytes = concatBytes([encodeSigRecords([sigOf(1), sigOf(5)]), new Uint8Array(100)])
    const list = SignatureList.copyOf(bytes)
    expect(list.length).toBe(2)
    expect(list.bytes.buffer).not.toBe(bytes.buffer)
    bytes.fill(0)
    expect(list.at(0)).toEqual(sigOf(1))
    expect(SignatureList.copyOf(new Uint8Array(SIG_RECORD_BYTES - 1)).length).toBe(0)
  })

  it('copies out of a Node Buffer too (whose slice is a view), at any offset', () => {
    const frame = Buffer.concat([Buffer.from([7]), encodeSigRecords([sigOf(1), sigOf(5)])])
    const list = SignatureList.copyOf(frame.subarray(1))
    expect(list.bytes.buffer).not.toBe(frame.buffer)
    frame.fill(0)
    expect(list.get(hexOf(sigOf(5)))).toEqual(sigOf(5))
  })

  it('finds a signature by change hash; of two for one hash, the later one', () => {
    const later = { ...sigOf(1), signature: new Uint8Array(64).fill(99) }
    const list = SignatureList.of([sigOf(1), sigOf(5), sigOf(10), later])
    expect(list.get(hexOf(sigOf(10)))).toEqual(sigOf(10))
    expect(list.get(hexOf(sigOf(10)).toUpperCase())).toBeUndefined()
    expect(list.get(hexOf(sigOf(5)))).toEqual(sigOf(5))
    expect(list.get(hexOf(sigOf(1)))).toEqual(later)
    expect(list.get(hexOf(sigOf(7)))).toBeUndefined()
    // only lowercase hex of 32 bytes names a change
    expect(list.get('05')).toBeUndefined()
    expect(list.get('zz'.repeat(32))).toBeUndefined()
  })

  it('tells apart hashes that differ in one byte anywhere', () => {
    const base = sigOf(3)
    const sigs = Array.from({ length: 32 }, (_, i) => {
      const hash = base.hash.slice()
      hash[i] = 200
      return { ...base, hash }
    })
    const list = SignatureList.of([base, ...sigs])
    for (const s of [base, ...sigs]) expect(list.get(hexOf(s))?.hash).toEqual(s.hash)
  })

  it('finds each of many records, and no hash it does not hold', () => {
    const sigs = Array.from({ length: 5000 }, (_, i) => {
      const hash = randomBytes(32)
      // some share all but their last byte, some all but their first
      if (i % 3 === 1) hash.set(sigs0.hash.subarray(0, 31))
      if (i % 3 === 2) hash.set(sigs0.hash.subarray(1), 1)
      return { ...sigs0, hash }
    })
    const list = SignatureList.of(sigs)
    for (const s of sigs) expect(list.get(hexOf(s))?.hash).toEqual(s.hash)
    for (let i = 0; i < 1000; i++) expect(list.get(bytesToHex(randomBytes(32)))).toBeUndefined()
  })

  it('refuses to encode fields of the wrong size', () => {
    expect(() => SignatureList.of([{ ...sigOf(1), hash: new Uint8Array(31) }])).toThrow(RangeError)
    expect(() => own({ ...sigOf(1), signature: new Uint8Array(65) })).toThrow(RangeError)
  })
})

describe('signatures kept from a list', () => {
  it('SigStore keeps a copy of each signature, not a view of the list it came in', () => {
    const list = decodeSigRecords(encodeSigRecords([sigOf(1), sigOf(5)]))
    const store = new SigStore()
    expect(store.add(list).length).toBe(2)
    expect(store.add(list)).toEqual([])
    const kept = store.get(hexOf(sigOf(5)))
    expect(kept).toEqual(sigOf(5))
    expect(kept?.hash.buffer).not.toBe(list.bytes.buffer)
    expect(kept?.hash.buffer.byteLength).toBe(SIG_RECORD_BYTES)
  })

  it('ReceivedSigs answers with the latest list that has the hash', () => {
    const first = { ...sigOf(1), author: new Uint8Array(32).fill(50) }
    const received = new ReceivedSigs()
    received.add(SignatureList.of([first, sigOf(5)]))
    received.add(SignatureList.EMPTY)
    const later = new ReceivedSigs()
    later.add(SignatureList.of([sigOf(1)]))
    expect(received.get(hexOf(first))).toEqual(first)
    received.append(later)
    expect(received.get(hexOf(first))).toEqual(sigOf(1))
    expect(received.get(hexOf(sigOf(5)))).toEqual(sigOf(5))
    expect(received.get(hexOf(sigOf(9)))).toBeUndefined()
  })
})
