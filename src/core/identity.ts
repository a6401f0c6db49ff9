/**
 * The user's long-lived identity: an Ed25519 key pair, named by its did:key. It signs; it never
 * travels. Each tab's libp2p node has its own short-lived key, certified by this identity (see
 * tab-cert.ts), so signatures name the person and transport keys name the tab.
 *
 * Export formats: a 24-word phrase (BIP-39 English words over the 32-byte seed, with its checksum)
 * and a JSON file. Imports are fully checked before anything is replaced.
 */
import { ed25519 } from '@noble/curves/ed25519.js'
import { entropyToMnemonic, mnemonicToEntropy, validateMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { concatBytes, fromBase58, fromBase64Url, randomBytes, toBase58, toBase64Url } from './bytes'
import { IdentityError, type Result, ok, err } from './errors'

export interface Identity {
  /** did:key:z6Mk… */
  id: string
  publicKey: Uint8Array
  /** the 32-byte Ed25519 seed (private) */
  seed: Uint8Array
  createdAt: number
}

const ED25519_PUB_MULTICODEC = new Uint8Array([0xed, 0x01])

export function didKeyFromPublicKey(pub: Uint8Array): string {
  return 'did:key:z' + toBase58(concatBytes([ED25519_PUB_MULTICODEC, pub]))
}

export function publicKeyFromDidKey(did: string): Result<Uint8Array> {
  const bad = err(
    new IdentityError('IDENTITY_CORRUPT', `not an Ed25519 did:key: ${String(did).slice(0, 80)}`),
  )
  if (typeof did !== 'string' || !did.startsWith('did:key:z')) return bad
  const raw = fromBase58(did.slice('did:key:z'.length))
  if (raw === undefined || raw.length !== 34 || raw[0] !== 0xed || raw[1] !== 0x01) return bad
  return ok(raw.slice(2))
}

export function identityFromSeed(seed: Uint8Array, createdAt = Date.now()): Identity {
  if (seed.length !== 32)
    throw new IdentityError('IDENTITY_CORRUPT', 'an identity seed is 32 bytes')
  const publicKey = ed25519.getPublicKey(seed)
  return { id: didKeyFromPublicKey(publicKey), publicKey, seed: seed.slice(), createdAt }
}

export function generateIdentity(): Identity {
  return identityFromSeed(randomBytes(32))
}

export function sign(identity: Identity, message: Uint8Array): Uint8Array {
  return ed25519.sign(message, identity.seed)
}

export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false
  try {
    return ed25519.verify(signature, message, publicKey)
  } catch {
    return false
  }
}

// ---- export and import -------------------------------------------------------------------------

export function exportPhrase(identity: Identity): string {
  return entropyToMnemonic(identity.seed, wordlist)
}

export function importPhrase(phrase: string): Result<Identity> {
  const words = String(phrase).trim().toLowerCase().split(/\s+/).join(' ')
  const count = words === '' ? 0 : words.split(' ').length
  if (count !== 24) {
    return err(
      new IdentityError(
        'IDENTITY_CORRUPT',
        `a recovery phrase has 24 words; this one has ${count}`,
      ),
    )
  }
  const unknown = words.split(' ').filter((w) => !wordlist.includes(w))
  if (unknown.length > 0) {
    return err(
      new IdentityError(
        'IDENTITY_CORRUPT',
        `not recovery-phrase words: ${unknown.slice(0, 3).join(', ')}`,
      ),
    )
  }
  if (!validateMnemonic(words, wordlist)) {
    return err(
      new IdentityError(
        'IDENTITY_CORRUPT',
        'the recovery phrase has a typo (its checksum does not match)',
      ),
    )
  }
  return ok(identityFromSeed(mnemonicToEntropy(words, wordlist)))
}

export interface IdentityFile {
  format: 'orrery-identity'
  version: 1
  id: string
  seed: string
  createdAt: number
}

export function exportFile(identity: Identity): string {
  const file: IdentityFile = {
    format: 'orrery-identity',
    version: 1,
    id: identity.id,
    seed: toBase64Url(identity.seed),
    createdAt: identity.createdAt,
  }
  return JSON.stringify(file, null, 2)
}

export function importFile(text: string): Result<Identity> {
  const bad = (why: string): Result<Identity> =>
    err(new IdentityError('IDENTITY_CORRUPT', `not a usable identity file: ${why}`))
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return bad('it is not JSON')
  }
  if (data === null || typeof data !== 'object') return bad('it is not an object')
  const f = data as Partial<IdentityFile>
  if (f.format !== 'orrery-identity') return bad('wrong format marker')
  if (f.version !== 1) return bad(`unsupported version ${String(f.version)}`)
  if (typeof f.seed !== 'string' || typeof f.id !== 'string') return bad('missing seed or id')
  const seed = fromBase64Url(f.seed)
  if (seed === undefined || seed.length !== 32) return bad('the seed is damaged')
  const identity = identityFromSeed(
    seed,
    typeof f.createdAt === 'number' ? f.createdAt : Date.now(),
  )
  if (identity.id !== f.id) return bad('the seed does not match the id (damaged or edited)')
  return ok(identity)
}

/** Accepts either export format. */
export function importIdentity(input: string): Result<Identity> {
  return String(input).trim().startsWith('{') ? importFile(input) : importPhrase(input)
}
