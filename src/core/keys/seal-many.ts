/**
 * Sealing one message (a space key, typically) to many members at once: what a space does when it
 * rotates its key. The boxes are the ones seal.ts makes, byte for byte (each opens with
 * `openSealed`), with a fresh ephemeral key per recipient; only where the X25519 work runs changes.
 *
 * seal.ts runs X25519 in pure JS (noble), about 1.5 ms per recipient. Where WebCrypto has X25519
 * (Node 20+, current browsers), the ephemeral key pair and the shared secret are computed natively
 * and, as every recipient is sealed concurrently, off the main thread. The rest stays in seal.ts:
 * the did:key → X25519 conversion (which also checks that the key is a valid Ed25519 point),
 * HKDF, XChaCha20-Poly1305 and the refusal of an all-zero shared secret (`sealWithShared`).
 * Where WebCrypto lacks X25519, each recipient is sealed by seal.ts's `sealTo`.
 */
import { type Result, err, ok } from '../errors'
import { publicKeyFromDidKey } from '../identity'
import { sealTo, sealWithShared, unusableKey, x25519PublicFromEd25519 } from './seal'

export interface SealManyOptions {
  /**
   * Use WebCrypto's X25519 where the platform has it (the default). `false` seals every recipient
   * with seal.ts's pure-JS path, as on a platform without it (for tests and benchmarks).
   */
  readonly native?: boolean
}

const X25519 = { name: 'X25519' } as const
const KEY_BITS = 256

/**
 * Whether `subtle` can do what `sealToMany` asks of it: generate an X25519 key pair, export its
 * public key raw, import a raw public key and derive 256 bits. Never rejects.
 */
export async function detectNativeX25519(subtle: SubtleCrypto | undefined): Promise<boolean> {
  if (subtle === undefined) return false
  try {
    const pair = (await subtle.generateKey(X25519, false, ['deriveBits'])) as CryptoKeyPair
    const raw = new Uint8Array(await subtle.exportKey('raw', pair.publicKey))
    const pub = await subtle.importKey('raw', raw, X25519, false, [])
    const bits = await subtle.deriveBits({ ...X25519, public: pub }, pair.privateKey, KEY_BITS)
    return raw.length === 32 && bits.byteLength === 32
  } catch {
    return false
  }
}

let nativeX25519: Promise<boolean> | undefined

/** `detectNativeX25519` for this platform's `crypto.subtle`, asked once and remembered. */
export function hasNativeX25519(): Promise<boolean> {
  // `crypto` may be missing altogether (an insecure browser context has no `subtle` either)
  const subtle = (globalThis.crypto as Crypto | undefined)?.subtle as SubtleCrypto | undefined
  nativeX25519 ??= detectNativeX25519(subtle)
  return nativeX25519
}

/**
 * Seals `plaintext` under `context` to each member named by a did:key in `recipients`, as
 * `sealTo` would. The map has one entry per distinct did, in the order given: a box, or the
 * IdentityError `sealTo` gives for that did (not a did:key, not a usable key); one bad did never
 * stops the others, and this never rejects.
 */
export async function sealToMany(
  recipients: readonly string[],
  plaintext: Uint8Array,
  context: Uint8Array,
  options: SealManyOptions = {},
): Promise<Map<string, Result<Uint8Array>>> {
  const dids = [...new Set(recipients)]
  const out = new Map<string, Result<Uint8Array>>()
  if (dids.length === 0) return out
  if (options.native === false || !(await hasNativeX25519())) {
    for (const did of dids) out.set(did, sealTo(did, plaintext, context))
    return out
  }
  const subtle = globalThis.crypto.subtle
  const boxes = await Promise.all(dids.map((did) => sealNative(subtle, did, plaintext, context)))
  dids.forEach((did, i) => out.set(did, boxes[i] as Result<Uint8Array>))
  return out
}

/** `sealTo` with the X25519 work done by WebCrypto. Never rejects. */
async function sealNative(
  subtle: SubtleCrypto,
  did: string,
  plaintext: Uint8Array,
  context: Uint8Array,
): Promise<Result<Uint8Array>> {
  const pub = publicKeyFromDidKey(did)
  if (!pub.ok) return pub
  try {
    // noble, on this thread: throws if the did's key is not a valid Ed25519 point. Meanwhile the
    // recipients before this one have their WebCrypto work under way.
    const recipientPub = x25519PublicFromEd25519(pub.value)
    const [eph, peer] = await Promise.all([
      subtle.generateKey(X25519, false, ['deriveBits']) as Promise<CryptoKeyPair>,
      // a fresh array from noble, never over a SharedArrayBuffer
      subtle.importKey('raw', recipientPub as Uint8Array<ArrayBuffer>, X25519, false, []),
    ])
    // WebCrypto refuses a low-order recipient key here (OperationError); sealWithShared refuses an
    // all-zero secret too, should a platform return one
    const [ephPub, shared] = await Promise.all([
      subtle.exportKey('raw', eph.publicKey),
      subtle.deriveBits({ ...X25519, public: peer }, eph.privateKey, KEY_BITS),
    ])
    return ok(
      sealWithShared(
        new Uint8Array(ephPub),
        new Uint8Array(shared),
        recipientPub,
        plaintext,
        context,
      ),
    )
  } catch (e) {
    return err(unusableKey(did, e))
  }
}
