import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { concatBytes, hexToBytes, utf8 } from './bytes'
import { IdentityError, type Result } from './errors'
import { identityFromSeed, sign, verify } from './identity'
import { issueTabCert, verifyTabCert, type TabCert } from './tab-cert'

const alice = identityFromSeed(new Uint8Array(32).fill(1), 0)
const mallory = identityFromSeed(new Uint8Array(32).fill(2), 0)
const PEER = '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu'
const OTHER_PEER = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
const PROFILE = 'profile-abc'
const NOW = 1_750_000_000_000
const DAY = 24 * 3600 * 1000
const MINUTE = 60 * 1000

function expectBad(r: Result<string>, message: RegExp): void {
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(IdentityError)
  expect(r.error.code).toBe('BAD_SIGNATURE')
  expect(r.error.message).toMatch(message)
}

const cert = issueTabCert(alice, PEER, PROFILE, NOW)

describe('tab certificates', () => {
  it('is issued for the peer and profile, signed by the identity', () => {
    expect(cert.peerId).toBe(PEER)
    expect(cert.profileId).toBe(PROFILE)
    expect(cert.issuedAt).toBe(NOW)
    expect(cert.identityKey).toEqual(alice.publicKey)
    expect(cert.signature.length).toBe(64)
    expect(verifyTabCert(cert, PEER, NOW)).toEqual({ ok: true, value: alice.id })
  })

  it('is deterministic (Ed25519) and uses the current time by default', () => {
    expect(issueTabCert(alice, PEER, PROFILE, NOW)).toEqual(cert)
    const fresh = issueTabCert(alice, PEER, PROFILE)
    expect(Math.abs(fresh.issuedAt - Date.now())).toBeLessThan(60_000)
    expect(verifyTabCert(fresh, PEER)).toEqual({ ok: true, value: alice.id })
  })

  it('signs a domain-separated message (not usable as a signature over the bare fields)', () => {
    const bare = new TextEncoder().encode(`${PEER}\n${PROFILE}\n${NOW}`)
    expect(verify(alice.publicKey, bare, cert.signature)).toBe(false)
  })

  it('is refused on a connection from another peer', () => {
    expectBad(verifyTabCert(cert, OTHER_PEER, NOW), /another peer/)
    expectBad(verifyTabCert(cert, '', NOW), /another peer/)
    expectBad(verifyTabCert(cert, PEER + ' ', NOW), /another peer/)
  })

  it('is valid for 7 days and refused after', () => {
    expect(verifyTabCert(cert, PEER, NOW + 7 * DAY).ok).toBe(true)
    expectBad(verifyTabCert(cert, PEER, NOW + 7 * DAY + 1), /expired or from the future/)
    expectBad(verifyTabCert(cert, PEER, NOW + 30 * DAY), /expired/)
  })

  it('allows 10 minutes of clock skew into the future, not more', () => {
    expect(verifyTabCert(cert, PEER, NOW - 10 * MINUTE).ok).toBe(true)
    expectBad(verifyTabCert(cert, PEER, NOW - 10 * MINUTE - 1), /from the future/)
    expectBad(verifyTabCert(cert, PEER, NOW - DAY), /from the future/)
  })

  it('accepts any verification time inside the window', () => {
    fc.assert(
      fc.property(fc.integer({ min: -10 * MINUTE, max: 7 * DAY }), (delta) => {
        expect(verifyTabCert(cert, PEER, NOW + delta).ok).toBe(true)
      }),
      { seed: 0x7ab, numRuns: 30 },
    )
  })

  it('is refused when any signed field was changed', () => {
    const tampered: TabCert[] = [
      { ...cert, profileId: 'profile-abd' },
      { ...cert, profileId: '' },
      { ...cert, issuedAt: NOW + 1 },
      { ...cert, issuedAt: NOW - 1 },
      { ...cert, identityKey: mallory.publicKey },
    ]
    for (const t of tampered) expectBad(verifyTabCert(t, PEER, NOW), /does not verify/)
    // a changed peer id: verified against the changed id, the signature fails
    const moved = { ...cert, peerId: OTHER_PEER }
    expectBad(verifyTabCert(moved, OTHER_PEER, NOW), /does not verify/)
  })

  it('is refused when any bit of the signature was changed', () => {
    for (let i = 0; i < 64 * 8; i += 7) {
      const sig = cert.signature.slice()
      sig[i >> 3] = (sig[i >> 3] ?? 0) ^ (1 << (i & 7))
      expectBad(verifyTabCert({ ...cert, signature: sig }, PEER, NOW), /does not verify/)
    }
  })

  it('is refused with a malformed key or signature, without throwing', () => {
    const bad: TabCert[] = [
      { ...cert, signature: cert.signature.subarray(0, 63) },
      { ...cert, signature: new Uint8Array(0) },
      { ...cert, identityKey: cert.identityKey.subarray(1) },
      { ...cert, identityKey: new Uint8Array(32).fill(0xff) },
      { ...cert, identityKey: hexToBytes('00'.repeat(32)) },
    ]
    for (const t of bad) expectBad(verifyTabCert(t, PEER, NOW), /does not verify/)
  })

  it('is refused when signed by another identity than the one it names', () => {
    const forged = issueTabCert(mallory, PEER, PROFILE, NOW)
    expect(verifyTabCert(forged, PEER, NOW)).toEqual({ ok: true, value: mallory.id })
    // Mallory's signature presented as Alice's certificate
    expectBad(
      verifyTabCert({ ...forged, identityKey: alice.publicKey }, PEER, NOW),
      /does not verify/,
    )
    // Alice's signature under Mallory's key
    expectBad(
      verifyTabCert({ ...cert, identityKey: mallory.publicKey }, PEER, NOW),
      /does not verify/,
    )
  })

  it('binds every field: a certificate for other fields never verifies with this signature', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 20 }),
        fc.string({ maxLength: 20 }),
        fc.integer({ min: NOW - DAY, max: NOW + MINUTE }),
        (peerId, profileId, issuedAt) => {
          fc.pre(peerId !== PEER || profileId !== PROFILE || issuedAt !== NOW)
          const t: TabCert = { ...cert, peerId, profileId, issuedAt }
          expect(verifyTabCert(t, peerId, NOW).ok).toBe(false)
        },
      ),
      { seed: 0x7ab, numRuns: 30 },
    )
  })

  it('is refused when a newline in a field could move the boundary between fields', () => {
    // The v1 signed bytes separate fields with newlines. A certificate signed (by any build, or
    // by hand) for profile "a\nb" signs the same bytes as one for peer "<peer>\na", profile "b".
    const signedAs = (peerId: string, profileId: string): TabCert => {
      const bytes = concatBytes([
        utf8('orrery/tab-cert/v1\n'),
        alice.publicKey,
        utf8(`\n${peerId}\n${profileId}\n${NOW}`),
      ])
      return {
        identityKey: alice.publicKey,
        peerId,
        profileId,
        issuedAt: NOW,
        signature: sign(alice, bytes),
      }
    }
    const honest = signedAs(PEER, 'a\nb')
    const moved: TabCert = { ...honest, peerId: `${PEER}\na`, profileId: 'b' }
    expectBad(verifyTabCert(moved, moved.peerId, NOW), /newline/)
    expectBad(verifyTabCert(honest, PEER, NOW), /newline/)
    expect(() => issueTabCert(alice, PEER, 'a\nb', NOW)).toThrow(RangeError)
    expect(() => issueTabCert(alice, `${PEER}\n`, PROFILE, NOW)).toThrow(RangeError)
  })
})
