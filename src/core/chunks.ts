/**
 * Cheap checks on Automerge data from the network before it reaches Automerge. A sync message
 * entry is one or more chunks back to back; each has magic bytes, a type, a declared length and a
 * checksum (the first 4 bytes of SHA-256 over type, length and data, for document and change
 * chunks). Automerge's incremental loader quietly drops a chunk it cannot parse (and whatever
 * follows it), so without these checks a peer sending garbage would go unnoticed instead of being
 * cut off. A well-framed chunk with nonsense inside is still caught when it is applied.
 * Checksums are optional: Automerge verifies them itself when a chunk is applied on its own
 * (`applyChanges`, or `loadIncremental` of a single document chunk), and hashing a megabyte in
 * JavaScript costs tens of milliseconds.
 */
import { bytesToHex, sha256 } from './bytes'
import { ProtocolError, type Result } from './errors'

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
export const DOCUMENT_CHUNK = 0
export const CHANGE_CHUNK = 1
export const COMPRESSED_CHANGE_CHUNK = 2

const bad = (why: string): Result<never, ProtocolError> => ({
  ok: false,
  error: new ProtocolError('MALFORMED_MESSAGE', why),
})

/** Splits bytes into Automerge chunks, checking each; an error names the first problem. */
export function splitChunks(
  bytes: Uint8Array,
  verifyChecksums = true,
): Result<Uint8Array[], ProtocolError> {
  const out: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    const start = at
    if (bytes.length - at < 10) return bad('chunk too short')
    for (let i = 0; i < 4; i++) {
      if (bytes[at + i] !== MAGIC[i]) return bad('not an Automerge chunk (magic bytes)')
    }
    const type = bytes[at + 8] as number
    if (type !== DOCUMENT_CHUNK && type !== CHANGE_CHUNK && type !== COMPRESSED_CHANGE_CHUNK) {
      return bad(`unknown chunk type ${type}`)
    }
    at += 9
    let len = 0
    let mul = 1
    for (let i = 0; ; i++) {
      if (at >= bytes.length || i > 7) return bad('bad chunk length')
      const b = bytes[at++] as number
      len += (b & 0x7f) * mul
      if ((b & 0x80) === 0) break
      mul *= 0x80
    }
    if (at + len > bytes.length) return bad(`chunk of ${len} bytes is truncated`)
    if (verifyChecksums && type !== COMPRESSED_CHANGE_CHUNK) {
      const h = sha256(bytes.subarray(start + 8, at + len))
      for (let i = 0; i < 4; i++) {
        if (h[i] !== bytes[start + 4 + i]) return bad('chunk checksum does not match')
      }
    }
    at += len
    out.push(bytes.subarray(start, at))
  }
  if (out.length === 0) return bad('empty change')
  return { ok: true, value: out }
}

/** Why these bytes are not well-formed Automerge chunks, or undefined when they are. */
export function chunkProblem(bytes: Uint8Array, verifyChecksums = true): string | undefined {
  const r = splitChunks(bytes, verifyChecksums)
  return r.ok ? undefined : r.error.message
}

/**
 * The Automerge hash of an uncompressed change chunk (SHA-256 over its type, length and data),
 * as hex. A compressed change chunk (type 2) is hashed over its inflated form, which would take
 * inflating it: undefined for it (the network refuses such chunks, see sync/session.ts) and for
 * any other type.
 */
export function changeHash(chunk: Uint8Array): string | undefined {
  return chunk[8] === CHANGE_CHUNK ? bytesToHex(sha256(chunk.subarray(8))) : undefined
}

/**
 * The dependencies and actor (hex) at the start of an uncompressed change chunk, read from its
 * header without decoding the change (a few varints: a tab sorting its own changes from others'
 * does it for every change it uploads). Undefined for anything else or a truncated header.
 */
export function changeHeader(chunk: Uint8Array): { deps: string[]; actor: string } | undefined {
  if (chunk[8] !== CHANGE_CHUNK) return undefined
  let at = 9
  const uleb = (): number | undefined => {
    let n = 0
    let mul = 1
    for (let i = 0; i < 8 && at < chunk.length; i++) {
      const b = chunk[at++] as number
      n += (b & 0x7f) * mul
      if ((b & 0x80) === 0) return n
      mul *= 0x80
    }
    return undefined
  }
  if (uleb() === undefined) return undefined // the chunk's length
  const count = uleb()
  if (count === undefined || at + count * 32 > chunk.length) return undefined
  const deps: string[] = []
  for (let i = 0; i < count; i++, at += 32) deps.push(bytesToHex(chunk.subarray(at, at + 32)))
  const actorLength = uleb()
  if (actorLength === undefined || at + actorLength > chunk.length) return undefined
  return { deps, actor: bytesToHex(chunk.subarray(at, at + actorLength)) }
}
