/**
 * CIDs for Orrery blocks. A file block is a CIDv1 with codec raw (0x55) and a sha2-256 multihash;
 * a manifest is a CIDv1 with codec json (0x0200) and sha2-256. Both are ordinary IPFS CIDs. The
 * digest is computed synchronously (@noble/hashes), so hashing never waits on WebCrypto.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { base32 } from 'multiformats/bases/base32'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'
import { equalBytes } from '../bytes'
import { err, ok, OrreryError, type Result } from '../errors'
import { BLOCK_SIZE, type Block, type CidString } from './types'

export const RAW_CODEC = 0x55
export const JSON_CODEC = 0x0200
export const SHA2_256 = 0x12
/** a CID string longer than this is not one of ours (ours are 59 or 60 characters) */
const MAX_CID_STRING = 128
/** binary CIDs on the wire are at most this long (ours are 36 or 37 bytes) */
export const MAX_CID_BYTES = 64

export class BlockError extends OrreryError {
  constructor(code: 'INVALID_CID' | 'BAD_BLOCK' | 'BLOCKS_UNAVAILABLE', message: string) {
    super(code, message)
    this.name = 'BlockError'
  }
}

function cidOf(codec: number, bytes: Uint8Array): CidString {
  return CID.createV1(codec, createDigest(SHA2_256, sha256(bytes))).toString()
}

/** The CID of a raw block (or of a whole file): CIDv1, raw, sha2-256, base32. */
export function blockCid(bytes: Uint8Array): CidString {
  return cidOf(RAW_CODEC, bytes)
}

/** The CID of a JSON document (a manifest): CIDv1, json, sha2-256, base32. */
export function jsonCid(bytes: Uint8Array): CidString {
  return cidOf(JSON_CODEC, bytes)
}

/** Parses a CIDv1 in its canonical string form (base32, lowercase); any codec or hash. */
export function parseCid(s: string): Result<CID> {
  const bad = (why: string): Result<CID> =>
    err(new BlockError('INVALID_CID', `not a CID (${why}): ${String(s).slice(0, 80)}`))
  if (typeof s !== 'string') return bad('not a string')
  if (s.length === 0 || s.length > MAX_CID_STRING) return bad('bad length')
  if (!s.startsWith('b')) return bad('not base32 CIDv1')
  let cid: CID
  try {
    cid = CID.parse(s)
  } catch {
    return bad('unparsable')
  }
  if (cid.version !== 1) return bad('not CIDv1')
  // not cid.toString(): CID.parse caches the string it was given, so that returned `s` itself and
  // let a mixed-case spelling ("bafkreiA…", which the base32 decoder reads) pass as canonical
  if (base32.encode(cid.bytes) !== s) return bad('not in canonical form')
  return ok(cid)
}

/** Decodes a binary CIDv1 (as carried on the wire) into its canonical string. */
export function cidFromBytes(bytes: Uint8Array): Result<CidString> {
  const bad = (why: string): Result<CidString> =>
    err(new BlockError('INVALID_CID', `not a binary CID: ${why}`))
  if (bytes.length === 0 || bytes.length > MAX_CID_BYTES) return bad('bad length')
  let cid: CID
  try {
    cid = CID.decode(bytes)
  } catch {
    return bad('unparsable')
  }
  if (cid.version !== 1) return bad('not CIDv1')
  return ok(cid.toString())
}

/** The binary form of a CID string; throws on an invalid one (encoders get valid CIDs). */
export function cidToBytes(s: CidString): Uint8Array {
  const parsed = parseCid(s)
  if (!parsed.ok) throw parsed.error
  return parsed.value.bytes
}

function isSha256(cid: CID): boolean {
  return cid.multihash.code === SHA2_256 && cid.multihash.digest.length === 32
}

/**
 * Every canonical raw sha2-256 CIDv1 string is "b" (base32) + the base32 of 01 55 12 20 and the
 * 32-byte digest: "bafkrei", a character holding 3 digest bits (a-h), 50 more, and a last one
 * whose 2 padding bits are zero. Matching this instead of parsing: a manifest may list ~4,200
 * block CIDs, and parsing each (multiformats) made the largest manifest cost ~10 MB and tens of
 * milliseconds more to check (seen by the decoder fuzzing, test/fuzz/manifests.test.ts).
 */
const RAW_SHA256_CID = /^bafkrei[a-h][a-z2-7]{50}[aeimquy4]$/

/** True for a canonical CIDv1 string with codec raw and a sha2-256 multihash. */
export function isRawCid(s: string): boolean {
  return typeof s === 'string' && RAW_SHA256_CID.test(s)
}

/**
 * Whether `bytes` are the block `cid` names: recomputes the sha2-256 digest and compares it.
 * Orrery stores two kinds of blocks, raw (file blocks) and json (manifests); any other codec or
 * hash function, or an unparsable CID, is false.
 */
export function verifyBlock(cid: CidString | CID, bytes: Uint8Array): boolean {
  const parsed = addressOf(cid)
  return parsed !== undefined && equalBytes(sha256(bytes), parsed.multihash.digest)
}

/**
 * `verifyBlock` with the platform's native SHA-256 (WebCrypto) where there is one: several
 * times faster than hashing in JavaScript, and off the page's main thread in browsers, which is
 * where a fetch from three peers at once spends its time otherwise.
 */
export async function verifyBlockAsync(cid: CidString | CID, bytes: Uint8Array): Promise<boolean> {
  const parsed = addressOf(cid)
  if (parsed === undefined) return false
  const subtle = globalThis.crypto?.subtle
  if (subtle === undefined) return equalBytes(sha256(bytes), parsed.multihash.digest)
  const digest = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>))
  return equalBytes(digest, parsed.multihash.digest)
}

/** The CID if it can address a block here: v1, sha2-256, raw or json. */
function addressOf(cid: CidString | CID): CID | undefined {
  let parsed: CID
  if (typeof cid === 'string') {
    const r = parseCid(cid)
    if (!r.ok) return undefined
    parsed = r.value
  } else {
    parsed = cid
  }
  if (parsed.version !== 1 || !isSha256(parsed)) return undefined
  if (parsed.code !== RAW_CODEC && parsed.code !== JSON_CODEC) return undefined
  return parsed
}

/**
 * Splits a file into raw blocks of `blockSize` bytes: the last may be shorter, an empty file is one
 * empty block. The blocks' bytes are views into `bytes`, not copies.
 */
export function chunkFile(bytes: Uint8Array, blockSize: number = BLOCK_SIZE): Block[] {
  if (!Number.isSafeInteger(blockSize) || blockSize < 1) {
    throw new RangeError(`block size must be a positive integer, not ${blockSize}`)
  }
  if (bytes.length === 0) return [{ cid: blockCid(bytes), bytes }]
  const blocks: Block[] = []
  for (let at = 0; at < bytes.length; at += blockSize) {
    const part = bytes.subarray(at, Math.min(at + blockSize, bytes.length))
    blocks.push({ cid: blockCid(part), bytes: part })
  }
  return blocks
}
