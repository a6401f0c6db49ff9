/** End-to-end encryption primitives: see aead.ts, seal.ts and key-store.ts. */
export { AEAD_OVERHEAD, decrypt, deriveKey, encrypt, equalBytes, keyedTag, randomKey } from './aead'
export {
  SEAL_OVERHEAD,
  openSealed,
  seal,
  sealTo,
  x25519PublicFromEd25519,
  x25519SecretFromSeed,
} from './seal'
export { sealToMany, type SealManyOptions } from './seal-many'
export { seedKeyStore, type KeyStore } from './key-store'
