/**
 * Symmetric primitives for end-to-end encryption: authenticated encryption under a 32-byte key
 * (XChaCha20-Poly1305, a random 24-byte nonce per box, so keys never need a nonce counter), key
 * derivation (HKDF-SHA256) and keyed tags (HMAC-SHA256).
 *
 * Box format: 0x01 ‖ nonce (24) ‖ ciphertext ‖ tag (16). The leading byte is the format version;
 * a box of any other version is refused, not guessed at.
 *
 * `decrypt` never throws: boxes come from the network, so every failure is a CryptoError result.
 * `encrypt`, `deriveKey` and `keyedTag` throw only on a key that is not 32 bytes (a programming
 * error, not bad input).
 */
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { equalBytes } from '@noble/ciphers/utils.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { concatBytes, randomBytes, utf8 } from '../bytes'
import { CryptoError, type Result, ok, err } from '../errors'

/**
 * Constant-time comparison (the time taken depends on the lengths only). bytes.ts's equalBytes
 * returns at the first difference: use this one for tags, keys and anything secret.
 */
export { equalBytes }

export const KEY_BYTES = 32
export const AEAD_VERSION = 0x01
export const NONCE_BYTES = 24
export const TAG_BYTES = 16
/** version byte + nonce + tag: the size of the box of an empty message */
export const AEAD_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES

const EMPTY = new Uint8Array(0)

function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES)
    throw new RangeError(`a key is ${KEY_BYTES} bytes, not ${key.length}`)
}

/** 32 fresh random bytes: a new symmetric key. */
export function randomKey(): Uint8Array {
  return randomBytes(KEY_BYTES)
}

/** Encrypts and authenticates `plaintext` (and `aad`, which is not in the box: the reader must supply the same). */
export function encrypt(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = EMPTY,
): Uint8Array {
  checkKey(key)
  const nonce = randomBytes(NONCE_BYTES)
  const sealed = xchacha20poly1305(key, nonce, aad).encrypt(plaintext)
  return concatBytes([Uint8Array.of(AEAD_VERSION), nonce, sealed])
}

/**
 * Opens a box made by `encrypt` with the same key and aad. Any failure (wrong key, wrong aad,
 * tampered, truncated, unknown version) is a CryptoError BAD_CIPHERTEXT; it never throws.
 */
export function decrypt(
  key: Uint8Array,
  box: Uint8Array,
  aad: Uint8Array = EMPTY,
): Result<Uint8Array> {
  if (key.length !== KEY_BYTES) return bad(`a key is ${KEY_BYTES} bytes, not ${key.length}`)
  if (box.length < AEAD_OVERHEAD) return bad(`a box is at least ${AEAD_OVERHEAD} bytes`)
  if (box[0] !== AEAD_VERSION) return bad(`unknown box version ${box[0]}`)
  const nonce = box.subarray(1, 1 + NONCE_BYTES)
  try {
    return ok(xchacha20poly1305(key, nonce, aad).decrypt(box.subarray(1 + NONCE_BYTES)))
  } catch {
    return bad('the box does not open (wrong key or aad, or damaged)')
  }
}

/**
 * A subkey for one purpose: HKDF-SHA256(ikm = key, salt = empty, info = utf8('orrery/' + label)
 * ‖ 0 ‖ context, 32 bytes). Deterministic; different labels or contexts give unrelated keys.
 *
 * A zero byte ends the label, so no label and context can pass for another label's (labels
 * hold no zero byte).
 */
const ZERO = Uint8Array.of(0)

export function deriveKey(key: Uint8Array, label: string, context: Uint8Array = EMPTY): Uint8Array {
  checkKey(key)
  return hkdf(sha256, key, EMPTY, concatBytes([utf8('orrery/' + label), ZERO, context]), KEY_BYTES)
}

/**
 * HMAC-SHA256 under `key` over the parts, each preceded by its length (4 bytes, big-endian), so
 * the parts' boundaries are part of what is tagged: ('ab', 'c') and ('a', 'bc') differ.
 */
export function keyedTag(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  checkKey(key)
  const mac = hmac.create(sha256, key)
  const len = new Uint8Array(4)
  const view = new DataView(len.buffer)
  for (const part of parts) {
    view.setUint32(0, part.length)
    mac.update(len)
    mac.update(part)
  }
  return mac.digest()
}

function bad(why: string): Result<never> {
  return err(new CryptoError('BAD_CIPHERTEXT', why))
}
