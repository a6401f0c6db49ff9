/**
 * A space's member-key list for the mirror (issue 16): the one thing the mirror learns of a
 * space in the clear, so that it can take envelopes from the space's members only. Counted as a
 * leak in docs/SECURITY.md: the mirror sees how many members a space has, their public keys and
 * roles, and which keys were removed; never the space's id, name or documents.
 *
 * Naming. A roster lives under its id, `SHA-256("orrery/mirror-roster-id/v1" ‖ spaceTag ‖ root)`:
 *   spaceTag  keyedTag(deriveKey(space document's read key, 'mirror-space/v1', space id)): only
 *             those who hold the space's key can name its roster
 *   root      the space creator's Ed25519 key, the only key that may sign a roster's first
 *             version. The root is part of the id, so a member (or a link holder) who signs a
 *             roster of their own makes another id, a log nobody else reads: they cannot take the
 *             space's roster before its creator does.
 *
 * Roster, version 1 (varints: unsigned LEB128, shortest form):
 *   version (1) ‖ spaceTag (32) ‖ root (32) ‖ serial (varint ≥ 1)
 *   ‖ varint(n) ‖ n × (key (32) ‖ role (1: reader, 2: writer, 3: admin)), keys ascending
 *   ‖ varint(m) ‖ m × key (32), ascending: removed members (an invite cannot bring them back)
 *   ‖ signer (32) ‖ signature (64) over ROSTER_LABEL ‖ every byte before the signature
 * The mirror takes a roster when its serial is above the one it holds and its signer is an admin
 * of the one it holds (the root, for the first).
 *
 * Admission: a newcomer's way in before any admin is online. The inviter signs a pass (PASS_LABEL
 * ‖ rosterId ‖ invitePub ‖ role ‖ varint(expiresAt) ‖ varint(maxUses)) carried in the invite
 * token (`mp`); the newcomer proves it holds the invite's secret by signing, with the invite key,
 * JOIN_LABEL ‖ rosterId ‖ its own key. The mirror admits it if the inviter may grant that role,
 * the pass has not expired, the invite has uses left and the newcomer was not removed.
 *
 * Every signed text begins with its own label, so none can pass for another signed format. The
 * parsers never throw.
 */
import { bytesToHex, concatBytes, hexToBytes, sha256, utf8 } from '../bytes'
import { ProtocolError, type Result, err, ok } from '../errors'
import { sign, verify, type Identity } from '../identity'
import { docIdToBytes, parseDocId, type DocId } from '../ids'
import { deriveKey, keyedTag } from '../keys/aead'
import type { Role } from '../spaces/model'
import { Reader, Writer, readShortestVarint } from '../wire/codec'

export const ROSTER_VERSION = 1
/** members and removed keys of one roster, at most (a roster stays under 400 KiB) */
export const MAX_ROSTER_KEYS = 10_000
export const MAX_ROSTER_BYTES = 1 + 32 + 32 + 8 + 2 * 3 + MAX_ROSTER_KEYS * 33 + 32 + 64
export const ADMISSION_BYTES = 32 * 4 + 1 + 64 * 2 + 2 * 8

const ROSTER_LABEL = utf8('orrery/mirror-roster/v1\n')
const ROSTER_ID_LABEL = utf8('orrery/mirror-roster-id/v1\n')
const PASS_LABEL = utf8('orrery/mirror-invite/v1\n')
const JOIN_LABEL = utf8('orrery/mirror-join/v1\n')
/** a role as a list and an admission spell it */
export const ROLE_BYTE: Readonly<Record<Role, number>> = { reader: 1, writer: 2, admin: 3 }
export const BYTE_ROLE: Readonly<Record<number, Role>> = { 1: 'reader', 2: 'writer', 3: 'admin' }

export interface RosterBody {
  spaceTag: Uint8Array
  root: Uint8Array
  serial: number
  /** by hex key */
  members: Map<string, Role>
  /** hex keys */
  removed: Set<string>
}

export interface ParsedRoster extends RosterBody {
  id: Uint8Array
  signer: Uint8Array
  signature: Uint8Array
  /** what the signature covers */
  signed: Uint8Array
}

export interface Admission {
  roster: Uint8Array
  inviter: Uint8Array
  invitePub: Uint8Array
  role: Role
  expiresAt: number
  maxUses: number
  /** the inviter's signature over the pass */
  pass: Uint8Array
  newcomer: Uint8Array
  /** the invite key's signature over the newcomer's key */
  proof: Uint8Array
}

const hex = (b: Uint8Array): string => bytesToHex(b)
function unhex(s: string): Uint8Array {
  try {
    return hexToBytes(s)
  } catch {
    return new Uint8Array(0)
  }
}

/** The tag a space's roster is named with (see top). */
export function spaceRosterTag(spaceDocKey: Uint8Array, spaceId: DocId): Uint8Array {
  const id = parseDocId(spaceId)
  if (!id.ok) throw id.error
  return keyedTag(deriveKey(spaceDocKey, 'mirror-space/v1', docIdToBytes(id.value)))
}

/** A roster's id: its space's tag and root, hashed. */
export function rosterId(spaceTag: Uint8Array, root: Uint8Array): Uint8Array {
  return sha256(concatBytes([ROSTER_ID_LABEL, spaceTag, root]))
}

/** A signed roster. Throws on a caller's bug (sizes, too many keys, a serial below 1). */
export function encodeRoster(body: RosterBody, signer: Identity): Uint8Array {
  if (body.spaceTag.length !== 32 || body.root.length !== 32) throw new RangeError('32-byte keys')
  if (!Number.isSafeInteger(body.serial) || body.serial < 1) throw new RangeError('serial ≥ 1')
  if (body.members.size + body.removed.size > MAX_ROSTER_KEYS)
    throw new RangeError(`more than ${MAX_ROSTER_KEYS} keys`)
  const w = new Writer().u8(ROSTER_VERSION).raw(body.spaceTag).raw(body.root).varint(body.serial)
  const members = [...body.members.keys()].sort()
  w.varint(members.length)
  for (const k of members) w.raw(checkKey(k)).u8(ROLE_BYTE[body.members.get(k) as Role])
  const removed = [...body.removed].filter((k) => !body.members.has(k)).sort()
  w.varint(removed.length)
  for (const k of removed) w.raw(checkKey(k))
  w.raw(signer.publicKey)
  const unsigned = w.finish()
  return concatBytes([unsigned, sign(signer, concatBytes([ROSTER_LABEL, unsigned]))])
}

function checkKey(k: string): Uint8Array {
  const b = unhex(k)
  if (b.length !== 32 || hex(b) !== k) throw new RangeError(`not a key: ${k.slice(0, 16)}`)
  return b
}

const malformed = (why: string): Result<never, ProtocolError> =>
  err(new ProtocolError('MALFORMED_MESSAGE', `mirror roster: ${why}`))

/** Reads a roster strictly (keys ascending, no repeats, known roles). Signature: `verifyRoster`. */
export function parseRoster(bytes: Uint8Array): Result<ParsedRoster, ProtocolError> {
  if (!(bytes instanceof Uint8Array)) return malformed('not bytes')
  if (bytes.length > MAX_ROSTER_BYTES)
    return err(new ProtocolError('MESSAGE_TOO_LARGE', `a roster of ${bytes.length} bytes`))
  const r = new Reader(bytes)
  const version = r.u8()
  if (r.error === undefined && version !== ROSTER_VERSION)
    return err(new ProtocolError('UNSUPPORTED_VERSION', `roster version ${version}`))
  const spaceTag = r.raw(32)
  const root = r.raw(32)
  const serial = readShortestVarint(r)
  if (r.error === undefined && serial < 1) r.fail('serial 0')
  const members = new Map<string, Role>()
  const count = readShortestVarint(r, MAX_ROSTER_KEYS)
  let last = ''
  for (let i = 0; i < count && r.error === undefined; i++) {
    const k = hex(r.raw(32))
    const role = BYTE_ROLE[r.u8()]
    if (r.error !== undefined) break
    if (role === undefined) r.fail('an unknown role')
    if (k <= last) r.fail('member keys not ascending')
    members.set(k, role ?? 'reader')
    last = k
  }
  const removed = new Set<string>()
  const gone = readShortestVarint(r, MAX_ROSTER_KEYS)
  if (r.error === undefined && count + gone > MAX_ROSTER_KEYS) r.fail('too many keys')
  last = ''
  for (let i = 0; i < gone && r.error === undefined; i++) {
    const k = hex(r.raw(32))
    if (r.error !== undefined) break
    if (k <= last) r.fail('removed keys not ascending')
    if (members.has(k)) r.fail('a key both member and removed')
    removed.add(k)
    last = k
  }
  const signer = r.raw(32)
  const unsignedLength = bytes.length - r.remaining
  const signature = r.raw(64)
  r.end()
  if (r.error !== undefined) return malformed(r.error)
  return ok({
    id: rosterId(spaceTag, root),
    spaceTag,
    root,
    serial,
    members,
    removed,
    signer,
    signature,
    signed: concatBytes([ROSTER_LABEL, bytes.subarray(0, unsignedLength)]),
  })
}

/** Whether the roster's signer signed it (the mirror checks the same with node:crypto). */
export function verifyRoster(r: ParsedRoster): boolean {
  return verify(r.signer, r.signed, r.signature)
}

/** What the inviter signs for the mirror: the pass in an invite token (`mp`). */
export function passBytes(
  roster: Uint8Array,
  invitePub: Uint8Array,
  role: Role,
  expiresAt: number,
  maxUses: number,
): Uint8Array {
  const tail = new Writer().u8(ROLE_BYTE[role]).varint(expiresAt).varint(maxUses).finish()
  return concatBytes([PASS_LABEL, roster, invitePub, tail])
}

/** What the newcomer signs with the invite key for the mirror. */
export function admissionJoinBytes(roster: Uint8Array, newcomer: Uint8Array): Uint8Array {
  return concatBytes([JOIN_LABEL, roster, newcomer])
}

export function signPass(
  inviter: Identity,
  roster: Uint8Array,
  invitePub: Uint8Array,
  role: Role,
  expiresAt: number,
  maxUses: number,
): Uint8Array {
  return sign(inviter, passBytes(roster, invitePub, role, expiresAt, maxUses))
}

export function encodeAdmission(a: Admission): Uint8Array {
  for (const k of [a.roster, a.inviter, a.invitePub, a.newcomer])
    if (k.length !== 32) throw new RangeError('a key or id of the admission is not 32 bytes')
  if (a.pass.length !== 64 || a.proof.length !== 64) throw new RangeError('64-byte signatures')
  return new Writer()
    .raw(a.roster)
    .raw(a.inviter)
    .raw(a.invitePub)
    .u8(ROLE_BYTE[a.role])
    .varint(a.expiresAt)
    .varint(a.maxUses)
    .raw(a.pass)
    .raw(a.newcomer)
    .raw(a.proof)
    .finish()
}

/** Reads an admission strictly. Its signatures: `admissionSigned`. Never throws. */
export function parseAdmission(bytes: Uint8Array): Result<Admission, ProtocolError> {
  if (!(bytes instanceof Uint8Array) || bytes.length > ADMISSION_BYTES)
    return malformed('an admission of the wrong size')
  const r = new Reader(bytes)
  const roster = r.raw(32)
  const inviter = r.raw(32)
  const invitePub = r.raw(32)
  const role = BYTE_ROLE[r.u8()]
  if (r.error === undefined && role === undefined) r.fail('an unknown role')
  const expiresAt = readShortestVarint(r)
  const maxUses = readShortestVarint(r)
  const pass = r.raw(64)
  const newcomer = r.raw(32)
  const proof = r.raw(64)
  r.end()
  if (r.error !== undefined) return malformed(`admission: ${r.error}`)
  return ok({
    roster,
    inviter,
    invitePub,
    role: role ?? 'reader',
    expiresAt,
    maxUses,
    pass,
    newcomer,
    proof,
  })
}

/** The two signed texts of an admission and who must have signed them. */
export function admissionSigned(
  a: Admission,
): { key: Uint8Array; signed: Uint8Array; sig: Uint8Array }[] {
  return [
    {
      key: a.inviter,
      signed: passBytes(a.roster, a.invitePub, a.role, a.expiresAt, a.maxUses),
      sig: a.pass,
    },
    { key: a.invitePub, signed: admissionJoinBytes(a.roster, a.newcomer), sig: a.proof },
  ]
}

export { hex as keyHex, unhex as hexKey }
