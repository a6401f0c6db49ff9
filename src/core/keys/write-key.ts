/**
 * A free document's write key (issue 15): what lets a holder of its share link change it, where
 * the read key only lets them read. A space's documents have none: the space's members and roles
 * decide who writes there.
 *
 * The write secret (32 random bytes, made with the document, carried by edit links) gives
 *  - an Ed25519 key pair: its public half (the "writer", carried by read-only links) names the
 *    document's writers; the private half signs heads. A signature over a head vouches for every
 *    change before it (changes are named by hashes over their dependencies), so one signature
 *    covers a whole history, and a reader can take changes from another reader.
 *  - a tag key: writers show each other they hold the secret the way peers show read keys (a
 *    MAC of both peer ids); between two writers nothing is signed or verified, so W1/W2 pay
 *    nothing for write keys.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { equalBytes, hexToBytes } from '../bytes'
import { verify } from '../identity'
import { docIdToBytes, interestTag, type DocId } from '../ids'
import type { ChangeSignature } from '../sync/signature-list'
import { deriveKey, KEY_BYTES } from './aead'

export const WRITE_SECRET_BYTES = KEY_BYTES

/** What this tab knows of a document's write key: the writer always, the secret if it writes. */
export interface WriteKey {
  /** the writer's Ed25519 public key */
  readonly pub: Uint8Array
  readonly secret?: Uint8Array
  /** derived from the secret: the Ed25519 seed that signs heads */
  readonly seed?: Uint8Array
  /** derived from the secret: what writers' tags are made with */
  readonly tagKey?: Uint8Array
}

/** The write key a secret gives, for one document. */
export function writeKeyFromSecret(id: DocId, secret: Uint8Array): WriteKey {
  const context = docIdToBytes(id)
  const seed = deriveKey(secret, 'doc-write-sign/v1', context)
  return {
    pub: ed25519.getPublicKey(seed),
    secret: secret.slice(),
    seed,
    tagKey: deriveKey(secret, 'doc-write-interest/v1', context),
  }
}

/** A writer known by its public key only (a read-only link). */
export function writeKeyFromPublic(pub: Uint8Array): WriteKey {
  if (pub.length !== 32) throw new RangeError('a writer key is 32 bytes')
  return { pub: pub.slice() }
}

/** The tag a writer shows `toPeer` (undefined without the secret). */
export function writeTag(w: WriteKey, fromPeer: string, toPeer: string): Uint8Array | undefined {
  return w.tagKey === undefined ? undefined : interestTag(w.tagKey, fromPeer, toPeer)
}

/** The writer's signature over a head (hex hash); undefined without the secret. */
export function signHead(w: WriteKey, hashHex: string): ChangeSignature | undefined {
  if (w.seed === undefined) return undefined
  const hash = hexToBytes(hashHex)
  return { hash, author: w.pub, signature: ed25519.sign(hash, w.seed) }
}

/** Whether a signature is the writer's over the hash it names. */
export function isWriterSignature(w: WriteKey, sig: ChangeSignature): boolean {
  return equalBytes(sig.author, w.pub) && verify(w.pub, sig.hash, sig.signature)
}
