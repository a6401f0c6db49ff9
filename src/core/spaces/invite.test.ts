import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ed25519 } from '@noble/curves/ed25519.js'
import { toBase64Url } from '../bytes'
import { canonicalJson } from '../blocks/manifest'
import type { Result } from '../errors'
import { SpaceError } from './errors'
import {
  checkInvite,
  checkToken,
  createInvite,
  decodeInvite,
  decodeToken,
  encodeInvite,
  encodeToken,
  joinProof,
  joinValues,
  verifyJoinProof,
  verifyToken,
  type CreateInviteInput,
  type InviteToken,
} from './invite'
import { readSpace, type Role } from './model'
import {
  HOUR,
  OTHER_SPACE,
  SPACE,
  T0,
  ada,
  mal,
  ned,
  nia,
  rae,
  rex,
  team,
  teamValue,
  wes,
} from './test-fixtures'

const KEYS = { doc: new Uint8Array(32).fill(7), epoch: new Uint8Array(32).fill(8) }

const PEER = '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu'
const RELAYS = ['/dns4/relay.example/tcp/443/wss/p2p/' + PEER]
const NOW = T0 + HOUR

function invite(over: Partial<CreateInviteInput> = {}): ReturnType<typeof createInvite> {
  return createInvite({
    spaceId: SPACE,
    role: 'writer',
    expiresAt: T0 + 24 * HOUR,
    maxUses: 3,
    inviter: ada,
    inviterPeer: PEER,
    relays: RELAYS,
    keys: KEYS,
    ...over,
  })
}

function expectErr(r: Result<unknown>, code: SpaceError['code'], message?: RegExp): void {
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(SpaceError)
  expect(r.error.code).toBe(code)
  if (message !== undefined) expect(r.error.message).toMatch(message)
}

describe('invite links', () => {
  it('round-trips through a compact URL-safe string', () => {
    const { token, secret } = invite()
    const link = encodeInvite(token, secret, KEYS)
    expect(link).toMatch(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]{43}){3}$/)
    expect(link.length).toBeLessThan(1000)
    const back = decodeInvite(link)
    expect(back).toEqual({ ok: true, value: { token, secret, keys: KEYS } })
    expect(token).toMatchObject({ v: 1, space: SPACE, role: 'writer', maxUses: 3, by: ada.id })
    expect(token.peer).toBe(PEER)
    expect(token.relays).toEqual(RELAYS)
    expect(decodeToken(encodeToken(token))).toEqual({ ok: true, value: token })
  })

  it('works without peer and relays, and every invite is fresh', () => {
    const a = createInvite({
      spaceId: SPACE,
      role: 'reader',
      expiresAt: T0 + HOUR,
      maxUses: 1,
      inviter: wes,
    })
    const b = createInvite({
      spaceId: SPACE,
      role: 'reader',
      expiresAt: T0 + HOUR,
      maxUses: 1,
      inviter: wes,
    })
    expect('peer' in a.token || 'relays' in a.token).toBe(false)
    expect(decodeInvite(encodeInvite(a.token, a.secret, KEYS)).ok).toBe(true)
    expect(a.token.id).not.toBe(b.token.id)
    expect(a.token.invitePub).not.toBe(b.token.invitePub)
  })

  it('refuses to create an invalid token', () => {
    expect(() => invite({ maxUses: 0 })).toThrow(SpaceError)
    expect(() => invite({ spaceId: 'not a space' })).toThrow(/space/)
    expect(() => invite({ role: 'owner' as Role })).toThrow(/role/)
    expect(() => invite({ relays: ['not-a-multiaddr'] })).toThrow(/relays\[0\]/)
  })

  it('rejects a link whose secret is not the invite key', () => {
    const { token } = invite()
    const other = invite()
    expectErr(decodeInvite(encodeInvite(token, other.secret, KEYS)), 'BAD_INVITE', /secret/)
    expectErr(decodeInvite(encodeInvite(token, new Uint8Array(16), KEYS)), 'BAD_INVITE', /32 bytes/)
  })

  it('tells an invite from before spaces had keys, and refuses a damaged key', () => {
    const { token, secret } = invite()
    const link = encodeInvite(token, secret, KEYS)
    const cut = (s: string, parts: number): string => s.split('.').slice(0, parts).join('.')
    expectErr(decodeInvite(cut(link, 2)), 'BAD_INVITE', /older Orrery/)
    expectErr(decodeInvite(cut(link, 3)), 'BAD_INVITE', /not "<token>/)
    expectErr(decodeInvite(`${link.slice(0, -1)}`), 'BAD_INVITE', /space key/)
    expectErr(decodeInvite(`${link}A`), 'BAD_INVITE', /space key/)
    const otherKey = toBase64Url(new Uint8Array(32).fill(9))
    const swapped = `${link.slice(0, link.lastIndexOf('.'))}.${otherKey}`
    expectErr(decodeInvite(swapped), 'BAD_INVITE', /not the ones the invite's signer gave/)
  })

  it('rejects non-canonical encodings', () => {
    const { token, secret } = invite()
    const json = JSON.stringify(token, null, 1)
    const spaced = toBase64Url(new TextEncoder().encode(json))
    expectErr(
      decodeInvite(
        `${spaced}.${toBase64Url(secret)}.${toBase64Url(KEYS.doc)}.${toBase64Url(KEYS.epoch)}`,
      ),
      'BAD_INVITE',
      /canonical/,
    )
    expectErr(decodeInvite(encodeInvite(token, secret, KEYS) + '.x'), 'BAD_INVITE')
    expectErr(decodeInvite(encodeInvite(token, secret, KEYS) + '='), 'BAD_INVITE')
    const extra = toBase64Url(new TextEncoder().encode(canonicalJson({ ...token, extra: 1 })))
    expectErr(decodeToken(extra), 'BAD_INVITE', /unknown field "extra"/)
  })

  it('never throws on garbage (fuzz)', () => {
    const { token, secret } = invite()
    const link = encodeInvite(token, secret, KEYS)
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.anything()), (s) => {
        const r = decodeInvite(s)
        expect(typeof r.ok).toBe('boolean')
        expect(decodeToken(s).ok).toBe(false)
        expect(checkToken(s).ok).toBe(false)
        expect(verifyToken(s as InviteToken).ok).toBe(false)
        expect(verifyJoinProof(s as InviteToken, s, nia.id)).toBe(false)
      }),
      { numRuns: 500, seed: 42 },
    )
    // a valid link with one character changed, or cut short
    fc.assert(
      fc.property(
        fc.nat({ max: link.length - 1 }),
        fc.constantFrom(...'AQgz09-_.=+/ é'.split('')),
        fc.boolean(),
        (i, c, cut) => {
          const s = cut ? link.slice(0, i) : link.slice(0, i) + c + link.slice(i + 1)
          const r = decodeInvite(s)
          if (s !== link) expect(r.ok).toBe(false)
        },
      ),
      { numRuns: 1000, seed: 7 },
    )
  })
})

describe('checkInvite', () => {
  const space = team()

  it('accepts a good invite', () => {
    const { token } = invite()
    expect(verifyToken(token)).toEqual({ ok: true, value: undefined })
    expect(checkInvite(token, space, NOW, nia.id)).toEqual({ ok: true, value: undefined })
    expect(checkInvite(invite({ role: 'admin' }).token, space, NOW)).toEqual({
      ok: true,
      value: undefined,
    })
  })

  const tampered: [string, (t: InviteToken) => InviteToken][] = [
    ['role', (t) => ({ ...t, role: 'admin' })],
    ['space', (t) => ({ ...t, space: OTHER_SPACE })],
    ['expiry', (t) => ({ ...t, expiresAt: t.expiresAt + 365 * 24 * HOUR })],
    ['uses', (t) => ({ ...t, maxUses: 1000 })],
    ['invitePub', (t) => ({ ...t, invitePub: invite().token.invitePub })],
    ['inviter', (t) => ({ ...t, by: wes.id })],
    ['relays', (t) => ({ ...t, relays: ['/dns4/evil.example/tcp/443/wss'] })],
  ]
  it.each(tampered)('rejects a token with a tampered %s (BAD_SIGNATURE)', (_what, change) => {
    const { token, secret } = invite()
    const forged = change(token)
    expectErr(verifyToken(forged), 'BAD_SIGNATURE', /does not verify/)
    expectErr(checkInvite(forged, space, NOW), 'BAD_SIGNATURE')
    expectErr(
      decodeInvite(encodeInvite(forged, secret, KEYS)),
      /invitePub/.test(_what) ? 'BAD_INVITE' : 'BAD_SIGNATURE',
    )
  })

  it('rejects a tampered invitePub with its own matching secret (BAD_SIGNATURE)', () => {
    const { token } = invite()
    const secret = new Uint8Array(32).fill(99)
    const forged = { ...token, invitePub: toBase64Url(ed25519.getPublicKey(secret)) }
    expectErr(decodeInvite(encodeInvite(forged, secret, KEYS)), 'BAD_SIGNATURE')
  })

  it('rejects a token re-signed by a non-member (NOT_A_MEMBER)', () => {
    const { token } = invite({ inviter: mal })
    expect(verifyToken(token).ok).toBe(true)
    expectErr(checkInvite(token, space, NOW), 'NOT_A_MEMBER', /is not a member/)
  })

  it('rejects an invite by a reader, or a writer granting admin (NOT_ALLOWED)', () => {
    expectErr(
      checkInvite(invite({ inviter: rae, role: 'reader' }).token, space, NOW),
      'NOT_ALLOWED',
      /reader, who may not grant reader/,
    )
    expectErr(
      checkInvite(invite({ inviter: wes, role: 'admin' }).token, space, NOW),
      'NOT_ALLOWED',
      /writer, who may not grant admin/,
    )
    expect(checkInvite(invite({ inviter: wes, role: 'writer' }).token, space, NOW).ok).toBe(true)
    expect(checkInvite(invite({ inviter: wes, role: 'reader' }).token, space, NOW).ok).toBe(true)
  })

  it('rejects an invite by a removed member (NOT_A_MEMBER)', () => {
    expectErr(checkInvite(invite({ inviter: rex }).token, space, NOW), 'NOT_A_MEMBER', /removed/)
  })

  it('rejects an invite for another space (BAD_INVITE)', () => {
    const { token } = invite({ spaceId: OTHER_SPACE })
    expectErr(checkInvite(token, space, NOW), 'BAD_INVITE', /is for space/)
  })

  it('rejects an expired invite (INVITE_EXPIRED)', () => {
    const { token } = invite({ expiresAt: NOW })
    expectErr(checkInvite(token, space, NOW), 'INVITE_EXPIRED', /expired at/)
    expect(checkInvite(token, space, NOW - 1).ok).toBe(true)
  })

  it('rejects an exhausted invite; the same newcomer again is idempotent', () => {
    const { token } = invite({ maxUses: 2 })
    const v = teamValue()
    v.redeemed[token.id] = { [nia.id]: { at: T0 }, [ned.id]: { at: T0 } }
    const used = readSpace(v, SPACE)
    expectErr(checkInvite(token, used, NOW, mal.id), 'INVITE_EXHAUSTED', /used 2 time\(s\) of 2/)
    expectErr(checkInvite(token, used, NOW), 'INVITE_EXHAUSTED')
    expect(checkInvite(token, used, NOW, nia.id).ok).toBe(true)
  })

  it('rejects a revoked invite (INVITE_REVOKED)', () => {
    const { token } = invite()
    const v = teamValue()
    v.revoked[token.id] = { by: ada.id, at: T0 }
    expectErr(checkInvite(token, readSpace(v, SPACE), NOW), 'INVITE_REVOKED', /revoked/)
  })
})

describe('join proofs', () => {
  it('binds the secret, the space, the invite and the newcomer', () => {
    const inv = invite()
    const { token, secret } = inv
    const proof = joinProof(secret, SPACE, token.id, nia.id)
    expect(verifyJoinProof(token, proof, nia.id)).toBe(true)
    // replayed for another newcomer
    expect(verifyJoinProof(token, proof, ned.id)).toBe(false)
    // made with the wrong secret
    const wrong = joinProof(invite().secret, SPACE, token.id, nia.id)
    expect(verifyJoinProof(token, wrong, nia.id)).toBe(false)
    // for another invite or space
    expect(verifyJoinProof(invite().token, proof, nia.id)).toBe(false)
    expect(verifyJoinProof(token, joinProof(secret, OTHER_SPACE, token.id, nia.id), nia.id)).toBe(
      false,
    )
    // malformed proofs
    for (const p of ['', 'x', proof + 'A', proof.slice(1), 42, null]) {
      expect(verifyJoinProof(token, p, nia.id)).toBe(false)
    }
    expect(verifyJoinProof(token, proof, 'did:key:nope')).toBe(false)
  })

  it('joinValues builds the member record and the redemption', () => {
    const inv = invite()
    const { member, redeemed } = joinValues(inv, nia.id, NOW, 'Nia')
    expect(member).toMatchObject({ role: 'writer', addedBy: ada.id, addedAt: NOW, name: 'Nia' })
    expect(decodeToken(member.invite?.token)).toEqual({ ok: true, value: inv.token })
    expect(verifyJoinProof(inv.token, member.invite?.proof, nia.id)).toBe(true)
    expect(redeemed).toEqual({ at: NOW })
  })
})
