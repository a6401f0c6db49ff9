/**
 * Fuzzing invites: tokens (as member records carry them: decodeToken then verifyToken), whole
 * links (decodeInvite) and join proofs. A token or link that differs from a signed one in any
 * field never passes its signature check, nor a proof made for someone else.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { equalBytes, fromBase64Url, toBase64Url, utf8 } from '../../src/core/bytes'
import { canonicalJson } from '../../src/core/blocks/manifest'
import {
  createInvite,
  decodeInvite,
  decodeToken,
  encodeInvite,
  joinProof,
  verifyJoinProof,
  verifyToken,
  type Invite,
  type InviteToken,
} from '../../src/core/spaces/invite'
import { ada, HOUR, nia, ned, SPACE, T0, wes } from '../../src/core/spaces/test-fixtures'
import { fuzz, mutate, mutationArb } from './harness'

const KEYS = { doc: new Uint8Array(32).fill(7), epoch: new Uint8Array(32).fill(8) }

const PEER = '12D3KooWGzh5JYcKXxnT1d6vj1RiL2xeYxzBZWdCAZmhqRLcN7pu'
const invites: Invite[] = [
  createInvite({
    spaceId: SPACE,
    role: 'writer',
    expiresAt: T0 + 24 * HOUR,
    maxUses: 3,
    inviter: ada,
    inviterPeer: PEER,
    relays: ['/dns4/relay.example/tcp/443/wss/p2p/' + PEER],
    keys: KEYS,
  }),
  createInvite({
    spaceId: SPACE,
    role: 'reader',
    expiresAt: T0 + 1,
    maxUses: 1,
    inviter: wes,
    keys: KEYS,
  }),
]
const tokens = invites.map((i) => i.token)
const sameToken = (t: InviteToken): boolean =>
  tokens.some((x) => canonicalJson(x) === canonicalJson(t))

const latin1 = new TextDecoder('utf-8') // not fatal: mutated text may be any bytes

describe('fuzz: invite tokens and links', () => {
  it('answers every token with a typed error or a token whose signature is the inviter’s', async () => {
    // mutations of the token's JSON bytes, each sent in the canonical base64url wrapping
    const report = await fuzz({
      name: 'token',
      pool: tokens.map((t) => utf8(canonicalJson(t))),
      run: (json) => {
        const d = decodeToken(toBase64Url(json))
        if (!d.ok) return d
        const v = verifyToken(d.value)
        return v.ok ? d : v
      },
      check: (_input, out) => {
        if (out.ok) expect(sameToken(out.value)).toBe(true)
      },
    })
    expect(report.outcomes.BAD_INVITE).toBeGreaterThan(0)
    expect(report.outcomes.BAD_SIGNATURE).toBeGreaterThan(0)
  })

  it('answers every link with a typed error or the invite as its inviter signed it', async () => {
    const links = invites.map((i) => encodeInvite(i.token, i.secret, KEYS))
    const report = await fuzz({
      name: 'invite link',
      pool: links.map((l) => utf8(l)),
      run: (text) => decodeInvite(latin1.decode(text)),
      check: (_input, out) => {
        if (!out.ok) return
        const i = invites.find((x) => canonicalJson(x.token) === canonicalJson(out.value.token))
        expect(i).toBeDefined()
        expect(equalBytes(i?.secret ?? new Uint8Array(0), out.value.secret)).toBe(true)
      },
    })
    expect(report.outcomes.BAD_INVITE).toBeGreaterThan(0)
  })

  it('never accepts a join proof that was altered or made for another newcomer (2,000)', () => {
    const invite = invites[0] as Invite
    const { token, secret } = invite
    const proof = joinProof(secret, token.space, token.id, nia.id)
    const proofBytes = fromBase64Url(proof) as Uint8Array
    fc.assert(
      fc.property(
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        (ms, otherNewcomer) => {
          const bytes = ms.reduce((b, m) => mutate(b, m, [proofBytes]), proofBytes)
          const who = otherNewcomer ? ned.id : nia.id
          const ok = verifyJoinProof(token, toBase64Url(bytes), who)
          if (ok) {
            expect(who).toBe(nia.id)
            expect(equalBytes(bytes, proofBytes)).toBe(true)
          }
        },
      ),
      { seed: 0x10f, numRuns: 2000 },
    )
    expect(verifyJoinProof(token, proof, nia.id)).toBe(true)
  })
})
