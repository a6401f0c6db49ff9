/**
 * The one module that holds identity key material. Everything else signs and opens sealed boxes
 * through a KeyStore, never through the seed, so where the keys live can change here alone.
 *
 * Today the seed is in memory (`seedKeyStore`). A later issue replaces it with a WebCrypto
 * store: the same seed imported once as two non-extractable keys (Ed25519 for signing, X25519
 * pkcs8 for unsealing, see seal.ts for why the sealing key is the converted identity key).
 * Nothing else changes: that is why `unseal` is asynchronous already.
 */
import type { Result } from '../errors'
import type { Identity } from '../identity'
import { seedSigner, type Signer } from '../signer'
import { openSealed, x25519PublicFromEd25519, x25519SecretFromSeed } from './seal'

export interface KeyStore {
  /** did:key of the identity */
  readonly did: string
  /** Ed25519 */
  readonly publicKey: Uint8Array
  /** X25519: what `seal` derives from `publicKey` */
  readonly sealingPublicKey: Uint8Array
  readonly signer: Signer
  /** Opens a box sealed to this identity (CryptoError BAD_CIPHERTEXT if it does not open). */
  unseal(box: Uint8Array, context: Uint8Array): Promise<Result<Uint8Array>>
}

const byIdentity = new WeakMap<Identity, KeyStore>()

/** The key store of an identity whose seed is in memory (one per identity object). */
export function seedKeyStore(identity: Identity): KeyStore {
  let store = byIdentity.get(identity)
  if (store === undefined) {
    const sealingSecret = x25519SecretFromSeed(identity.seed)
    const sealingPublicKey = x25519PublicFromEd25519(identity.publicKey)
    store = {
      did: identity.id,
      publicKey: identity.publicKey,
      sealingPublicKey,
      signer: seedSigner(identity),
      unseal: (box, context) =>
        Promise.resolve().then(() => openSealed(sealingSecret, sealingPublicKey, box, context)),
    }
    byIdentity.set(identity, store)
  }
  return store
}
