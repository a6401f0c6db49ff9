/**
 * The mirror's wire protocol, `/orrery/mirror/2.0.0`: tabs upload envelopes (envelope.ts) to an
 * always-on mirror and fetch a document's envelopes since an index; a space's admins keep its
 * member-key list there (roster.ts), and a newcomer with an invite is admitted before its first
 * upload. Version 1 had no rosters: its envelopes named no space.
 *
 * One request per stream. The asking side opens a stream, sends one framed request (framing.ts)
 * and closes its writable end; the mirror sends one framed answer and closes its own. Each side
 * reads the other's whole side and takes exactly one message from it (`readOne`): a stream
 * carries no state from one request to the next, so what a stream can cost the mirror is bounded
 * by one request, and a stream ends cleanly on both sides without either aborting it.
 *
 * Messages (varints: unsigned LEB128; bytes: varint(length) ‖ data; strings: UTF-8 as bytes):
 *
 *   requests  1 PUT        envelope (bytes, 1…MAX_ENVELOPE_BYTES)
 *             2 SINCE      roster (32; zeros: none) ‖ docTag (32) ‖ after (varint) ‖
 *                          limit (varint, 1…MAX_PAGE_ENVELOPES)
 *             6 ROSTER_PUT roster (bytes, 1…MAX_ROSTER_BYTES)
 *             7 ROSTER_GET roster id (32)
 *             8 ADMIT      admission (bytes, 1…ADMISSION_BYTES)
 *   answers   3 OK_PUT     index (varint ≥ 1) ‖ duplicate (1 byte, 0 or 1)
 *             4 ENVELOPES  count (varint ≤ MAX_PAGE_ENVELOPES) ‖ count × (index (varint ≥ 1) ‖
 *                          envelope (bytes, 1…MAX_ENVELOPE_BYTES)) ‖ more (1 byte, 0 or 1)
 *             5 ERROR      code (string, one of MIRROR_ERROR_CODES) ‖ message (string)
 *             9 ROSTER     present (1 byte) ‖ [roster (bytes)]: ROSTER_GET's answer
 *            10 DONE       (nothing): a roster or an admission taken
 *
 * Caps: a request is at most MAX_MIRROR_REQUEST bytes (one whole envelope), an ENVELOPES or ROSTER
 * answer at most MAX_SINCE_ANSWER (the mirror stops adding envelopes before it and sets `more`; the first
 * envelope always fits), any other answer MAX_SMALL_ANSWER. The decoders never throw: anything
 * else is a MALFORMED_MESSAGE, or a MESSAGE_TOO_LARGE for a length over its cap.
 */
import {
  IdentityError,
  OrreryError,
  ProtocolError,
  StorageError,
  type Result,
  err,
  ok,
} from '../errors'
import { Reader, Writer, varintLength } from '../wire/codec'
import { MAX_ENVELOPE_BYTES } from './envelope'
import { ADMISSION_BYTES, MAX_ROSTER_BYTES } from './roster'
import { protocolId, VERSIONS } from '../wire/versions'

export { readOne, sendOne, type ReadOneOptions } from './stream'

export const MIRROR_PROTOCOL = protocolId('mirror', VERSIONS.mirror.current)
/** the most envelopes one SINCE asks for (and one ENVELOPES answer holds) */
export const MAX_PAGE_ENVELOPES = 1000
/** a request: the largest PUT (type, length prefix, envelope), with room to spare */
export const MAX_MIRROR_REQUEST = MAX_ENVELOPE_BYTES + 16
/** an ENVELOPES answer, all of it: room for two of the largest envelopes */
export const MAX_SINCE_ANSWER = 8 * 1024 * 1024
/** an OK_PUT or ERROR answer */
export const MAX_SMALL_ANSWER = 4096
/** an ENVELOPES answer's bytes besides its entries (type, count, more), at most */
export const PAGE_OVERHEAD = 16
const TAG_BYTES = 32
const MAX_CODE_BYTES = 64
/** an error's message, in bytes; the mirror cuts longer ones (`encodeMirrorAnswer`) */
const MAX_ERROR_MESSAGE_BYTES = 2048
const MAX_ERROR_MESSAGE_CHARS = 600

/** The codes a mirror answers with; a client takes no other. */
export const MIRROR_ERROR_CODES = [
  'MALFORMED_MESSAGE',
  'MESSAGE_TOO_LARGE',
  'PROTOCOL_VIOLATION',
  'UNSUPPORTED_VERSION',
  'BAD_SIGNATURE',
  'STORAGE_FULL',
  'STORAGE_FAILED',
  'NOT_READY',
  'NOT_A_MEMBER',
  'NOT_ALLOWED',
  'BAD_INVITE',
  'INVITE_EXPIRED',
  'INVITE_EXHAUSTED',
] as const
export type MirrorErrorCode = (typeof MIRROR_ERROR_CODES)[number]

export interface PageEntry {
  index: number
  envelope: Uint8Array
}

export type MirrorRequest =
  | { type: 'put'; envelope: Uint8Array }
  | { type: 'since'; roster: Uint8Array; docTag: Uint8Array; after: number; limit: number }
  | { type: 'roster-put'; roster: Uint8Array }
  | { type: 'roster-get'; id: Uint8Array }
  | { type: 'admit'; admission: Uint8Array }

export type MirrorAnswer =
  | { type: 'ok-put'; index: number; duplicate: boolean }
  | { type: 'envelopes'; envelopes: PageEntry[]; more: boolean }
  | { type: 'error'; code: MirrorErrorCode; message: string }
  | { type: 'roster'; roster: Uint8Array | undefined }
  | { type: 'done' }

const T_PUT = 1
const T_SINCE = 2
const T_OK_PUT = 3
const T_ENVELOPES = 4
const T_ERROR = 5
const T_ROSTER_PUT = 6
const T_ROSTER_GET = 7
const T_ADMIT = 8
const T_ROSTER = 9
const T_DONE = 10

export { varintLength }

/** What one entry adds to an ENVELOPES answer (the mirror fills pages up to its cap with this). */
export function pageEntryBytes(index: number, envelopeLength: number): number {
  return varintLength(index) + varintLength(envelopeLength) + envelopeLength
}

/** Throws a RangeError on a request no client should make (a caller's bug). */
export function encodeMirrorRequest(m: MirrorRequest): Uint8Array {
  if (m.type === 'put') {
    if (m.envelope.length === 0 || m.envelope.length > MAX_ENVELOPE_BYTES)
      throw new RangeError(`an envelope of ${m.envelope.length} bytes`)
    return new Writer().u8(T_PUT).bytes(m.envelope).finish()
  }
  if (m.type === 'roster-put') {
    if (m.roster.length === 0 || m.roster.length > MAX_ROSTER_BYTES)
      throw new RangeError(`a roster of ${m.roster.length} bytes`)
    return new Writer().u8(T_ROSTER_PUT).bytes(m.roster).finish()
  }
  if (m.type === 'roster-get') {
    if (m.id.length !== TAG_BYTES) throw new RangeError('a roster id is 32 bytes')
    return new Writer().u8(T_ROSTER_GET).raw(m.id).finish()
  }
  if (m.type === 'admit') {
    if (m.admission.length === 0 || m.admission.length > ADMISSION_BYTES)
      throw new RangeError(`an admission of ${m.admission.length} bytes`)
    return new Writer().u8(T_ADMIT).bytes(m.admission).finish()
  }
  if (m.docTag.length !== TAG_BYTES) throw new RangeError('a docTag is 32 bytes')
  if (m.roster.length !== TAG_BYTES) throw new RangeError('a roster id is 32 bytes')
  if (!Number.isInteger(m.limit) || m.limit < 1 || m.limit > MAX_PAGE_ENVELOPES)
    throw new RangeError(`limit ${m.limit} (1…${MAX_PAGE_ENVELOPES})`)
  return new Writer()
    .u8(T_SINCE)
    .raw(m.roster)
    .raw(m.docTag)
    .varint(m.after)
    .varint(m.limit)
    .finish()
}

/** An error's message is cut to MAX_ERROR_MESSAGE_CHARS: it fits its cap whatever it holds. */
export function encodeMirrorAnswer(m: MirrorAnswer): Uint8Array {
  const w = new Writer()
  switch (m.type) {
    case 'ok-put':
      return w
        .u8(T_OK_PUT)
        .varint(m.index)
        .u8(m.duplicate ? 1 : 0)
        .finish()
    case 'envelopes':
      w.u8(T_ENVELOPES).varint(m.envelopes.length)
      for (const e of m.envelopes) w.varint(e.index).bytes(e.envelope)
      return w.u8(m.more ? 1 : 0).finish()
    case 'error':
      return w
        .u8(T_ERROR)
        .string(m.code)
        .string(m.message.slice(0, MAX_ERROR_MESSAGE_CHARS))
        .finish()
    case 'roster':
      return m.roster === undefined
        ? w.u8(T_ROSTER).u8(0).finish()
        : w.u8(T_ROSTER).u8(1).bytes(m.roster).finish()
    case 'done':
      return w.u8(T_DONE).finish()
  }
}

const malformed = (why: string): Result<never, ProtocolError> =>
  err(new ProtocolError('MALFORMED_MESSAGE', `mirror: ${why}`))
const tooLarge = (why: string): Result<never, ProtocolError> =>
  err(new ProtocolError('MESSAGE_TOO_LARGE', `mirror: ${why}`))

/** An envelope's length prefix: MESSAGE_TOO_LARGE above the cap, read before its bytes are. */
function envelopeLength(r: Reader): number | 'too-large' {
  const n = r.varint()
  if (r.error !== undefined) return 0
  if (n > MAX_ENVELOPE_BYTES) return 'too-large'
  if (n === 0) r.fail('an envelope of no bytes')
  return n
}

function readFlag(r: Reader, what: string): boolean {
  const b = r.u8()
  if (b > 1) r.fail(`${what} flag ${b}`)
  return b === 1
}

/** Reads a request, strictly. Never throws. */
export function decodeMirrorRequest(bytes: Uint8Array): Result<MirrorRequest, ProtocolError> {
  if (bytes.length > MAX_MIRROR_REQUEST) return tooLarge(`a request of ${bytes.length} bytes`)
  const r = new Reader(bytes)
  const type = r.u8()
  let m: MirrorRequest
  if (type === T_PUT) {
    const length = envelopeLength(r)
    if (length === 'too-large') return tooLarge('an envelope over MAX_ENVELOPE_BYTES')
    m = { type: 'put', envelope: r.raw(length) }
  } else if (type === T_ROSTER_PUT) {
    m = { type: 'roster-put', roster: r.bytes(MAX_ROSTER_BYTES) }
    if (r.error === undefined && m.roster.length === 0) r.fail('a roster of no bytes')
  } else if (type === T_ROSTER_GET) {
    m = { type: 'roster-get', id: r.raw(TAG_BYTES) }
  } else if (type === T_ADMIT) {
    m = { type: 'admit', admission: r.bytes(ADMISSION_BYTES) }
    if (r.error === undefined && m.admission.length === 0) r.fail('an admission of no bytes')
  } else if (type === T_SINCE) {
    const roster = r.raw(TAG_BYTES)
    const docTag = r.raw(TAG_BYTES)
    const after = r.varint()
    const limit = r.varint()
    if (r.error === undefined && (limit < 1 || limit > MAX_PAGE_ENVELOPES))
      r.fail(`limit ${limit} (1…${MAX_PAGE_ENVELOPES})`)
    m = { type: 'since', roster, docTag, after, limit }
  } else {
    return malformed(r.error ?? `unknown request type ${type}`)
  }
  r.end()
  if (r.error !== undefined) return malformed(`${m.type}: ${r.error}`)
  return ok(m)
}

/** Reads an answer, strictly (a lying mirror gets a ProtocolError). Never throws. */
export function decodeMirrorAnswer(bytes: Uint8Array): Result<MirrorAnswer, ProtocolError> {
  const cap =
    bytes[0] === T_ENVELOPES || bytes[0] === T_ROSTER ? MAX_SINCE_ANSWER : MAX_SMALL_ANSWER
  if (bytes.length > cap) return tooLarge(`an answer of ${bytes.length} bytes`)
  const r = new Reader(bytes)
  const type = r.u8()
  let m: MirrorAnswer
  if (type === T_OK_PUT) {
    const index = r.varint()
    if (r.error === undefined && index < 1) r.fail('index 0')
    m = { type: 'ok-put', index, duplicate: readFlag(r, 'duplicate') }
  } else if (type === T_ENVELOPES) {
    const count = r.varint(MAX_PAGE_ENVELOPES)
    const envelopes: PageEntry[] = []
    for (let i = 0; i < count && r.error === undefined; i++) {
      const index = r.varint()
      if (r.error === undefined && index < 1) r.fail('index 0')
      const length = envelopeLength(r)
      if (length === 'too-large') return tooLarge('an envelope over MAX_ENVELOPE_BYTES')
      envelopes.push({ index, envelope: r.raw(length) })
    }
    m = { type: 'envelopes', envelopes, more: readFlag(r, 'more') }
  } else if (type === T_ERROR) {
    const code = r.string(MAX_CODE_BYTES)
    const message = r.string(MAX_ERROR_MESSAGE_BYTES)
    if (r.error === undefined && !isMirrorErrorCode(code)) r.fail('an unknown error code')
    m = { type: 'error', code: code as MirrorErrorCode, message }
  } else if (type === T_ROSTER) {
    const present = readFlag(r, 'present')
    const roster = present ? r.bytes(MAX_ROSTER_BYTES) : undefined
    if (r.error === undefined && roster?.length === 0) r.fail('a roster of no bytes')
    m = { type: 'roster', roster }
  } else if (type === T_DONE) {
    m = { type: 'done' }
  } else {
    return malformed(r.error ?? `unknown answer type ${type}`)
  }
  r.end()
  if (r.error !== undefined) return malformed(`${m.type}: ${r.error}`)
  return ok(m)
}

export function isMirrorErrorCode(code: string): code is MirrorErrorCode {
  return (MIRROR_ERROR_CODES as readonly string[]).includes(code)
}

/**
 * The error a refusal stands for, of the class the code belongs to (a forged envelope is an
 * IdentityError, a quota a StorageError…), so a tab handles a mirror's refusal like its own.
 */
export function mirrorError(code: MirrorErrorCode, message: string): OrreryError {
  switch (code) {
    case 'BAD_SIGNATURE':
      return new IdentityError(code, message)
    case 'STORAGE_FULL':
    case 'STORAGE_FAILED':
      return new StorageError(code, message)
    case 'NOT_READY':
    case 'NOT_A_MEMBER':
    case 'NOT_ALLOWED':
    case 'BAD_INVITE':
    case 'INVITE_EXPIRED':
    case 'INVITE_EXHAUSTED':
      return new OrreryError(code, message)
    default:
      return new ProtocolError(code, message)
  }
}

/** The code to answer for an error, mapped to the nearest the protocol has. */
export function answerCode(e: OrreryError): MirrorErrorCode {
  return isMirrorErrorCode(e.code) ? e.code : 'STORAGE_FAILED'
}
