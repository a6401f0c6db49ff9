import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { entropyToMnemonic } from '@scure/bip39'
import { wordlist } from '@scure/bip39/wordlists/english.js'
import { bytesToHex, hexToBytes, toBase58, toBase64Url, utf8 } from './bytes'
import { IdentityError, type OrreryError, type Result } from './errors'
import {
  didKeyFromPublicKey,
  exportFile,
  exportPhrase,
  generateIdentity,
  identityFromSeed,
  importFile,
  importIdentity,
  importPhrase,
  publicKeyFromDidKey,
  sign,
  verify,
  type Identity,
} from './identity'

// Ed25519 in pure JS costs a millisecond or two per operation: few runs for the key properties
const FC = { seed: 0x1de, numRuns: 30 }
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

// RFC 8032, section 7.1, test 1
const RFC_SEED = hexToBytes('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60')
const RFC_PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const RFC_SIG =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'

function expectCorrupt(r: Result<unknown>, message?: RegExp): OrreryError {
  expect(r.ok).toBe(false)
  if (r.ok) throw new Error('unreachable')
  expect(r.error).toBeInstanceOf(IdentityError)
  expect(r.error.code).toBe('IDENTITY_CORRUPT')
  if (message !== undefined) expect(r.error.message).toMatch(message)
  return r.error
}

function expectSame(r: Result<Identity>, want: Identity, checkCreatedAt = false): void {
  if (!r.ok) throw new Error(`expected an identity, got ${r.error.message}`)
  expect(r.value.id).toBe(want.id)
  expect(bytesToHex(r.value.publicKey)).toBe(bytesToHex(want.publicKey))
  expect(bytesToHex(r.value.seed)).toBe(bytesToHex(want.seed))
  if (checkCreatedAt) expect(r.value.createdAt).toBe(want.createdAt)
}

const fixed = identityFromSeed(RFC_SEED, 1_700_000_000_000)

describe('keys and signatures', () => {
  it('derives the RFC 8032 public key and signature from the seed', () => {
    expect(bytesToHex(fixed.publicKey)).toBe(RFC_PUB)
    expect(bytesToHex(sign(fixed, new Uint8Array(0)))).toBe(RFC_SIG)
    expect(verify(fixed.publicKey, new Uint8Array(0), hexToBytes(RFC_SIG))).toBe(true)
  })

  it('generates distinct 32-byte identities named by did:key', () => {
    const a = generateIdentity()
    const b = generateIdentity()
    expect(a.seed.length).toBe(32)
    expect(a.publicKey.length).toBe(32)
    expect(a.id).toMatch(/^did:key:z6Mk[1-9A-HJ-NP-Za-km-z]+$/)
    expect(a.id).not.toBe(b.id)
    expect(Math.abs(a.createdAt - Date.now())).toBeLessThan(60_000)
  })

  it('copies the seed it was given', () => {
    const seed = new Uint8Array(32).fill(5)
    const id = identityFromSeed(seed)
    seed.fill(0)
    expect(id.seed).toEqual(new Uint8Array(32).fill(5))
  })

  it('refuses seeds that are not 32 bytes', () => {
    for (const n of [0, 16, 31, 33, 64]) {
      expect(() => identityFromSeed(new Uint8Array(n))).toThrow(IdentityError)
    }
  })

  it('signs and verifies any message', () => {
    fc.assert(
      fc.property(seedArb, fc.uint8Array({ maxLength: 200 }), (seed, msg) => {
        const id = identityFromSeed(seed, 0)
        const sig = sign(id, msg)
        expect(sig.length).toBe(64)
        expect(verify(id.publicKey, msg, sig)).toBe(true)
      }),
      FC,
    )
  })

  it('rejects a wrong key, a changed message or a changed signature', () => {
    fc.assert(
      fc.property(
        seedArb,
        seedArb,
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (seedA, seedB, msg, at, xor) => {
          fc.pre(bytesToHex(seedA) !== bytesToHex(seedB))
          const a = identityFromSeed(seedA, 0)
          const b = identityFromSeed(seedB, 0)
          const sig = sign(a, msg)
          expect(verify(b.publicKey, msg, sig)).toBe(false)
          const msg2 = msg.slice()
          msg2[at % msg2.length] = (msg2[at % msg2.length] ?? 0) ^ xor
          expect(verify(a.publicKey, msg2, sig)).toBe(false)
          const sig2 = sig.slice()
          sig2[at % 64] = (sig2[at % 64] ?? 0) ^ xor
          expect(verify(a.publicKey, msg, sig2)).toBe(false)
          expect(verify(a.publicKey, utf8('other'), sig)).toBe(false)
        },
      ),
      { ...FC, numRuns: 12 },
    )
  })

  it('returns false, without throwing, for malformed keys and signatures', () => {
    const msg = utf8('hello')
    const sig = sign(fixed, msg)
    expect(verify(fixed.publicKey.subarray(0, 31), msg, sig)).toBe(false)
    expect(verify(new Uint8Array(33), msg, sig)).toBe(false)
    expect(verify(new Uint8Array(0), msg, sig)).toBe(false)
    expect(verify(fixed.publicKey, msg, sig.subarray(0, 63))).toBe(false)
    expect(verify(fixed.publicKey, msg, new Uint8Array([...sig, 0]))).toBe(false)
    expect(verify(fixed.publicKey, msg, new Uint8Array(0))).toBe(false)
    // 32 and 64 bytes, but not a point / not a valid scalar
    expect(verify(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false)
    expect(verify(fixed.publicKey, msg, new Uint8Array(64).fill(0xff))).toBe(false)
    expect(verify(fixed.publicKey, msg, new Uint8Array(64))).toBe(false)
  })

  it('never throws on arbitrary keys and signatures of the right length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.uint8Array({ maxLength: 40 }),
        (pub, sig, msg) => {
          expect(verify(pub, msg, sig)).toBe(false)
        },
      ),
      FC,
    )
  })
})

describe('did:key', () => {
  it('round-trips public keys', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (pub) => {
        const did = didKeyFromPublicKey(pub)
        expect(did.startsWith('did:key:z6Mk')).toBe(true)
        expect(publicKeyFromDidKey(did)).toEqual({ ok: true, value: pub })
      }),
      FC,
    )
    expect(publicKeyFromDidKey(fixed.id)).toEqual({ ok: true, value: fixed.publicKey })
  })

  it('rejects strings that are not Ed25519 did:keys', () => {
    const other = (prefix: number[], key: Uint8Array): string =>
      'did:key:z' + toBase58(new Uint8Array([...prefix, ...key]))
    const bad = [
      '',
      'did:key:',
      'did:key:z',
      'did:web:example.com',
      fixed.id.replace('did:key:z', 'did:key:m'), // multibase other than base58btc
      fixed.id.slice(0, -1), // one character short: 33 bytes
      fixed.id + '1', // one character more
      fixed.id.replace(/.$/, '0'), // "0" is not base58
      other([0xe7, 0x01], fixed.publicKey), // secp256k1 multicodec
      other([0xed], fixed.publicKey),
      other([0xed, 0x01], fixed.publicKey.subarray(0, 31)),
    ]
    for (const s of bad) expectCorrupt(publicKeyFromDidKey(s), /not an Ed25519 did:key/)
  })

  it('rejects a non-string without throwing', () => {
    expectCorrupt(publicKeyFromDidKey(42 as unknown as string))
    expectCorrupt(publicKeyFromDidKey(undefined as unknown as string))
  })
})

describe('recovery phrase', () => {
  it('matches the BIP-39 test vectors', () => {
    const zero = identityFromSeed(new Uint8Array(32))
    expect(exportPhrase(zero)).toBe('abandon '.repeat(23) + 'art')
    const ones = identityFromSeed(new Uint8Array(32).fill(0xff))
    expect(exportPhrase(ones)).toBe('zoo '.repeat(23) + 'vote')
  })

  it('round-trips any seed through 24 words', () => {
    fc.assert(
      fc.property(seedArb, (seed) => {
        const id = identityFromSeed(seed, 0)
        const phrase = exportPhrase(id)
        const words = phrase.split(' ')
        expect(words).toHaveLength(24)
        for (const w of words) expect(wordlist).toContain(w)
        expectSame(importPhrase(phrase), id)
      }),
      FC,
    )
  })

  it('tolerates extra whitespace, line breaks and capitals', () => {
    const words = exportPhrase(fixed).split(' ')
    const messy = '  \n' + words.map((w, i) => (i % 2 ? w.toUpperCase() : w)).join(' \t\n ') + '  '
    expectSame(importPhrase(messy), fixed)
  })

  it('names the word count when it is not 24', () => {
    const words = exportPhrase(fixed).split(' ')
    expectCorrupt(importPhrase(words.slice(0, 23).join(' ')), /24 words; this one has 23/)
    expectCorrupt(importPhrase([...words, 'abandon'].join(' ')), /this one has 25/)
    expectCorrupt(importPhrase(words.slice(0, 12).join(' ')), /this one has 12/)
    expectCorrupt(importPhrase(''), /this one has 0/)
    expectCorrupt(importPhrase('   \n '), /this one has 0/)
  })

  it('names the words that are not in the word list', () => {
    const words = exportPhrase(fixed).split(' ')
    words[5] = 'orrery'
    words[9] = 'abandonn'
    const e = expectCorrupt(importPhrase(words.join(' ')), /not recovery-phrase words/)
    expect(e.message).toContain('orrery')
    expect(e.message).toContain('abandonn')
    // at most three are listed
    const many = Array.from({ length: 24 }, (_, i) => `bogus${i}`).join(' ')
    const e2 = expectCorrupt(importPhrase(many))
    expect(e2.message).toBe('not recovery-phrase words: bogus0, bogus1, bogus2')
  })

  it('detects a changed word with the checksum', () => {
    // the last word carries the checksum; replacing it with a wrong one is caught
    const words = exportPhrase(fixed).split(' ')
    const last = words[23] ?? ''
    const wrong = wordlist.find(
      (w) => w !== last && importPhrase([...words.slice(0, 23), w].join(' ')).ok === false,
    )
    expect(wrong).toBeDefined()
    expectCorrupt(importPhrase([...words.slice(0, 23), wrong ?? ''].join(' ')), /typo.*checksum/)
  })

  it('detects swapped words (checksum), almost always', () => {
    // an 8-bit checksum misses about 1 swap in 256: count, and check that a missed swap at least
    // yields another identity rather than silently the same one
    let caught = 0
    let runs = 0
    fc.assert(
      fc.property(seedArb, fc.nat({ max: 23 }), fc.nat({ max: 23 }), (seed, i, j) => {
        // (the phrase straight from the seed: no key derivation unless the import succeeds)
        const words = entropyToMnemonic(seed, wordlist).split(' ')
        fc.pre(words[i] !== words[j])
        ;[words[i], words[j]] = [words[j] ?? '', words[i] ?? '']
        runs++
        const r = importPhrase(words.join(' '))
        if (!r.ok) {
          caught++
          expectCorrupt(r, /the recovery phrase has a typo \(its checksum does not match\)/)
        } else {
          expect(bytesToHex(r.value.seed)).not.toBe(bytesToHex(seed))
        }
      }),
      { seed: 7, numRuns: 300 },
    )
    expect(runs).toBeGreaterThan(250)
    expect(caught / runs).toBeGreaterThan(0.97)
  })

  it('detects this particular swap of the first two words', () => {
    const words = exportPhrase(fixed).split(' ')
    expect(words[0]).not.toBe(words[1])
    ;[words[0], words[1]] = [words[1] ?? '', words[0] ?? '']
    expectCorrupt(importPhrase(words.join(' ')), /checksum/)
  })
})

describe('identity file', () => {
  it('round-trips identities, creation time included', () => {
    fc.assert(
      fc.property(seedArb, fc.nat({ max: 2 ** 45 }), (seed, createdAt) => {
        const id = identityFromSeed(seed, createdAt)
        const text = exportFile(id)
        const parsed = JSON.parse(text) as Record<string, unknown>
        expect(parsed).toEqual({
          format: 'orrery-identity',
          version: 1,
          id: id.id,
          seed: toBase64Url(seed),
          createdAt,
        })
        expectSame(importFile(text), id, true)
      }),
      FC,
    )
  })

  it('uses the current time when the file has no creation time', () => {
    const data = JSON.parse(exportFile(fixed)) as Record<string, unknown>
    delete data.createdAt
    const r = importFile(JSON.stringify(data))
    expectSame(r, fixed)
    if (r.ok) expect(Math.abs(r.value.createdAt - Date.now())).toBeLessThan(60_000)
  })

  const edit = (changes: Record<string, unknown>): string =>
    JSON.stringify({ ...(JSON.parse(exportFile(fixed)) as object), ...changes })

  it('rejects text that is not JSON or not an object', () => {
    expectCorrupt(importFile(''), /not a usable identity file: it is not JSON/)
    expectCorrupt(importFile('{"format": "orrery-identity",'), /it is not JSON/)
    expectCorrupt(importFile('null'), /it is not an object/)
    expectCorrupt(importFile('42'), /it is not an object/)
    expectCorrupt(importFile('"orrery-identity"'), /it is not an object/)
    expectCorrupt(importFile('[]'), /wrong format marker/)
  })

  it('rejects a wrong format marker or version', () => {
    expectCorrupt(importFile(edit({ format: 'other' })), /wrong format marker/)
    expectCorrupt(importFile(edit({ format: undefined })), /wrong format marker/)
    expectCorrupt(importFile(edit({ version: 2 })), /unsupported version 2/)
    expectCorrupt(importFile(edit({ version: '1' })), /unsupported version 1/)
    expectCorrupt(importFile(edit({ version: undefined })), /unsupported version undefined/)
  })

  it('rejects a missing or damaged seed', () => {
    expectCorrupt(importFile(edit({ seed: undefined })), /missing seed or id/)
    expectCorrupt(importFile(edit({ seed: 12 })), /missing seed or id/)
    expectCorrupt(importFile(edit({ id: undefined })), /missing seed or id/)
    const seed = toBase64Url(fixed.seed)
    expectCorrupt(importFile(edit({ seed: seed.slice(0, -2) })), /the seed is damaged/) // 31 bytes
    expectCorrupt(importFile(edit({ seed: seed + 'AA' })), /the seed is damaged/) // 33 bytes
    expectCorrupt(importFile(edit({ seed: seed.replace(/^./, '!') })), /the seed is damaged/)
    expectCorrupt(importFile(edit({ seed: seed + '=' })), /the seed is damaged/)
    expectCorrupt(importFile(edit({ seed: '' })), /the seed is damaged/)
  })

  it('rejects a seed that does not match the id', () => {
    const other = identityFromSeed(new Uint8Array(32).fill(3))
    expectCorrupt(importFile(edit({ id: other.id })), /does not match the id/)
    expectCorrupt(importFile(edit({ seed: toBase64Url(other.seed) })), /does not match the id/)
    // one changed character in the seed: a different key, so a different id
    const seed = toBase64Url(fixed.seed)
    const flipped = (seed[3] === 'A' ? 'B' : 'A') + ''
    const damaged = seed.slice(0, 3) + flipped + seed.slice(4)
    expectCorrupt(importFile(edit({ seed: damaged })), /does not match the id/)
  })
})

describe('importIdentity', () => {
  it('reads either export format', () => {
    expectSame(importIdentity(exportFile(fixed)), fixed, true)
    expectSame(importIdentity('\n  ' + exportFile(fixed)), fixed, true)
    expectSame(importIdentity(exportPhrase(fixed)), fixed)
    expectSame(importIdentity(`  ${exportPhrase(fixed)}\n`), fixed)
  })

  it('reports the error of the format the input looks like', () => {
    expectCorrupt(importIdentity('{ not json'), /identity file: it is not JSON/)
    expectCorrupt(importIdentity('  {"format":"x"}'), /wrong format marker/)
    expectCorrupt(importIdentity('abandon abandon'), /24 words; this one has 2/)
    expectCorrupt(importIdentity(''), /this one has 0/)
  })
})
