/**
 * The live releases protocol `/orrery/releases/<major>.0.0`, carried in Orrery's framing
 * (wire/framing.ts). One stream per exchange:
 *   QUERY     keys[] (1..64 of publisher did:key + app name): "tell me your latest for these,
 *             and push me newer ones while we are connected"; answered by ANNOUNCE* then DONE
 *   ANNOUNCE  manifest block bytes (at most MAX_MANIFEST_BYTES; checked by decodeManifest later)
 *   DONE      the end of an answer or of a push
 * Decoders check structure and limits and never throw; what a manifest says is not their job.
 */
import { ProtocolError, type Result, ok, err } from '../errors'
import { didKeyFromPublicKey, publicKeyFromDidKey } from '../identity'
import { Reader, Writer } from '../wire/codec'
import { protocolId, VERSIONS } from '../wire/versions'
import { MAX_NAME_LENGTH } from '../blocks/manifest'
import { MAX_MANIFEST_BYTES } from '../blocks/types'

/** the current releases protocol id (all spoken ids: `spokenIds('releases')`) */
export const RELEASES_PROTOCOL = protocolId('releases', VERSIONS.releases.current)
export const MAX_KEYS_PER_QUERY = 64
/** a did:key of an Ed25519 key is 56 characters */
export const MAX_PUBLISHER_BYTES = 128
/** app names are at most MAX_NAME_LENGTH UTF-16 units: at most 3 UTF-8 bytes each */
export const MAX_APP_NAME_BYTES = MAX_NAME_LENGTH * 3
/** the framing limit for this protocol: one manifest and its header */
export const MAX_RELEASES_MESSAGE = MAX_MANIFEST_BYTES + 16

export interface ReleaseKey {
  publisher: string
  name: string
}

export type ReleasesMessage =
  | { type: 'query'; keys: ReleaseKey[] }
  | { type: 'announce'; manifest: Uint8Array }
  | { type: 'done' }

const T_QUERY = 1
const T_ANNOUNCE = 2
const T_DONE = 3

/** What is wrong with a key (publisher not a canonical Ed25519 did:key, bad name), or undefined. */
export function keyProblem(k: ReleaseKey): string | undefined {
  const pub = publicKeyFromDidKey(k.publisher)
  if (!pub.ok || didKeyFromPublicKey(pub.value) !== k.publisher)
    return 'publisher is not an Ed25519 did:key'
  if (typeof k.name !== 'string' || k.name.trim().length === 0) return 'empty app name'
  if (k.name.length > MAX_NAME_LENGTH) return `app name longer than ${MAX_NAME_LENGTH}`
  return undefined
}

/** Encodes a message; throws RangeError on one that breaks the limits (a programming error). */
export function encodeReleasesMessage(m: ReleasesMessage): Uint8Array {
  const w = new Writer()
  switch (m.type) {
    case 'query':
      if (m.keys.length === 0 || m.keys.length > MAX_KEYS_PER_QUERY)
        throw new RangeError(`a query carries 1 to ${MAX_KEYS_PER_QUERY} keys`)
      w.u8(T_QUERY).varint(m.keys.length)
      for (const k of m.keys) {
        const problem = keyProblem(k)
        if (problem !== undefined) throw new RangeError(`query key: ${problem}`)
        w.string(k.publisher).string(k.name)
      }
      break
    case 'announce':
      if (m.manifest.length === 0 || m.manifest.length > MAX_MANIFEST_BYTES)
        throw new RangeError(`a manifest is 1 to ${MAX_MANIFEST_BYTES} bytes`)
      w.u8(T_ANNOUNCE).bytes(m.manifest)
      break
    case 'done':
      w.u8(T_DONE)
      break
  }
  return w.finish()
}

export function decodeReleasesMessage(buf: Uint8Array): Result<ReleasesMessage, ProtocolError> {
  const bad = (why: string): Result<never, ProtocolError> =>
    err(new ProtocolError('MALFORMED_MESSAGE', `releases: ${why}`))
  if (buf.length === 0) return bad('empty message')
  if (buf.length > MAX_RELEASES_MESSAGE)
    return err(new ProtocolError('MESSAGE_TOO_LARGE', 'releases: message exceeds the limit'))
  const r = new Reader(buf)
  const type = r.u8()
  let m: ReleasesMessage
  switch (type) {
    case T_QUERY: {
      const n = r.varint(MAX_KEYS_PER_QUERY)
      if (r.error === undefined && n === 0) r.fail('empty key list')
      const keys: ReleaseKey[] = []
      for (let i = 0; i < n && r.error === undefined; i++) {
        const publisher = r.string(MAX_PUBLISHER_BYTES)
        const name = r.string(MAX_APP_NAME_BYTES)
        if (r.error !== undefined) break
        const problem = keyProblem({ publisher, name })
        if (problem !== undefined) r.fail(`key ${i}: ${problem}`)
        keys.push({ publisher, name })
      }
      m = { type: 'query', keys }
      break
    }
    case T_ANNOUNCE: {
      const manifest = r.bytes(MAX_MANIFEST_BYTES).slice()
      if (r.error === undefined && manifest.length === 0) r.fail('empty manifest')
      m = { type: 'announce', manifest }
      break
    }
    case T_DONE:
      m = { type: 'done' }
      break
    default:
      return bad(`unknown message type ${type}`)
  }
  r.end()
  if (r.error !== undefined) return bad(`${m.type}: ${r.error}`)
  return ok(m)
}
