import { describe, expect, it } from 'vitest'
import { concatBytes, hexToBytes, utf8 } from '../bytes'
import { CryptoError, IdentityError, type Result } from '../errors'
import { didKeyFromPublicKey, generateIdentity, type Identity } from '../identity'
import {
  SEAL_OVERHEAD,
  equalBytes,
  openSealed,
  sealTo,
  sealToMany,
  seedKeyStore,
  x25519PublicFromEd25519,
  x25519SecretFromSeed,
} from './index'
import { detectNativeX25519, hasNativeX25519 } from './seal-many'
import { sealWithShared } from './seal'

const CTX = utf8('space:abc/epoch:2')
const KEY = hexToBytes('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')

/** Both paths: WebCrypto's X25519 (the default here: Node has it) and seal.ts's noble one. */
const PATHS = [
  { name: 'native', native: true },
  { name: 'fallback', native: false },
] as const

/** Opens `box` as `id` holds it: its X25519 pair, derived from its seed. */
function openAs(id: Identity, box: Uint8Array, context = CTX): Result<Uint8Array> {
  return openSealed(
    x25519SecretFromSeed(id.seed),
    x25519PublicFromEd25519(id.publicKey),
    box,
    context,
  )
}

function boxOf(r: Result<Uint8Array> | undefined): Uint8Array {
  if (r === undefined) throw new Error('no entry for this did')
  if (!r.ok) throw new Error(`expected a box: ${r.error.message}`)
  return r.value
}

function expectOpens(r: Result<Uint8Array>, expected: Uint8Array): void {
  if (!r.ok) throw new Error(`expected the box to open: ${r.error.message}`)
  expect(Array.from(r.value)).toEqual(Array.from(expected))
}

function expectBad(r: Result<unknown>): void {
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(CryptoError)
  expect(r.error.code).toBe('BAD_CIPHERTEXT')
}

function expectIdentityError(r: Result<Uint8Array> | undefined): void {
  expect(r?.ok).toBe(false)
  if (r === undefined || r.ok) return
  expect(r.error).toBeInstanceOf(IdentityError)
  expect(r.error.code).toBe('IDENTITY_CORRUPT')
}

const members = Array.from({ length: 6 }, () => generateIdentity())
const dids = members.map((m) => m.id)

const BAD_DIDS = [
  '',
  'not a did',
  'did:web:example.com',
  'did:key:zNotBase58!!',
  (dids[0] as string).slice(0, -3),
  // well-formed did:keys whose keys are unusable: the identity point (no X25519 key), and points
  // of order 4 (u = 1) and 2 (u = 0), which reach the key agreement and are refused there
  didKeyFromPublicKey(concatBytes([Uint8Array.of(1), new Uint8Array(31)])),
  didKeyFromPublicKey(new Uint8Array(32)),
  didKeyFromPublicKey(
    hexToBytes('ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'),
  ),
  // not a point on the curve (y = 2 has no x)
  didKeyFromPublicKey(concatBytes([Uint8Array.of(2), new Uint8Array(31)])),
]

describe('native X25519 detection', () => {
  it('finds WebCrypto X25519 on this Node, so the default path below is the native one', async () => {
    expect(await hasNativeX25519()).toBe(true)
    expect(await detectNativeX25519(globalThis.crypto.subtle)).toBe(true)
  })

  it('says no, without rejecting, where there is no subtle or it lacks X25519', async () => {
    expect(await detectNativeX25519(undefined)).toBe(false)
    const noX25519 = {
      generateKey: () => Promise.reject(new DOMException('Unrecognized name', 'NotSupportedError')),
    } as unknown as SubtleCrypto
    expect(await detectNativeX25519(noX25519)).toBe(false)
  })
})

describe('sealToMany', () => {
  for (const { name, native } of PATHS) {
    describe(`(${name})`, () => {
      it('gives every recipient a box that opens with openSealed and its key store', async () => {
        const boxes = await sealToMany(dids, KEY, CTX, { native })
        expect([...boxes.keys()]).toEqual(dids)
        for (const [i, m] of members.entries()) {
          const box = boxOf(boxes.get(m.id))
          expect(box.length).toBe(SEAL_OVERHEAD + KEY.length)
          expect(box[0]).toBe(0x01)
          expectOpens(openAs(m, box), KEY)
          if (i === 0) expectOpens(await seedKeyStore(m).unseal(box, CTX), KEY)
          // bound to its context, as seal.ts's boxes are
          expectBad(openAs(m, box, utf8('space:abc/epoch:3')))
        }
      })

      it('uses a fresh ephemeral key for every box', async () => {
        const first = await sealToMany(dids, KEY, CTX, { native })
        const again = await sealToMany(dids.slice(0, 1), KEY, CTX, { native })
        const ephemerals = [...first.values(), ...again.values()].map((r) =>
          Array.from(boxOf(r).subarray(1, 33)).join(','),
        )
        expect(new Set(ephemerals).size).toBe(dids.length + 1)
        const a0 = boxOf(first.get(dids[0] as string))
        const a1 = boxOf(again.get(dids[0] as string))
        expect(equalBytes(a0, a1)).toBe(false)
      })

      it("seals A's box for A only", async () => {
        const [a, b] = members as [Identity, Identity]
        const boxes = await sealToMany([a.id, b.id], KEY, CTX, { native })
        const forA = boxOf(boxes.get(a.id))
        const forB = boxOf(boxes.get(b.id))
        expectOpens(openAs(a, forA), KEY)
        expectBad(openAs(b, forA))
        expectBad(openAs(a, forB))
        expectBad(await seedKeyStore(b).unseal(forA, CTX))
      })

      it('gives a malformed or unusable did an IdentityError, and the others their boxes', async () => {
        const mixed = [dids[0] as string, ...BAD_DIDS, dids[1] as string]
        let boxes: Map<string, Result<Uint8Array>> | undefined
        await expect(
          sealToMany(mixed, KEY, CTX, { native }).then((b) => (boxes = b)),
        ).resolves.toBeDefined()
        if (boxes === undefined) return
        expect([...boxes.keys()]).toEqual(mixed)
        for (const did of BAD_DIDS) {
          const r = boxes.get(did)
          expectIdentityError(r)
          // the same error as sealTo's
          const single = sealTo(did, KEY, CTX)
          if (r?.ok === false && !single.ok) expect(r.error.name).toBe(single.error.name)
        }
        expectOpens(openAs(members[0] as Identity, boxOf(boxes.get(dids[0] as string))), KEY)
        expectOpens(openAs(members[1] as Identity, boxOf(boxes.get(dids[1] as string))), KEY)
      })

      it('gives an empty map for no recipients, and one box per distinct did', async () => {
        expect((await sealToMany([], KEY, CTX, { native })).size).toBe(0)
        const [a, b] = dids as [string, string]
        const boxes = await sealToMany([a, b, a], KEY, CTX, { native })
        expect([...boxes.keys()]).toEqual([a, b])
        expectOpens(openAs(members[0] as Identity, boxOf(boxes.get(a))), KEY)
      })
    })
  }

  it('uses the native path by default, and its boxes open like the fallback ones', async () => {
    const [a] = members as [Identity]
    const byDefault = boxOf((await sealToMany([a.id], KEY, CTX)).get(a.id))
    const fallback = boxOf((await sealToMany([a.id], KEY, CTX, { native: false })).get(a.id))
    expectOpens(openAs(a, byDefault), KEY)
    expectOpens(openAs(a, fallback), KEY)
  })

  it('seals an empty or large plaintext too', async () => {
    const [a] = members as [Identity]
    for (const msg of [new Uint8Array(0), new Uint8Array(10_000).fill(7)]) {
      const box = boxOf((await sealToMany([a.id], msg, CTX)).get(a.id))
      expect(box.length).toBe(SEAL_OVERHEAD + msg.length)
      expectOpens(openAs(a, box), msg)
    }
  })
})

describe('sealWithShared', () => {
  it('refuses an all-zero shared secret (a low-order key a platform did not refuse)', () => {
    const [a] = members as [Identity]
    const recipientPub = x25519PublicFromEd25519(a.publicKey)
    expect(() =>
      sealWithShared(new Uint8Array(32).fill(9), new Uint8Array(32), recipientPub, KEY, CTX),
    ).toThrow(/low order/)
  })
})
