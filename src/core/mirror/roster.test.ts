import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { ed25519 } from '@noble/curves/ed25519.js'
import { bytesToHex, equalBytes, fromBase64Url, randomBytes } from '../bytes'
import { ProtocolError, type Result } from '../errors'
import { generateIdentity, identityFromSeed, sign, verify, type Identity } from '../identity'
import { newDocId, newSpaceId } from '../ids'
import { randomKey } from '../keys/aead'
import type { Role } from '../spaces/model'
import { createInvite, mirrorAdmission } from '../spaces/invite'
import { Writer, varintLength } from '../wire/codec'
import {
  ADMISSION_BYTES,
  MAX_ROSTER_BYTES,
  MAX_ROSTER_KEYS,
  admissionJoinBytes,
  admissionSigned,
  encodeAdmission,
  encodeRoster,
  keyHex,
  parseAdmission,
  parseRoster,
  rosterId,
  signPass,
  spaceRosterTag,
  verifyRoster,
  type Admission,
  type RosterBody,
} from './roster'

// Ed25519 in pure JS costs a millisecond or two per verification: fewer runs where it verifies
const FC = { seed: 0x5057e4, numRuns: 300 }
const FUZZ = { seed: 0x5057e5, numRuns: 2000 }
const PARSE_CODES = ['MALFORMED_MESSAGE', 'MESSAGE_TOO_LARGE', 'UNSUPPORTED_VERSION']

const root = identityFromSeed(new Uint8Array(32).fill(1))
const ann = identityFromSeed(new Uint8Array(32).fill(2))
const bob = identityFromSeed(new Uint8Array(32).fill(3))
const cat = identityFromSeed(new Uint8Array(32).fill(4))
const dan = identityFromSeed(new Uint8Array(32).fill(5))
const spaceTag = randomBytes(32)
const id = rosterId(spaceTag, root.publicKey)
const k = (i: Identity): string => keyHex(i.publicKey)

function body(over: Partial<RosterBody> = {}): RosterBody {
  return {
    spaceTag,
    root: root.publicKey,
    serial: 1,
    // inserted out of order on purpose: the encoding sorts
    members: new Map<string, Role>([
      [k(cat), 'reader'],
      [k(root), 'admin'],
      [k(bob), 'writer'],
      [k(ann), 'admin'],
    ]),
    removed: new Set([k(dan)]),
    ...over,
  }
}

function value<T>(r: Result<T, ProtocolError>): T {
  if (!r.ok) throw r.error
  return r.value
}
/** the error code of a parse, or 'ok'; throws if the parser threw or returned an untyped error */
function code(r: Result<unknown, ProtocolError>): string {
  if (r.ok) return 'ok'
  expect(r.error).toBeInstanceOf(ProtocolError)
  return r.error.code
}

/**
 * Roster bytes built by hand, with none of encodeRoster's checks: keys in the given order, any
 * role byte, raw varint bytes. The signature is 64 zero bytes (parseRoster does not check it).
 */
function rawRoster(o: {
  serial?: number[]
  members: [Uint8Array, number][]
  removed?: Uint8Array[]
  count?: number[]
}): Uint8Array {
  const w = new Writer()
    .u8(1)
    .raw(spaceTag)
    .raw(root.publicKey)
    .raw(Uint8Array.from(o.serial ?? [1]))
  w.raw(Uint8Array.from(o.count ?? [o.members.length]))
  for (const [key, role] of o.members) w.raw(key).u8(role)
  w.varint(o.removed?.length ?? 0)
  for (const key of o.removed ?? []) w.raw(key)
  return w.raw(root.publicKey).raw(new Uint8Array(64)).finish()
}
const sortedKeys = (n: number): Uint8Array[] =>
  Array.from({ length: n }, () => randomBytes(32)).sort((a, b) =>
    bytesToHex(a) < bytesToHex(b) ? -1 : 1,
  )

describe('mirror roster', () => {
  it('round-trips members of the three roles and removed keys, sorted', () => {
    const bytes = encodeRoster(body({ serial: 300 }), root)
    expect(bytes.length).toBeLessThanOrEqual(MAX_ROSTER_BYTES)
    const r = value(parseRoster(bytes))
    expect(r.spaceTag).toEqual(spaceTag)
    expect(r.root).toEqual(root.publicKey)
    expect(r.serial).toBe(300)
    expect(r.signer).toEqual(root.publicKey)
    expect(r.id).toEqual(id)
    const members = [...body().members].sort(([a], [b]) => (a < b ? -1 : 1))
    expect([...r.members]).toEqual(members)
    expect(new Set(members.map(([, role]) => role))).toEqual(new Set(['admin', 'writer', 'reader']))
    expect([...r.removed]).toEqual([k(dan)])
    expect(verifyRoster(r)).toBe(true)
    // the same body inserted in another order makes the same bytes (Ed25519 is deterministic)
    const reversed = body({ serial: 300, members: new Map([...body().members].reverse()) })
    expect(encodeRoster(reversed, root)).toEqual(bytes)
    // several removed keys come out ascending too
    const gone = sortedKeys(3).map((b) => bytesToHex(b))
    const r2 = value(
      parseRoster(encodeRoster(body({ removed: new Set([...gone].reverse()) }), ann)),
    )
    expect([...r2.removed]).toEqual(gone)
    expect(r2.signer).toEqual(ann.publicKey)
    // an empty roster is well-formed (whether the mirror takes it is rosters.ts's business)
    const empty = value(
      parseRoster(encodeRoster(body({ members: new Map(), removed: new Set() }), root)),
    )
    expect(empty.members.size + empty.removed.size).toBe(0)
  })

  it('leaves a member out of the removed keys it is given', () => {
    const r = value(parseRoster(encodeRoster(body({ removed: new Set([k(bob), k(dan)]) }), root)))
    expect(r.members.get(k(bob))).toBe('writer')
    expect([...r.removed]).toEqual([k(dan)])
  })

  it('does not verify after any single bit flip (or does not parse)', () => {
    const bytes = encodeRoster(body(), root)
    fc.assert(
      fc.property(fc.nat({ max: bytes.length * 8 - 1 }), (bit) => {
        const flipped = bytes.slice()
        flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7))
        const r = parseRoster(flipped)
        return !r.ok || !verifyRoster(r.value)
      }),
      FC,
    )
    // a signature by someone else than the signer it names
    const forged = bytes.slice()
    const r = value(parseRoster(bytes))
    forged.set(sign(ann, r.signed), bytes.length - 64)
    expect(verifyRoster(value(parseRoster(forged)))).toBe(false)
  })

  it('never throws on random bytes, mutations and truncations: typed errors only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
        expect(PARSE_CODES.concat('ok')).toContain(code(parseRoster(b)))
        expect(PARSE_CODES.concat('ok')).toContain(code(parseAdmission(b)))
      }),
      FUZZ,
    )
    // past the version byte, to reach the rest of the parser
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 700 }), (b) => {
        expect(PARSE_CODES.concat('ok')).toContain(code(parseRoster(Uint8Array.of(1, ...b))))
      }),
      FUZZ,
    )
    const good = encodeRoster(body(), root)
    fc.assert(
      fc.property(fc.nat({ max: good.length - 1 }), fc.nat({ max: 255 }), (at, byte) => {
        const b = good.slice()
        b[at] = byte
        expect(PARSE_CODES.concat('ok')).toContain(code(parseRoster(b)))
      }),
      FUZZ,
    )
    for (let n = 0; n < good.length; n++)
      expect(code(parseRoster(good.subarray(0, n))), `${n} bytes`).toBe('MALFORMED_MESSAGE')
    expect(code(parseRoster(Uint8Array.of(...good, 0)))).toBe('MALFORMED_MESSAGE')
    expect(code(parseRoster(new Uint8Array(MAX_ROSTER_BYTES + 1)))).toBe('MESSAGE_TOO_LARGE')
    expect(code(parseRoster(Uint8Array.of(2, ...good.subarray(1))))).toBe('UNSUPPORTED_VERSION')
    expect(code(parseRoster('roster' as unknown as Uint8Array))).toBe('MALFORMED_MESSAGE')
    expect(code(parseAdmission([1, 2] as unknown as Uint8Array))).toBe('MALFORMED_MESSAGE')
  })

  it('names a roster by both its space tag and its root', () => {
    const otherTag = randomBytes(32)
    expect(rosterId(spaceTag, root.publicKey)).toEqual(id)
    expect(id.length).toBe(32)
    expect(equalBytes(rosterId(otherTag, root.publicKey), id)).toBe(false)
    expect(equalBytes(rosterId(spaceTag, ann.publicKey), id)).toBe(false)
    // a space's tag: only the holder of the space document's key can name its roster
    const spaceId = newDocId()
    const key = randomKey()
    expect(spaceRosterTag(key, spaceId)).toEqual(spaceRosterTag(key, spaceId))
    expect(spaceRosterTag(key, spaceId).length).toBe(32)
    expect(equalBytes(spaceRosterTag(randomKey(), spaceId), spaceRosterTag(key, spaceId))).toBe(
      false,
    )
    expect(equalBytes(spaceRosterTag(key, newDocId()), spaceRosterTag(key, spaceId))).toBe(false)
  })

  it('refuses to encode a serial below 1 or a bad key (RangeError)', () => {
    const bad: Partial<RosterBody>[] = [
      { serial: 0 },
      { serial: -1 },
      { serial: 1.5 },
      { serial: Number.MAX_SAFE_INTEGER + 1 },
      { spaceTag: new Uint8Array(31) },
      { root: new Uint8Array(33) },
      { members: new Map([[k(bob).slice(2), 'writer']]) },
      { members: new Map([[k(bob).toUpperCase(), 'writer']]) },
      { members: new Map([['zz' + k(bob).slice(2), 'writer']]) },
      { removed: new Set(['not a key']) },
      {
        removed: new Set(
          Array.from({ length: MAX_ROSTER_KEYS }, () => bytesToHex(randomBytes(32))),
        ),
      },
    ]
    for (const over of bad) expect(() => encodeRoster(body(over), root)).toThrow(RangeError)
  })

  it('reads hand-built bytes strictly: order, repeats, overlaps, roles, shortest varints', () => {
    const [a, b, c] = sortedKeys(3) as [Uint8Array, Uint8Array, Uint8Array]
    // the builder itself makes a roster that parses
    const fine = value(
      parseRoster(
        rawRoster({
          members: [
            [a, 1],
            [b, 2],
            [c, 3],
          ],
          removed: [],
        }),
      ),
    )
    expect([...fine.members.values()]).toEqual(['reader', 'writer', 'admin'])
    expect(value(parseRoster(rawRoster({ members: [[a, 3]], removed: [b, c] }))).removed.size).toBe(
      2,
    )
    expect(value(parseRoster(rawRoster({ serial: [0x80, 0x01], members: [[a, 3]] }))).serial).toBe(
      128,
    )
    const cases: [string, Uint8Array][] = [
      [
        'members out of order',
        rawRoster({
          members: [
            [b, 3],
            [a, 1],
          ],
        }),
      ],
      [
        'a member twice',
        rawRoster({
          members: [
            [a, 3],
            [a, 3],
          ],
        }),
      ],
      ['removed out of order', rawRoster({ members: [[a, 3]], removed: [c, b] })],
      ['removed twice', rawRoster({ members: [[a, 3]], removed: [b, b] })],
      [
        'member and removed',
        rawRoster({
          members: [
            [a, 3],
            [b, 2],
          ],
          removed: [b],
        }),
      ],
      ['role 0', rawRoster({ members: [[a, 0]] })],
      [
        'role 4',
        rawRoster({
          members: [
            [a, 3],
            [b, 4],
          ],
        }),
      ],
      ['serial 0', rawRoster({ serial: [0], members: [[a, 3]] })],
      ['serial 1 in two bytes', rawRoster({ serial: [0x81, 0x00], members: [[a, 3]] })],
      ['count 1 in two bytes', rawRoster({ count: [0x81, 0x00], members: [[a, 3]] })],
      ['too many members', rawRoster({ count: [0x91, 0x4e], members: [[a, 3]] })], // 10,001
    ]
    for (const [why, bytes] of cases)
      expect(code(parseRoster(bytes)), why).toBe('MALFORMED_MESSAGE')
  })

  describe('admissions', () => {
    const invite = generateIdentity() // the invite's one-time key pair
    const newcomer = generateIdentity()
    function admission(over: Partial<Admission> = {}): Admission {
      const a = {
        roster: id,
        inviter: ann.publicKey,
        invitePub: invite.publicKey,
        role: 'writer' as Role,
        expiresAt: Date.UTC(2030, 0, 1),
        maxUses: 3,
      }
      return {
        ...a,
        pass: signPass(ann, a.roster, a.invitePub, a.role, a.expiresAt, a.maxUses),
        newcomer: newcomer.publicKey,
        proof: sign(invite, admissionJoinBytes(id, newcomer.publicKey)),
        ...over,
      }
    }
    const verifies = (a: Admission): boolean[] =>
      admissionSigned(a).map((s) => verify(s.key, s.signed, s.sig))

    it('round-trips, and its two signatures verify', () => {
      const a = admission()
      const bytes = encodeAdmission(a)
      expect(bytes.length).toBeLessThanOrEqual(ADMISSION_BYTES)
      expect(value(parseAdmission(bytes))).toEqual(a)
      expect(verifies(value(parseAdmission(bytes)))).toEqual([true, true])
      expect(admissionSigned(a).map((s) => s.key)).toEqual([ann.publicKey, invite.publicKey])
    })

    it('does not verify once tampered with', () => {
      // the pass covers roster, invite key, role, expiry and uses; the proof, roster and newcomer
      expect(verifies(admission({ role: 'admin' }))).toEqual([false, true])
      expect(verifies(admission({ expiresAt: Date.UTC(2031, 0, 1) }))).toEqual([false, true])
      expect(verifies(admission({ maxUses: 4 }))).toEqual([false, true])
      expect(verifies(admission({ inviter: bob.publicKey }))).toEqual([false, true])
      expect(verifies(admission({ newcomer: dan.publicKey }))).toEqual([true, false])
      expect(verifies(admission({ invitePub: dan.publicKey }))).toEqual([false, false])
      expect(verifies(admission({ roster: randomBytes(32) }))).toEqual([false, false])
      const good = encodeAdmission(admission())
      fc.assert(
        fc.property(fc.nat({ max: good.length * 8 - 1 }), (bit) => {
          const b = good.slice()
          b[bit >> 3] = (b[bit >> 3] as number) ^ (1 << (bit & 7))
          const r = parseAdmission(b)
          return !r.ok || verifies(r.value).includes(false)
        }),
        { ...FC, numRuns: 150 },
      )
    })

    it('is read strictly', () => {
      const good = encodeAdmission(admission())
      for (let n = 0; n < good.length; n++)
        expect(code(parseAdmission(good.subarray(0, n))), `${n} bytes`).toBe('MALFORMED_MESSAGE')
      expect(code(parseAdmission(Uint8Array.of(...good, 0)))).toBe('MALFORMED_MESSAGE')
      expect(code(parseAdmission(new Uint8Array(ADMISSION_BYTES + 1)))).toBe('MALFORMED_MESSAGE')
      for (const role of [0, 4, 255]) {
        const b = good.slice()
        b[96] = role // the role byte follows roster, inviter and invite key
        expect(code(parseAdmission(b)), `role ${role}`).toBe('MALFORMED_MESSAGE')
      }
      // maxUses 3 spelt in two bytes
      const at = 97 + varintLength(Date.UTC(2030, 0, 1))
      expect(good[at]).toBe(3)
      const long = Uint8Array.of(...good.subarray(0, at), 0x83, 0, ...good.subarray(at + 1))
      expect(code(parseAdmission(long))).toBe('MALFORMED_MESSAGE')
      expect(() => encodeAdmission(admission({ pass: new Uint8Array(63) }))).toThrow(RangeError)
      expect(() => encodeAdmission(admission({ newcomer: new Uint8Array(31) }))).toThrow(RangeError)
    })

    it('comes out of an invite made for the mirror, and only of one', () => {
      const spaceId = newSpaceId(root.id).id
      const expiresAt = Date.now() + 3_600_000
      const input = { spaceId, role: 'reader' as Role, expiresAt, maxUses: 5, inviter: ann }
      const inv = createInvite({ ...input, mirrorRoster: id })
      const bytes = mirrorAdmission(inv, newcomer)
      expect(bytes).toBeDefined()
      const a = value(parseAdmission(bytes as Uint8Array))
      expect(a).toMatchObject({
        roster: id,
        inviter: ann.publicKey,
        role: 'reader',
        expiresAt,
        maxUses: 5,
      })
      expect(a.newcomer).toEqual(newcomer.publicKey)
      expect(a.invitePub).toEqual(fromBase64Url(inv.token.invitePub))
      expect(a.invitePub).toEqual(ed25519.getPublicKey(inv.secret))
      expect(a.pass).toEqual(fromBase64Url(inv.token.mp as string))
      expect(verifies(a)).toEqual([true, true])

      const plain = createInvite(input)
      expect(plain.token.mr).toBeUndefined()
      expect(plain.token.mp).toBeUndefined()
      expect(mirrorAdmission(plain, newcomer)).toBeUndefined()
    })
  })
})
