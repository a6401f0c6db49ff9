/**
 * Invites: Seitan-style capabilities that work while the inviter is offline.
 *
 * The inviter signs a token naming the space, the role granted, an expiry, a number of uses, the
 * inviter's did, where to reach the inviter (peer id, relay addresses), an invite id and the PUBLIC
 * key of a fresh one-time Ed25519 key pair. The pair's 32-byte seed is the invite's secret. The
 * link carries `token.secret` in its fragment (never sent to a server). A newcomer proves it holds
 * the secret by signing "orrery/join/v1|spaceId|inviteId|newcomerDid" with the invite key, and
 * writes token and proof into its own member record; every member can check that record without
 * the inviter. The proof names the newcomer, so copying it into another did's record fails.
 *
 * Wire forms: token = base64url(canonical JSON of the token); link = `<token>.<base64url(secret)>`.
 * Decoders are strict (exact fields, canonical encodings) and never throw.
 */
import { deriveKey } from '../keys/aead'
import { ed25519 } from '@noble/curves/ed25519.js'
import { equalBytes, fromBase64Url, fromUtf8, randomBytes, toBase64Url, utf8 } from '../bytes'
import { canonicalJson } from '../blocks/manifest'
import { describeError, err, ok, type Result } from '../errors'
import { publicKeyFromDidKey, sign, verify, type Identity } from '../identity'
import { isDocId } from '../ids'
import { isRole, mayGrant, usesOf, type MemberValue, type Role, type SpaceState } from './model'
import { SpaceError } from './errors'
import { admissionJoinBytes, encodeAdmission, signPass } from '../mirror/roster'
import { isDid, isRecord, isTime, show } from './values'

export const MAX_INVITE_USES = 100_000
export const MAX_RELAYS = 8
export const MAX_RELAY_LENGTH = 512
export const MAX_PEER_ID_LENGTH = 128
export const MAX_LINK_LENGTH = 8192

export interface InviteToken {
  v: 1
  /** the space id (the space document's id) */
  space: string
  /** the invite id: 16 random bytes, base64url */
  id: string
  role: Role
  /** ms since the epoch; the invite works while now < expiresAt */
  expiresAt: number
  maxUses: number
  /** the inviter's did:key; `sig` is the inviter's signature */
  by: string
  /** the inviter's libp2p peer id, to reach someone */
  peer?: string
  /** relay multiaddrs where the inviter can be reached */
  relays?: string[]
  /**
   * a check of the keys the link carries (`keyCheck`): a link whose keys were changed is refused
   * at once instead of looking for a space nobody serves under them
   */
  kc?: string
  /** the id of the space's member list on the mirror (mirror/roster.ts), base64url */
  mr?: string
  /**
   * the inviter's pass for the mirror (`signPass` over `mr`, invitePub, role, expiresAt and
   * maxUses), base64url: the mirror admits the newcomer on it while no admin is online
   */
  mp?: string
  /** the invite key's Ed25519 public key, base64url */
  invitePub: string
  /** the inviter's signature over every other field, base64url */
  sig: string
}

export type UnsignedInviteToken = Omit<InviteToken, 'sig'>

export interface CreateInviteInput {
  spaceId: string
  role: Role
  expiresAt: number
  maxUses: number
  inviter: Identity
  inviterPeer?: string
  relays?: string[]
  /** the space's keys, which the link will carry (their check goes into the token) */
  keys?: InviteKeys
  /** the space's member list on the mirror: the token then carries a pass for it */
  mirrorRoster?: Uint8Array
}

export interface Invite {
  token: InviteToken
  /** the invite key's 32-byte Ed25519 seed */
  secret: Uint8Array
}

/** The keys an invite link carries (space-keys.ts): what the newcomer reads the space with. */
export interface InviteKeys {
  /** the read key of the space's document */
  doc: Uint8Array
  /** the key of the space's epoch when the invite was made */
  epoch: Uint8Array
}

/** What an invite link carries: the invite and the space's keys. */
export interface InviteLink extends Invite {
  keys: InviteKeys
}

const TOKEN_KEYS = ['v', 'space', 'id', 'role', 'expiresAt', 'maxUses', 'by', 'invitePub', 'sig']
const OPTIONAL_TOKEN_KEYS = ['peer', 'relays', 'kc', 'mr', 'mp']
const JOIN_CONTEXT = 'orrery/join/v1'

class Bad extends Error {}

const badInvite = (why: string): Result<never> => err(new SpaceError('BAD_INVITE', why))

function signingBytes(t: UnsignedInviteToken | InviteToken): Uint8Array {
  const fields: Record<string, unknown> = { ...t }
  delete fields.sig
  return utf8('orrery/invite/v1\n' + canonicalJson(fields))
}

/** base64url of exactly `length` bytes, in its one canonical spelling */
function canonicalB64(v: unknown, length: number): Uint8Array | undefined {
  if (typeof v !== 'string' || v.length > 2 * length) return undefined
  const bytes = fromBase64Url(v)
  if (bytes === undefined || bytes.length !== length || toBase64Url(bytes) !== v) return undefined
  return bytes
}

function checkTokenShape(v: unknown): InviteToken {
  if (!isRecord(v)) throw new Bad('the token is not an object')
  for (const k of TOKEN_KEYS) if (!Object.hasOwn(v, k)) throw new Bad(`the token has no "${k}"`)
  for (const k of Object.keys(v)) {
    if (!TOKEN_KEYS.includes(k) && !OPTIONAL_TOKEN_KEYS.includes(k)) {
      throw new Bad(`the token has an unknown field ${show(k)}`)
    }
  }
  if (v.v !== 1) throw new Bad(`unsupported invite version ${show(v.v)}`)
  if (typeof v.space !== 'string' || !isDocId(v.space)) {
    throw new Bad(`space ${show(v.space)} is not a space id`)
  }
  if (canonicalB64(v.id, 16) === undefined) throw new Bad(`id ${show(v.id)} is not an invite id`)
  if (!isRole(v.role)) throw new Bad(`role ${show(v.role)} is not admin, writer or reader`)
  if (!isTime(v.expiresAt) || v.expiresAt === 0) {
    throw new Bad(`expiresAt ${show(v.expiresAt)} is not a time`)
  }
  const uses = v.maxUses
  if (typeof uses !== 'number' || !Number.isSafeInteger(uses) || uses < 1) {
    throw new Bad(`maxUses ${show(uses)} is not a positive integer`)
  }
  if (uses > MAX_INVITE_USES) throw new Bad(`maxUses ${uses} is more than ${MAX_INVITE_USES}`)
  if (!isDid(v.by)) throw new Bad(`by ${show(v.by)} is not an Ed25519 did:key`)
  if (v.peer !== undefined) {
    if (typeof v.peer !== 'string' || !/^[A-Za-z0-9]+$/.test(v.peer)) {
      throw new Bad(`peer ${show(v.peer)} is not a peer id`)
    }
    if (v.peer.length > MAX_PEER_ID_LENGTH) throw new Bad('peer is too long')
  }
  if (v.relays !== undefined) {
    if (!Array.isArray(v.relays)) throw new Bad('relays is not a list')
    if (v.relays.length > MAX_RELAYS) throw new Bad(`more than ${MAX_RELAYS} relays`)
    v.relays.forEach((r: unknown, i) => {
      if (typeof r !== 'string' || !/^\/[\x21-\x7e]*$/.test(r) || r.length > MAX_RELAY_LENGTH) {
        throw new Bad(`relays[${i}] ${show(r)} is not a multiaddr`)
      }
    })
  }
  if (v.kc !== undefined && canonicalB64(v.kc, KEY_CHECK_BYTES) === undefined)
    throw new Bad(`kc is not ${KEY_CHECK_BYTES} bytes of unpadded base64url`)
  if ((v.mr === undefined) !== (v.mp === undefined)) throw new Bad('mr and mp go together')
  if (v.mr !== undefined && canonicalB64(v.mr, 32) === undefined)
    throw new Bad('mr is not 32 bytes of unpadded base64url')
  if (v.mp !== undefined && canonicalB64(v.mp, 64) === undefined)
    throw new Bad('mp is not 64 bytes of unpadded base64url')
  if (canonicalB64(v.invitePub, 32) === undefined) {
    throw new Bad('invitePub is not 32 bytes of unpadded base64url')
  }
  if (canonicalB64(v.sig, 64) === undefined) {
    throw new Bad('sig is not 64 bytes of unpadded base64url')
  }
  return v as unknown as InviteToken
}

/** Checks the shape of a token object (from anywhere); never throws. */
export function checkToken(v: unknown): Result<InviteToken> {
  try {
    return ok(checkTokenShape(v))
  } catch (e) {
    return badInvite(`bad invite token: ${e instanceof Bad ? e.message : describeError(e)}`)
  }
}

/** Creates an invite; throws a SpaceError (BAD_INVITE) if the input makes no valid token. */
export function createInvite(input: CreateInviteInput): Invite {
  const secret = randomBytes(32)
  const fields: UnsignedInviteToken = {
    v: 1,
    space: input.spaceId,
    id: toBase64Url(randomBytes(16)),
    role: input.role,
    expiresAt: input.expiresAt,
    maxUses: input.maxUses,
    by: input.inviter.id,
    invitePub: toBase64Url(ed25519.getPublicKey(secret)),
  }
  if (input.inviterPeer !== undefined) fields.peer = input.inviterPeer
  if (input.relays !== undefined) fields.relays = [...input.relays]
  if (input.keys !== undefined) fields.kc = keyCheck(input.keys)
  let token: InviteToken
  try {
    const roster = input.mirrorRoster
    if (roster !== undefined) {
      fields.mr = toBase64Url(roster)
      const pub = ed25519.getPublicKey(secret)
      const pass = signPass(input.inviter, roster, pub, input.role, input.expiresAt, input.maxUses)
      fields.mp = toBase64Url(pass)
    }
    token = { ...fields, sig: toBase64Url(sign(input.inviter, signingBytes(fields))) }
  } catch (e) {
    throw new SpaceError('BAD_INVITE', `cannot sign the invite: ${describeError(e)}`)
  }
  const checked = checkToken(token)
  if (!checked.ok) throw checked.error
  return { token, secret }
}

/**
 * What a newcomer hands the mirror to be let in before any admin is online (mirror/roster.ts):
 * the token's pass and its own proof, made with the invite's secret. Undefined for a token
 * that carries no pass.
 */
export function mirrorAdmission(invite: Invite, newcomer: Identity): Uint8Array | undefined {
  const { token, secret } = invite
  const roster = token.mr === undefined ? undefined : fromBase64Url(token.mr)
  const pass = token.mp === undefined ? undefined : fromBase64Url(token.mp)
  const invitePub = fromBase64Url(token.invitePub)
  const inviter = publicKeyFromDidKey(token.by)
  if (roster === undefined || pass === undefined || invitePub === undefined || !inviter.ok)
    return undefined
  return encodeAdmission({
    roster,
    inviter: inviter.value,
    invitePub,
    role: token.role,
    expiresAt: token.expiresAt,
    maxUses: token.maxUses,
    pass,
    newcomer: newcomer.publicKey,
    proof: ed25519.sign(admissionJoinBytes(roster, newcomer.publicKey), secret),
  })
}

/** The token alone (no secret), as stored in a member record. */
export function encodeToken(token: InviteToken): string {
  return toBase64Url(utf8(canonicalJson(token)))
}

/** Strict: canonical base64url of canonical JSON with exactly the token's fields. No signature check. */
export function decodeToken(s: unknown): Result<InviteToken> {
  if (typeof s !== 'string') return badInvite('bad invite token: not a string')
  if (s.length > MAX_LINK_LENGTH) return badInvite('bad invite token: too long')
  const bytes = fromBase64Url(s)
  if (bytes === undefined || toBase64Url(bytes) !== s) {
    return badInvite('bad invite token: not unpadded base64url')
  }
  let text: string
  let parsed: unknown
  try {
    text = fromUtf8(bytes)
    parsed = JSON.parse(text)
  } catch {
    return badInvite('bad invite token: not UTF-8 JSON')
  }
  const token = checkToken(parsed)
  if (!token.ok) return token
  if (canonicalJson(parsed) !== text) return badInvite('bad invite token: not in canonical form')
  return token
}

/** The share-link fragment: `<token>.<secret>`, URL-safe. */
const KEY_CHECK_BYTES = 12

/** What a token says of the keys its link carries (a hash: it does not give them away). */
function keyCheck(keys: InviteKeys): string {
  const check = deriveKey(keys.doc, 'invite-key-check/v1', keys.epoch)
  return toBase64Url(check.subarray(0, KEY_CHECK_BYTES))
}

/** `<token>.<secret>.<space document key>.<epoch key>`: all of it stays in a link's fragment. */
export function encodeInvite(token: InviteToken, secret: Uint8Array, keys: InviteKeys): string {
  return [encodeToken(token), secret, keys.doc, keys.epoch]
    .map((p) => (typeof p === 'string' ? p : toBase64Url(p)))
    .join('.')
}

/**
 * Decodes a link fragment strictly: the token's shape, the inviter's signature, and that the secret
 * is the invite key the token names. Whether the invite is still good in a space is checkInvite's.
 */
export function decodeInvite(s: unknown): Result<InviteLink> {
  if (typeof s !== 'string') return badInvite('bad invite link: not a string')
  if (s.length > MAX_LINK_LENGTH) return badInvite('bad invite link: too long')
  const parts = s.split('.')
  if (parts.length === 2)
    return badInvite(
      'this invite is from an older Orrery (it carries no key to the space); ask for a new one',
    )
  if (parts.length !== 4) return badInvite('bad invite link: not "<token>.<secret>.<key>.<key>"')
  const token = decodeToken(parts[0])
  if (!token.ok) return token
  const secret = canonicalB64(parts[1], 32)
  if (secret === undefined) return badInvite('bad invite link: the secret is not 32 bytes')
  const pub = fromBase64Url(token.value.invitePub)
  if (pub === undefined || !equalBytes(ed25519.getPublicKey(secret), pub)) {
    return badInvite("bad invite link: the secret is not the invite key's")
  }
  const doc = canonicalB64(parts[2], 32)
  const epoch = canonicalB64(parts[3], 32)
  if (doc === undefined || epoch === undefined)
    return badInvite('bad invite link: a space key is not 32 bytes')
  const keys = { doc, epoch }
  if (token.value.kc !== undefined && token.value.kc !== keyCheck(keys))
    return badInvite("bad invite link: the space keys are not the ones the invite's signer gave")
  const signed = verifyToken(token.value)
  if (!signed.ok) return signed
  return ok({ token: token.value, secret, keys })
}

/** The token's shape and the inviter's (`by`) signature over it. Never throws. */
export function verifyToken(token: InviteToken): Result<void> {
  const shape = checkToken(token)
  if (!shape.ok) return shape
  const key = publicKeyFromDidKey(token.by)
  const sig = fromBase64Url(token.sig)
  if (!key.ok || sig === undefined || !verify(key.value, signingBytes(token), sig)) {
    return err(
      new SpaceError(
        'BAD_SIGNATURE',
        `invite ${token.id}: the token's signature does not verify for ${token.by.slice(0, 60)} (forged or altered)`,
      ),
    )
  }
  return ok(undefined)
}

/**
 * Is `token` a good invite into `space` at `now`? Checks, in order: the token and its signature,
 * that it names this space, not revoked, not expired, that the inviter is a current member whose
 * role may grant the token's role, and that uses are left (redemptions by dids other than
 * `redeemer` count against maxUses, so redeeming twice is idempotent). The error names the rule.
 * `uses` (default: `space`) is the state the uses are counted in; false skips that check.
 */
export function checkInvite(
  token: InviteToken,
  space: SpaceState,
  now: number,
  redeemer?: string,
  uses: SpaceState | false = space,
): Result<void> {
  const signed = verifyToken(token)
  if (!signed.ok) return signed
  const id = token.id
  if (token.space !== space.id) {
    return badInvite(`invite ${id} is for space ${token.space}, not ${space.id}`)
  }
  if (space.revoked.has(id)) {
    return err(new SpaceError('INVITE_REVOKED', `invite ${id} was revoked`))
  }
  if (!(now < token.expiresAt)) {
    return err(
      new SpaceError(
        'INVITE_EXPIRED',
        `invite ${id} expired at ${new Date(token.expiresAt).toISOString()}`,
      ),
    )
  }
  const inviter = space.members.get(token.by)
  if (space.removed.has(token.by)) {
    return err(new SpaceError('NOT_A_MEMBER', `invite ${id}: the inviter ${token.by} was removed`))
  }
  if (inviter === undefined) {
    return err(
      new SpaceError('NOT_A_MEMBER', `invite ${id}: the inviter ${token.by} is not a member`),
    )
  }
  if (!mayGrant(inviter.role, token.role)) {
    return err(
      new SpaceError(
        'NOT_ALLOWED',
        `invite ${id}: the inviter is a ${inviter.role}, who may not grant ${token.role}`,
      ),
    )
  }
  if (uses === false) return ok(undefined)
  const used = [...usesOf(uses, id)].filter((did) => did !== redeemer).length
  if (used >= token.maxUses) {
    return err(
      new SpaceError(
        'INVITE_EXHAUSTED',
        `invite ${id} was used ${used} time(s) of ${token.maxUses} by others`,
      ),
    )
  }
  return ok(undefined)
}

function joinStatement(spaceId: string, inviteId: string, newcomerDid: string): Uint8Array {
  return utf8(`${JOIN_CONTEXT}|${spaceId}|${inviteId}|${newcomerDid}`)
}

/** The newcomer's proof that it holds the invite secret (base64url Ed25519 signature). */
export function joinProof(
  secret: Uint8Array,
  spaceId: string,
  inviteId: string,
  newcomerDid: string,
): string {
  for (const part of [spaceId, inviteId, newcomerDid]) {
    if (part.includes('|')) throw new SpaceError('BAD_INVITE', `"|" in ${show(part)}`)
  }
  return toBase64Url(ed25519.sign(joinStatement(spaceId, inviteId, newcomerDid), secret))
}

/** True if `proof` was made with the secret of `token`'s invite key, for `newcomerDid`. */
export function verifyJoinProof(token: InviteToken, proof: unknown, newcomerDid: string): boolean {
  if (!checkToken(token).ok || !isDid(newcomerDid)) return false
  const sig = canonicalB64(proof, 64)
  const pub = fromBase64Url(token.invitePub)
  if (sig === undefined || pub === undefined) return false
  return verify(pub, joinStatement(token.space, token.id, newcomerDid), sig)
}

/**
 * What a newcomer writes to join: `member` at /members/<newcomer> and `redeemed` at
 * /redeemed/<token.id>/<newcomer>, in one change signed by the newcomer.
 */
export function joinValues(
  invite: Invite,
  newcomerDid: string,
  now = Date.now(),
  name?: string,
): { member: MemberValue; redeemed: { at: number } } {
  const { token, secret } = invite
  const member: MemberValue = {
    role: token.role,
    addedBy: token.by,
    addedAt: now,
    invite: {
      token: encodeToken(token),
      proof: joinProof(secret, token.space, token.id, newcomerDid),
    },
  }
  if (name !== undefined) member.name = name
  return { member, redeemed: { at: now } }
}

/** The optional /invites/<id> record of an invite made. */
export function inviteRecord(token: InviteToken): {
  role: Role
  maxUses: number
  expiresAt: number
  by: string
} {
  return { role: token.role, maxUses: token.maxUses, expiresAt: token.expiresAt, by: token.by }
}
