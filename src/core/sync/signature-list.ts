/**
 * Change signatures as one block of 128-byte records (hash 32, author key 32, signature 64): the
 * form they take inside a SYNC frame, on disk and between tabs (repo/sigs.ts). A SYNC may carry
 * 65,536 of them; decoding each into three small Uint8Arrays cost 68 MiB and a quarter of a second
 * of CPU, one buffer is one 8 MiB copy. Entries are read by index, by iteration or by change hash.
 */
import { hexToBytes } from '../bytes'

export interface ChangeSignature {
  /** the Automerge change hash (32 bytes) */
  hash: Uint8Array
  /** the author's Ed25519 public key */
  author: Uint8Array
  signature: Uint8Array
}

const HASH_BYTES = 32
const AUTHOR_BYTES = 32
const SIGNATURE_BYTES = 64
/** hash (32) + author key (32) + signature (64) */
export const SIG_RECORD_BYTES = HASH_BYTES + AUTHOR_BYTES + SIGNATURE_BYTES

export class SignatureList implements Iterable<ChangeSignature> {
  static readonly EMPTY = new SignatureList(new Uint8Array(0))

  /** records by change hash; built on the first lookup by hash */
  private index: HashIndex | undefined

  /** `records` is owned by the list: never a view of a buffer someone else keeps (a frame) */
  private constructor(private readonly records: Uint8Array) {}

  /** A copy of whole records (a trailing partial record is left out): the list never pins `bytes`. */
  static copyOf(bytes: Uint8Array): SignatureList {
    const whole = bytes.length - (bytes.length % SIG_RECORD_BYTES)
    if (whole === 0) return SignatureList.EMPTY
    // not `bytes.slice`: on a Node Buffer (frames are, in Node) that is a view, not a copy
    const records = new Uint8Array(whole)
    records.set(bytes.subarray(0, whole))
    return new SignatureList(records)
  }

  /** Signatures with fields of the right sizes, as records (throws otherwise: a caller's bug). */
  static of(sigs: readonly ChangeSignature[]): SignatureList {
    if (sigs.length === 0) return SignatureList.EMPTY
    const records = new Uint8Array(sigs.length * SIG_RECORD_BYTES)
    sigs.forEach((s, i) => writeRecord(records, i * SIG_RECORD_BYTES, s))
    return new SignatureList(records)
  }

  get length(): number {
    return this.records.length / SIG_RECORD_BYTES
  }

  /** The records, as sent and stored (read only: the list's own buffer). */
  get bytes(): Uint8Array {
    return this.records
  }

  /** Entry `i`, its fields views of this list's buffer (copy what outlives the list: `own`). */
  at(i: number): ChangeSignature {
    if (!Number.isInteger(i) || i < 0 || i >= this.length)
      throw new RangeError(`no signature ${i} of ${this.length}`)
    return view(this.records, i * SIG_RECORD_BYTES)
  }

  /**
   * The signature of a change (hash in lowercase hex, as Automerge names changes); of two records
   * for one hash, the later one, as a map filled in order would answer. The index is built on
   * the first lookup (a governed document's checks), not when a frame is decoded.
   */
  get(hashHex: string): ChangeSignature | undefined {
    if (!HASH_HEX.test(hashHex)) return undefined
    const { words, heads, next, mask } = (this.index ??= buildIndex(this.records))
    const query = new Uint16Array(hexToBytes(hashHex).buffer)
    // a bucket's chain runs from its latest record to its earliest
    let i = (heads[bucketOf(query, 0) & mask] as number) - 1
    while (i >= 0) {
      if (sameHash(words, i * RECORD_WORDS, query)) return this.at(i)
      i = (next[i] as number) - 1
    }
    return undefined
  }

  *[Symbol.iterator](): Iterator<ChangeSignature> {
    for (let i = 0; i < this.length; i++) yield this.at(i)
  }
}

/** A copy of one signature in a 128-byte buffer of its own: what is kept must not pin a list. */
export function own(s: ChangeSignature): ChangeSignature {
  const record = new Uint8Array(SIG_RECORD_BYTES)
  writeRecord(record, 0, s)
  return view(record, 0)
}

const HASH_HEX = /^[0-9a-f]{64}$/

// ---- the index by change hash ------------------------------------------------------------------
//
// A Map keyed by strings cost 8.7 MiB and was slower for 65,536 records (a string and an entry
// each). Records are chained in buckets instead, by a hash the sender cannot aim at one bucket
// (the change hashes in a frame are the sender's choice): h(x) = (Σ a_k·x_k mod p) mod buckets
// over the 16 words of the hash with random a_k, a universal family (Carter and Wegman), so any
// two different hashes share a bucket with probability about 2/buckets whatever they are.

const HASH_WORDS = HASH_BYTES / 2
const RECORD_WORDS = SIG_RECORD_BYTES / 2
/** 2^31 − 1, a prime: a_k·x_k < 2^47 and their sum < 2^51, exact in a double */
const PRIME = 2147483647
const COEFFICIENTS = Array.from(
  crypto.getRandomValues(new Uint32Array(HASH_WORDS)),
  (a) => a % PRIME,
)

interface HashIndex {
  /** the records as 16-bit words */
  words: Uint16Array
  /** bucket → its latest record's index + 1 (0: empty) */
  heads: Int32Array
  /** record → the index + 1 of the record before it in its bucket (0: none) */
  next: Int32Array
  mask: number
}

function buildIndex(records: Uint8Array): HashIndex {
  // a list's records start at an even offset of their own buffer (copyOf, of)
  const words = new Uint16Array(records.buffer, records.byteOffset, records.length / 2)
  const n = records.length / SIG_RECORD_BYTES
  let buckets = 1
  while (buckets < n) buckets *= 2
  const heads = new Int32Array(buckets)
  const next = new Int32Array(n)
  const mask = buckets - 1
  for (let i = 0; i < n; i++) {
    const b = bucketOf(words, i * RECORD_WORDS) & mask
    next[i] = heads[b] as number
    heads[b] = i + 1
  }
  return { words, heads, next, mask }
}

function bucketOf(words: Uint16Array, at: number): number {
  let sum = 0
  for (let k = 0; k < HASH_WORDS; k++)
    sum += (COEFFICIENTS[k] as number) * (words[at + k] as number)
  return sum % PRIME
}

function sameHash(words: Uint16Array, at: number, query: Uint16Array): boolean {
  for (let k = 0; k < HASH_WORDS; k++) if (words[at + k] !== query[k]) return false
  return true
}

function writeRecord(into: Uint8Array, at: number, s: ChangeSignature): void {
  if (
    s.hash.length !== HASH_BYTES ||
    s.author.length !== AUTHOR_BYTES ||
    s.signature.length !== SIGNATURE_BYTES
  )
    throw new RangeError('a change signature with fields of the wrong size')
  into.set(s.hash, at)
  into.set(s.author, at + HASH_BYTES)
  into.set(s.signature, at + HASH_BYTES + AUTHOR_BYTES)
}

function view(records: Uint8Array, at: number): ChangeSignature {
  const authorAt = at + HASH_BYTES
  const signatureAt = authorAt + AUTHOR_BYTES
  return {
    hash: records.subarray(at, authorAt),
    author: records.subarray(authorAt, signatureAt),
    signature: records.subarray(signatureAt, signatureAt + SIGNATURE_BYTES),
  }
}
