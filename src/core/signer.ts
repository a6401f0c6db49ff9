/**
 * What signs with the user's identity. The interface is asynchronous because a key that never
 * leaves the browser (a non-extractable WebCrypto key) only signs asynchronously. A key held in
 * memory also signs at once (`signNow`): a change then gets its signature in the task that
 * commits it, and nothing has to wait for it.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import type { Identity } from './identity'

export interface Signer {
  /** did:key of the identity */
  readonly did: string
  readonly publicKey: Uint8Array
  sign(message: Uint8Array): Promise<Uint8Array>
  /** present only where signing needs no wait */
  signNow?(message: Uint8Array): Uint8Array
}

const bySeed = new WeakMap<Identity, Signer>()

/** The signer of an identity whose seed is in memory (one per identity object). */
export function seedSigner(identity: Identity): Signer {
  let signer = bySeed.get(identity)
  if (signer === undefined) {
    const seed = identity.seed
    const signNow = (message: Uint8Array): Uint8Array => ed25519.sign(message, seed)
    signer = {
      did: identity.id,
      publicKey: identity.publicKey,
      signNow,
      sign: (message) => Promise.resolve().then(() => signNow(message)),
    }
    bySeed.set(identity, signer)
  }
  return signer
}
