import { fromBase58, randomBytes, sha256, toBase58, utf8, concatBytes } from './bytes'
import { OrreryError, type Result, ok, err } from './errors'

/** A document id is 16 random bytes written in base58btc (22 characters or so). */
export type DocId = string

const DOC_ID_BYTES = 16

export function newDocId(): DocId {
  return toBase58(randomBytes(DOC_ID_BYTES))
}

export function parseDocId(s: string): Result<DocId> {
  if (typeof s !== 'string' || s.length < 16 || s.length > 30) {
    return err(new OrreryError('INVALID_DOC_ID', `not a document id: ${JSON.stringify(s)}`))
  }
  const raw = fromBase58(s)
  if (raw === undefined || raw.length !== DOC_ID_BYTES || toBase58(raw) !== s) {
    return err(new OrreryError('INVALID_DOC_ID', `not a document id: ${JSON.stringify(s)}`))
  }
  return ok(s)
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
  if (b.length !== DOC_ID_BYTES)
    return err(new OrreryError('INVALID_DOC_ID', 'bad document id length'))
  return ok(toBase58(b))
}

/**
 * The rendezvous topic of a document: a hash, so the relay and strangers learn who is interested
 * in the same document without learning the id (which is the capability to read it).
 */
export function docTopic(id: DocId): Uint8Array {
  return sha256(concatBytes([utf8('orrery/doc-topic/v1:'), docIdToBytes(id)]))
}

/**
 * What a tab sends a peer to say it has a document open: a hash of the id bound to both peer ids.
 * Only someone who knows the id can make it (the topic, which the relay sees, is not enough),
 * and a tag seen in one session is worthless in any other.
 */
export function interestTag(id: DocId, fromPeer: string, toPeer: string): Uint8Array {
  return sha256(concatBytes([utf8(`orrery/interest/v1:${fromPeer}:${toPeer}:`), docIdToBytes(id)]))
}
