import { fromBase58, randomBytes, sha256, toBase58, utf8, concatBytes, equalBytes } from './bytes'
import { OrreryError, type Result, ok, err } from './errors'
import { deriveKey, keyedTag } from './keys/aead'

/**
 * A document id, in base58btc. Three forms, told apart by their length:
 *
 * - 16 random bytes (22 characters or so): a free document, or a space or space document made
 *   before ids were bound ("legacy"; still read, see docs/SECURITY.md).
 * - A space id, 17 bytes: `0x01` and the first 16 bytes of
 *   SHA-256("orrery/space-id/v1:" ‖ nonce ‖ creator did). The space's first change names the
 *   creator and the nonce, so anyone can check that only the creator may write it (`spaceIdMatches`).
 * - A space's document, 33 bytes: `0x02`, the space's tag (the first 16 bytes of
 *   SHA-256("orrery/space-tag/v1:" ‖ space id)) and 16 random bytes. Its space is checkable
 *   from the id and the space id alone (`docBelongsTo`), and no other space can list it. The tag is
 *   a hash, not the space id, because the space id is the capability to read the space (its
 *   members and all its documents' ids).
 */
export type DocId = string

const DOC_ID_BYTES = 16
const SPACE_KIND = 0x01
const SPACE_ID_BYTES = 17
const BOUND_KIND = 0x02
const TAG_BYTES = 16
const BOUND_DOC_BYTES = 1 + TAG_BYTES + 16
export const NONCE_BYTES = 16

export type IdKind = 'legacy' | 'space' | 'bound'

function kindOfBytes(raw: Uint8Array): IdKind | undefined {
  if (raw.length === DOC_ID_BYTES) return 'legacy'
  if (raw.length === SPACE_ID_BYTES && raw[0] === SPACE_KIND) return 'space'
  if (raw.length === BOUND_DOC_BYTES && raw[0] === BOUND_KIND) return 'bound'
  return undefined
}

/** A free document's id (16 random bytes). */
export function newDocId(): DocId {
  return toBase58(randomBytes(DOC_ID_BYTES))
}

// Base58 decoding costs tens of microseconds an id, and a space's value is read (and each of its
// document ids parsed) twice for every change to it: ids seen recently are remembered.
const MEMO = 8192
const kinds = new Map<string, IdKind | null>()
function kindOfString(s: string): IdKind | undefined {
  let k = kinds.get(s)
  if (k === undefined) {
    const raw = s.length < 16 || s.length > 50 ? undefined : fromBase58(s)
    k = raw === undefined || toBase58(raw) !== s ? null : (kindOfBytes(raw) ?? null)
    if (kinds.size >= MEMO) kinds.clear()
    kinds.set(s, k)
  }
  return k ?? undefined
}

export function parseDocId(s: string): Result<DocId> {
  if (typeof s !== 'string' || kindOfString(s) === undefined) {
    return err(new OrreryError('INVALID_DOC_ID', `not a document id: ${JSON.stringify(s)}`))
  }
  return ok(s)
}

/** Which form an id has; undefined if it is not an id. */
export function idKind(id: string): IdKind | undefined {
  return typeof id === 'string' ? kindOfString(id) : undefined
}

const spaceIdHash = (nonce: Uint8Array, creator: string): Uint8Array =>
  sha256(concatBytes([utf8('orrery/space-id/v1:'), nonce, utf8(creator)])).subarray(0, 16)

/** A new space's id, bound to its creator, and the nonce its first change must name. */
export function newSpaceId(creator: string): { id: DocId; nonce: string } {
  const nonce = randomBytes(NONCE_BYTES)
  const id = toBase58(concatBytes([Uint8Array.of(SPACE_KIND), spaceIdHash(nonce, creator)]))
  return { id, nonce: toBase58(nonce) }
}

/**
 * Whether `creator` (with `nonce`) may be the creator of space `spaceId`: for a bound space id
 * the id must be the hash of both; a legacy id binds nobody (its first writer wins).
 */
export function spaceIdMatches(spaceId: DocId, creator: string, nonce: unknown): boolean {
  const raw = fromBase58(spaceId)
  if (raw === undefined) return false
  const kind = kindOfBytes(raw)
  if (kind === 'legacy') return true
  if (kind !== 'space' || typeof nonce !== 'string') return false
  const n = fromBase58(nonce)
  if (n === undefined || n.length !== NONCE_BYTES || toBase58(n) !== nonce) return false
  return equalBytes(raw.subarray(1), spaceIdHash(n, creator))
}

// a space's tag, kept because every read of a space document checks each of its document entries
const tags = new Map<string, Uint8Array>()
function spaceTag(spaceId: DocId): Uint8Array {
  let t = tags.get(spaceId)
  if (t === undefined) {
    if (tags.size >= 1024) tags.clear()
    t = sha256(concatBytes([utf8('orrery/space-tag/v1:'), docIdToBytes(spaceId)])).subarray(
      0,
      TAG_BYTES,
    )
    tags.set(spaceId, t)
  }
  return t
}

/** A new document of space `spaceId`: its id names the space's tag. */
export function newDocIdIn(spaceId: DocId): DocId {
  return toBase58(concatBytes([Uint8Array.of(BOUND_KIND), spaceTag(spaceId), randomBytes(16)]))
}

/**
 * Whether document `docId` may belong to space `spaceId`. A bound document id belongs to the
 * one space whose tag it carries; a legacy document id only to a legacy space (unchecked: that
 * is what legacy means); a space id to no other space.
 */
export function docBelongsTo(docId: DocId, spaceId: DocId): boolean {
  const key = `${spaceId}/${docId}`
  let b = belongs.get(key)
  if (b === undefined) {
    b = computeBelongs(docId, spaceId)
    if (belongs.size >= MEMO) belongs.clear()
    belongs.set(key, b)
  }
  return b
}
const belongs = new Map<string, boolean>()

function computeBelongs(docId: DocId, spaceId: DocId): boolean {
  const docKind = idKind(docId)
  const spaceKind = idKind(spaceId)
  if (docKind === undefined || docId === spaceId) return false
  if (spaceKind !== 'legacy' && spaceKind !== 'space') return false
  if (docKind === 'legacy') return spaceKind === 'legacy'
  if (docKind !== 'bound') return false
  const doc = fromBase58(docId)
  return doc !== undefined && equalBytes(doc.subarray(1, 1 + TAG_BYTES), spaceTag(spaceId))
}

export function isDocId(s: unknown): s is DocId {
  return typeof s === 'string' && parseDocId(s).ok
}

export function docIdToBytes(id: DocId): Uint8Array {
  const raw = fromBase58(id)
  if (raw === undefined) throw new OrreryError('INVALID_DOC_ID', `not a document id: ${id}`)
  return raw
}

export function docIdFromBytes(b: Uint8Array): Result<DocId> {
  if (kindOfBytes(b) === undefined)
    return err(new OrreryError('INVALID_DOC_ID', 'bad document id length'))
  return ok(toBase58(b))
}

/**
 * The rendezvous topic of a document: derived from its read key, so the relay and whoever holds
 * only the id learn nothing (the key is the capability to find and read it; see doc-keys.ts).
 */
export function docTopic(id: DocId, key: Uint8Array): Uint8Array {
  return deriveKey(key, 'doc-topic/v2', docIdToBytes(id))
}

/** The key a document's interest tags are made with (see `interestTag`). */
export function interestKey(id: DocId, key: Uint8Array): Uint8Array {
  return deriveKey(key, 'doc-interest/v2', docIdToBytes(id))
}

/**
 * What a tab sends a peer to show it holds a document's read key: a MAC of both peer ids under
 * the document's interest key. The remote compares it with the tags of the documents it holds
 * keys for; a tag seen in one session is worthless in another (other peer ids), and says
 * nothing about the document to whoever lacks the key.
 */
export function interestTag(interest: Uint8Array, fromPeer: string, toPeer: string): Uint8Array {
  return keyedTag(interest, utf8(fromPeer), utf8(toPeer))
}
