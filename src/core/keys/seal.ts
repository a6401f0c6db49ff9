/**
 * Sealed boxes to an identity: anyone can encrypt to a member knowing only their did:key; only
 * the holder of the identity's seed can open the box. The sender stays anonymous at this layer
 * (a fresh ephemeral key per box): sign the content, or the box's envelope, to say who sent it.
 *
 * Why the sealing key (X25519) is the identity's Ed25519 key converted to Montgomery form, and
 * not a key derived from the seed by HKDF: a converted key can be computed from the did:key
 * alone, so sealing to a member needs no key directory, no extra signed record per member, and
 * works for a member whose records have not arrived yet. The cost, using one seed for both
 * signing and key agreement, is the accepted one (libsodium's crypto_sign_ed25519_pk_to_curve25519
 * does the same), and it does not block the move to WebCrypto: the same seed can be imported as
 * two non-extractable keys (Ed25519 and X25519, pkcs8), so that move stays within key-store.ts.
 *
 * Box format: 0x01 ‖ ephemeral X25519 public key (32) ‖ nonce (24) ‖ ciphertext ‖ tag (16).
 *   key = HKDF-SHA256(ikm = X25519(ephemeral, recipient), salt = ephemeral pub ‖ recipient pub,
 *                     info = 'orrery/seal/v1' ‖ context, 32 bytes)
 *   cipher = XChaCha20-Poly1305(key, nonce, aad = context)
 * `context` names what the box is for (e.g. a space id and key epoch): a box opened under a
 * different context fails, so a box cannot be replayed into another place.
 */
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, randomBytes, utf8 } from '../bytes'
import { CryptoError, IdentityError, type Result, ok, err, describeError } from '../errors'
import { publicKeyFromDidKey } from '../identity'
import { NONCE_BYTES, TAG_BYTES, equalBytes } from './aead'

export const SEAL_VERSION = 0x01
const X25519_BYTES = 32
/** the size of the sealed box of an empty message */
export const SEAL_OVERHEAD = 1 + X25519_BYTES + NONCE_BYTES + TAG_BYTES
const SEAL_INFO = utf8('orrery/seal/v1')
const ZERO32 = new Uint8Array(32)

/** The X25519 public key of an identity, from its Ed25519 public key. Throws on an invalid key. */
export function x25519PublicFromEd25519(publicKey: Uint8Array): Uint8Array {
  return ed25519.utils.toMontgomery(publicKey)
}

/** The X25519 secret key of an identity, from its 32-byte Ed25519 seed. */
export function x25519SecretFromSeed(seed: Uint8Array): Uint8Array {
  // a copy: noble returns a view of the 64-byte SHA-512 whose other half is the Ed25519 prefix
  return ed25519.utils.toMontgomerySecret(seed).slice()
}

function sealKey(
  shared: Uint8Array,
  ephPub: Uint8Array,
  recipientPub: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  return hkdf(
    sha256,
    shared,
    concatBytes([ephPub, recipientPub]),
    concatBytes([SEAL_INFO, context]),
    32,
  )
}

/**
 * Seals `plaintext` to the identity whose Ed25519 public key is `recipientEd25519Pub`. Throws
 * if that is not a usable public key (invalid or low-order point): for keys from the network,
 * use `sealTo`, which returns a result.
 */
export function seal(
  recipientEd25519Pub: Uint8Array,
  plaintext: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  const recipientPub = x25519PublicFromEd25519(recipientEd25519Pub)
  const ephSecret = x25519.utils.randomSecretKey()
  const ephPub = x25519.getPublicKey(ephSecret)
  // rejects low-order recipient keys (before the ladder)
  const shared = x25519.getSharedSecret(ephSecret, recipientPub)
  return sealWithShared(ephPub, shared, recipientPub, plaintext, context)
}

/**
 * Builds the box once the key agreement is done: `shared` = X25519(ephemeral secret,
 * `recipientPub`), however it was computed (here by noble, in seal-many.ts by WebCrypto). Throws
 * on an all-zero `shared` (a low-order recipient key). Internal: not exported from index.ts.
 */
export function sealWithShared(
  ephPub: Uint8Array,
  shared: Uint8Array,
  recipientPub: Uint8Array,
  plaintext: Uint8Array,
  context: Uint8Array,
): Uint8Array {
  if (equalBytes(shared, ZERO32)) throw new Error('the recipient key is of low order')
  const nonce = randomBytes(NONCE_BYTES)
  const key = sealKey(shared, ephPub, recipientPub, context)
  const sealed = xchacha20poly1305(key, nonce, context).encrypt(plaintext)
  return concatBytes([Uint8Array.of(SEAL_VERSION), ephPub, nonce, sealed])
}

/** Seals to a member named by their did:key; a did that is not a usable key is an IdentityError. */
export function sealTo(
  did: string,
  plaintext: Uint8Array,
  context: Uint8Array,
): Result<Uint8Array> {
  const pub = publicKeyFromDidKey(did)
  if (!pub.ok) return pub
  try {
    return ok(seal(pub.value, plaintext, context))
  } catch (e) {
    return err(unusableKey(did, e))
  }
}

/** The error `sealTo` gives for a did that decodes but is not a usable key. Internal. */
export function unusableKey(did: string, cause: unknown): IdentityError {
  return new IdentityError(
    'IDENTITY_CORRUPT',
    `cannot seal to ${did.slice(0, 80)}: not a usable key (${describeError(cause)})`,
  )
}

/**
 * Opens a sealed box with the recipient's X25519 key pair. Any failure (wrong recipient, wrong
 * context, tampered, truncated, unknown version, low-order ephemeral key) is a CryptoError
 * BAD_CIPHERTEXT; it never throws.
 */
export function openSealed(
  recipientX25519Secret: Uint8Array,
  recipientX25519Pub: Uint8Array,
  box: Uint8Array,
  context: Uint8Array,
): Result<Uint8Array> {
  if (box.length < SEAL_OVERHEAD) return bad(`a sealed box is at least ${SEAL_OVERHEAD} bytes`)
  if (box[0] !== SEAL_VERSION) return bad(`unknown sealed box version ${box[0]}`)
  const ephPub = box.subarray(1, 1 + X25519_BYTES)
  const nonce = box.subarray(1 + X25519_BYTES, 1 + X25519_BYTES + NONCE_BYTES)
  const sealed = box.subarray(1 + X25519_BYTES + NONCE_BYTES)
  try {
    // noble throws on a low-order ephemeral key; an all-zero result is refused too
    const shared = x25519.getSharedSecret(recipientX25519Secret, ephPub)
    if (equalBytes(shared, ZERO32)) return bad('the sealed box has a low-order ephemeral key')
    const key = sealKey(shared, ephPub, recipientX25519Pub, context)
    return ok(xchacha20poly1305(key, nonce, context).decrypt(sealed))
  } catch {
    return bad('the sealed box does not open (not for this key, wrong context, or damaged)')
  }
}

function bad(why: string): Result<never> {
  return err(new CryptoError('BAD_CIPHERTEXT', why))
}
