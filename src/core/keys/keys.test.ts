import { createHmac, createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { concatBytes, fromBase64Url, hexToBytes, utf8 } from '../bytes'
import { CryptoError, IdentityError, type Result } from '../errors'
import { didKeyFromPublicKey, generateIdentity, identityFromSeed, verify } from '../identity'
import { seedSigner } from '../signer'
import {
  AEAD_OVERHEAD,
  SEAL_OVERHEAD,
  decrypt,
  deriveKey,
  encrypt,
  equalBytes,
  keyedTag,
  openSealed,
  randomKey,
  seal,
  sealTo,
  seedKeyStore,
  x25519PublicFromEd25519,
  x25519SecretFromSeed,
} from './index'

const CTX = utf8('space:abc/epoch:1')
const MSG = utf8('hello') // short, so every bit of the box can be flipped

function expectBad(r: Result<unknown>): CryptoError {
  expect(r.ok).toBe(false)
  if (r.ok) throw new Error('unreachable')
  expect(r.error).toBeInstanceOf(CryptoError)
  expect(r.error.name).toBe('CryptoError')
  expect(r.error.code).toBe('BAD_CIPHERTEXT')
  return r.error as CryptoError
}

function expectOpens(r: Result<Uint8Array>, expected: Uint8Array): void {
  if (!r.ok) throw new Error(`expected the box to open: ${r.error.message}`)
  expect(Array.from(r.value)).toEqual(Array.from(expected))
}

function flipBit(box: Uint8Array, bit: number): Uint8Array {
  const out = box.slice()
  out[bit >> 3] = (out[bit >> 3] as number) ^ (1 << (bit & 7))
  return out
}

/** Each identity's X25519 pair, as the recipient holds it. */
function recipient(seed: Uint8Array): { secret: Uint8Array; pub: Uint8Array; did: string } {
  const id = identityFromSeed(seed)
  return {
    secret: x25519SecretFromSeed(id.seed),
    pub: x25519PublicFromEd25519(id.publicKey),
    did: id.id,
  }
}

const SEED_A = hexToBytes('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
const SEED_B = hexToBytes('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb')
const A = identityFromSeed(SEED_A)
const B = identityFromSeed(SEED_B)
const rA = recipient(SEED_A)
const rB = recipient(SEED_B)

describe('aead', () => {
  const key = randomKey()

  it('round trips, with and without aad, including the empty message', () => {
    for (const msg of [new Uint8Array(0), MSG, new Uint8Array(10_000).fill(7)]) {
      const box = encrypt(key, msg)
      expect(box.length).toBe(msg.length + AEAD_OVERHEAD)
      expect(box[0]).toBe(1)
      expectOpens(decrypt(key, box), msg)
      const withAad = encrypt(key, msg, CTX)
      expectOpens(decrypt(key, withAad, CTX), msg)
    }
  })

  it('uses a fresh nonce: the same message encrypts differently', () => {
    const a = encrypt(key, MSG)
    const b = encrypt(key, MSG)
    expect(equalBytes(a, b)).toBe(false)
    expect(equalBytes(a.subarray(1, 25), b.subarray(1, 25))).toBe(false)
  })

  it('refuses a wrong key, a wrong or missing aad', () => {
    const box = encrypt(key, MSG, CTX)
    expectBad(decrypt(randomKey(), box, CTX))
    expectBad(decrypt(key, box, utf8('space:abc/epoch:2')))
    expectBad(decrypt(key, box))
    expectBad(decrypt(key, encrypt(key, MSG), CTX))
  })

  it('refuses every single-bit flip', () => {
    const box = encrypt(key, MSG, CTX)
    let refused = 0
    for (let bit = 0; bit < box.length * 8; bit++) {
      const r = decrypt(key, flipBit(box, bit), CTX)
      if (!r.ok && r.error.code === 'BAD_CIPHERTEXT') refused++
    }
    expect(refused).toBe(box.length * 8)
    expectOpens(decrypt(key, box, CTX), MSG)
  })

  it('refuses every truncation and an extra byte', () => {
    const box = encrypt(key, MSG)
    for (let n = 0; n < box.length; n++) expectBad(decrypt(key, box.subarray(0, n)))
    expectBad(decrypt(key, concatBytes([box, new Uint8Array(1)])))
  })

  it('refuses a wrong version byte', () => {
    const box = encrypt(key, MSG)
    for (const v of [0x00, 0x02, 0xff]) {
      const other = box.slice()
      other[0] = v
      expect(expectBad(decrypt(key, other)).message).toMatch(/version/)
    }
  })

  it('returns an error, not a throw, for a key of the wrong size', () => {
    const box = encrypt(key, MSG)
    expectBad(decrypt(key.subarray(0, 31), box))
    expect(() => encrypt(key.subarray(0, 31), MSG)).toThrow(RangeError)
  })
})

describe('deriveKey', () => {
  const key = hexToBytes('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')

  it('is HKDF-SHA256(key, empty salt, "orrery/" + label ‖ 0 ‖ context): checked against node:crypto', () => {
    const expected = new Uint8Array(
      hkdfSync('sha256', key, new Uint8Array(0), utf8('orrery/doc/v1\0space-1'), 32),
    )
    expect(Array.from(deriveKey(key, 'doc/v1', utf8('space-1')))).toEqual(Array.from(expected))
    // the zero byte ends the label: a label that starts another cannot pass for it
    expect(deriveKey(key, 'doc', utf8('x'))).not.toEqual(deriveKey(key, 'docx'))
  })

  it('is deterministic and differs per label and per context', () => {
    const k = deriveKey(key, 'doc/v1', utf8('x'))
    expect(k.length).toBe(32)
    expect(equalBytes(k, deriveKey(key, 'doc/v1', utf8('x')))).toBe(true)
    expect(equalBytes(k, deriveKey(key, 'index/v1', utf8('x')))).toBe(false)
    expect(equalBytes(k, deriveKey(key, 'doc/v1', utf8('y')))).toBe(false)
    expect(equalBytes(k, deriveKey(key, 'doc/v1'))).toBe(false)
    expect(equalBytes(k, deriveKey(randomKey(), 'doc/v1', utf8('x')))).toBe(false)
    expect(equalBytes(k, key)).toBe(false)
  })
})

describe('keyedTag', () => {
  const key = randomKey()

  it('length-prefixes the parts: ("ab", "c") and ("a", "bc") differ', () => {
    const t1 = keyedTag(key, utf8('ab'), utf8('c'))
    const t2 = keyedTag(key, utf8('a'), utf8('bc'))
    expect(t1.length).toBe(32)
    expect(equalBytes(t1, t2)).toBe(false)
    expect(equalBytes(keyedTag(key, utf8('abc')), t1)).toBe(false)
    expect(equalBytes(keyedTag(key), keyedTag(key, new Uint8Array(0)))).toBe(false)
  })

  it('is HMAC-SHA256 over 4-byte big-endian length ‖ part, deterministic, keyed', () => {
    const expected = createHmac('sha256', key)
      .update(Uint8Array.of(0, 0, 0, 2, 0x61, 0x62, 0, 0, 0, 1, 0x63))
      .digest()
    const tag = keyedTag(key, utf8('ab'), utf8('c'))
    expect(Array.from(tag)).toEqual(Array.from(expected))
    expect(equalBytes(tag, keyedTag(key, utf8('ab'), utf8('c')))).toBe(true)
    expect(equalBytes(tag, keyedTag(randomKey(), utf8('ab'), utf8('c')))).toBe(false)
  })
})

describe('equalBytes', () => {
  it('compares contents and lengths', () => {
    expect(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3))).toBe(true)
    expect(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4))).toBe(false)
    expect(equalBytes(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2))).toBe(false)
    expect(equalBytes(new Uint8Array(0), new Uint8Array(0))).toBe(true)
  })
})

describe('sealing keys', () => {
  it('the X25519 secret and public key agree (the public key comes from the did:key alone)', () => {
    // an independent X25519 (node:crypto / OpenSSL) computes the public key of the converted
    // secret, imported as pkcs8 as WebCrypto will import it
    const pkcs8 = concatBytes([hexToBytes('302e020100300506032b656e04220420'), rA.secret])
    const priv = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
    const jwk = createPublicKey(priv).export({ format: 'jwk' })
    const fromOpenSsl = fromBase64Url(jwk.x as string)
    expect(fromOpenSsl).toBeDefined()
    expect(Array.from(rA.pub)).toEqual(Array.from(fromOpenSsl as Uint8Array))
    expect(rA.pub.length).toBe(32)
    expect(equalBytes(rA.pub, rB.pub)).toBe(false)
  })

  it('the X25519 secret is a 32-byte copy, not a view of a larger buffer', () => {
    const s = x25519SecretFromSeed(SEED_A)
    expect(s.length).toBe(32)
    expect(s.buffer.byteLength).toBe(32)
  })
})

describe('seal / openSealed', () => {
  it('round trips for the recipient, including the empty message', () => {
    for (const msg of [new Uint8Array(0), MSG, randomKey()]) {
      const box = seal(A.publicKey, msg, CTX)
      expect(box.length).toBe(msg.length + SEAL_OVERHEAD)
      expect(box[0]).toBe(1)
      expectOpens(openSealed(rA.secret, rA.pub, box, CTX), msg)
    }
  })

  it('uses a fresh ephemeral key per box', () => {
    const a = seal(A.publicKey, MSG, CTX)
    const b = seal(A.publicKey, MSG, CTX)
    expect(equalBytes(a.subarray(1, 33), b.subarray(1, 33))).toBe(false)
  })

  it('a box sealed to A does not open with B', () => {
    const box = seal(A.publicKey, MSG, CTX)
    expectBad(openSealed(rB.secret, rB.pub, box, CTX))
    // nor with B's secret claiming A's public key, nor A's secret with B's public key
    expectBad(openSealed(rB.secret, rA.pub, box, CTX))
    expectBad(openSealed(rA.secret, rB.pub, box, CTX))
  })

  it('a different context fails', () => {
    const box = seal(A.publicKey, MSG, CTX)
    expectBad(openSealed(rA.secret, rA.pub, box, utf8('space:abc/epoch:2')))
    expectBad(openSealed(rA.secret, rA.pub, box, new Uint8Array(0)))
    expectBad(openSealed(rA.secret, rA.pub, seal(A.publicKey, MSG, new Uint8Array(0)), CTX))
  })

  it('refuses every single-bit flip', () => {
    const box = seal(A.publicKey, MSG, CTX)
    let refused = 0
    for (let bit = 0; bit < box.length * 8; bit++) {
      const r = openSealed(rA.secret, rA.pub, flipBit(box, bit), CTX)
      if (!r.ok && r.error.code === 'BAD_CIPHERTEXT') refused++
    }
    expect(refused).toBe(box.length * 8)
    expectOpens(openSealed(rA.secret, rA.pub, box, CTX), MSG)
  })

  it('refuses every truncation and an extra byte', () => {
    const box = seal(A.publicKey, MSG, CTX)
    for (let n = 0; n < box.length; n++)
      expectBad(openSealed(rA.secret, rA.pub, box.subarray(0, n), CTX))
    expectBad(openSealed(rA.secret, rA.pub, concatBytes([box, new Uint8Array(1)]), CTX))
  })

  it('refuses a wrong version byte', () => {
    const box = seal(A.publicKey, MSG, CTX)
    for (const v of [0x00, 0x02, 0xff]) {
      const other = box.slice()
      other[0] = v
      expect(expectBad(openSealed(rA.secret, rA.pub, other, CTX)).message).toMatch(/version/)
    }
  })

  it('refuses an all-zero or other low-order ephemeral key without throwing', () => {
    const box = seal(A.publicKey, MSG, CTX)
    const lowOrder = [
      new Uint8Array(32), // u = 0
      concatBytes([Uint8Array.of(1), new Uint8Array(31)]), // u = 1
      hexToBytes('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'), // order 8
    ]
    for (const eph of lowOrder) {
      const forged = box.slice()
      forged.set(eph, 1)
      let r: Result<Uint8Array> | undefined
      expect(() => (r = openSealed(rA.secret, rA.pub, forged, CTX))).not.toThrow()
      expectBad(r as Result<Uint8Array>)
    }
  })
})

describe('sealTo', () => {
  it('seals to a did:key, for its holder only', () => {
    const r = sealTo(A.id, MSG, CTX)
    if (!r.ok) throw new Error(r.error.message)
    expectOpens(openSealed(rA.secret, rA.pub, r.value, CTX), MSG)
    expectBad(openSealed(rB.secret, rB.pub, r.value, CTX))
  })

  it('gives an IdentityError result for a malformed or unusable did', () => {
    const bad = [
      '',
      'did:web:example.com',
      'did:key:zNotBase58!!',
      A.id.slice(0, -3),
      // well-formed did:keys whose keys are unusable: the identity point, and a point of order 4
      didKeyFromPublicKey(concatBytes([Uint8Array.of(1), new Uint8Array(31)])),
      didKeyFromPublicKey(new Uint8Array(32)),
      // not a point on the curve (y = 2 has no x)
      didKeyFromPublicKey(concatBytes([Uint8Array.of(2), new Uint8Array(31)])),
    ]
    for (const did of bad) {
      let r: Result<Uint8Array> | undefined
      expect(() => (r = sealTo(did, MSG, CTX))).not.toThrow()
      expect(r?.ok).toBe(false)
      if (r === undefined || r.ok) continue
      expect(r.error).toBeInstanceOf(IdentityError)
      expect(r.error.code).toBe('IDENTITY_CORRUPT')
    }
  })
})

describe('seedKeyStore', () => {
  it('unseals what sealTo(did) sealed, and only that', async () => {
    const id = generateIdentity()
    const store = seedKeyStore(id)
    expect(store.did).toBe(id.id)
    const r = sealTo(id.id, MSG, CTX)
    if (!r.ok) throw new Error(r.error.message)
    expectOpens(await store.unseal(r.value, CTX), MSG)
    expectBad(await store.unseal(r.value, utf8('other')))
    expectBad(await store.unseal(seal(A.publicKey, MSG, CTX), CTX))
    expectBad(await store.unseal(new Uint8Array(3), CTX))
  })

  it('its signer is the identity signer and verifies with identity.verify', async () => {
    const id = generateIdentity()
    const store = seedKeyStore(id)
    expect(store.signer).toBe(seedSigner(id))
    const sig = await store.signer.sign(MSG)
    expect(verify(id.publicKey, MSG, sig)).toBe(true)
    expect(verify(id.publicKey, utf8('hellp'), sig)).toBe(false)
    expect(verify(B.publicKey, MSG, sig)).toBe(false)
  })

  it('its sealing public key is x25519PublicFromEd25519(publicKey)', () => {
    const store = seedKeyStore(A)
    expect(Array.from(store.publicKey)).toEqual(Array.from(A.publicKey))
    expect(Array.from(store.sealingPublicKey)).toEqual(
      Array.from(x25519PublicFromEd25519(A.publicKey)),
    )
    expect(Array.from(store.sealingPublicKey)).toEqual(Array.from(rA.pub))
  })

  it('is memoised per identity object', () => {
    const id = generateIdentity()
    expect(seedKeyStore(id)).toBe(seedKeyStore(id))
    expect(seedKeyStore(identityFromSeed(id.seed))).not.toBe(seedKeyStore(id))
  })
})
