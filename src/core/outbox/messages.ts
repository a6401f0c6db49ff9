/**
 * The outbox protocol `/orrery/outbox/<major>.0.0` (majors: wire/versions.ts), carried in Orrery's
 * framing (wire/framing.ts). The side that opens a stream delivers; the side that accepts it
 * receives:
 *   HELLO    version (the negotiated id's major: `helloVersion`), the receiver's tab
 *            certificate (sent first by the receiving side: the sender learns which person is
 *            behind the tab before it sends anything)
 *   MESSAGE  id (16 bytes), from, to (did:key), kind, payload (JSON text), createdAt (ms),
 *            signature (Ed25519 by `from` over `signingBytes`)
 *   ACK      id, status: accepted | not-me | rejected
 * Decoders check structure and limits and never throw; `verifyMessage` checks the signature.
 */
import { bytesToHex, hexToBytes, randomBytes } from '../bytes'
import { InvalidValueError, ProtocolError, type Result, ok, err } from '../errors'
import { publicKeyFromDidKey, sign, verify, type Identity } from '../identity'
import { readTabCert, writeTabCert, type TabCert } from '../tab-cert'
import { checkJson, type JsonValue } from '../values'
import { Reader, Writer } from '../wire/codec'
import { MAX_FRAME } from '../wire/framing'
import { protocolId, VERSIONS } from '../wire/versions'

/** the current outbox protocol id (all spoken ids: `spokenIds('outbox')`) */
export const OUTBOX_PROTOCOL = protocolId('outbox', VERSIONS.outbox.current)
/** the JSON text of a payload, in UTF-8 bytes */
export const MAX_PAYLOAD_BYTES = 16 * 1024
export const MAX_KIND_BYTES = 64
/** a did:key of an Ed25519 key is 56 characters; room for nothing else */
export const MAX_DID_BYTES = 128
/** the framing limit for this protocol: one message with the largest payload and its header */
export const MAX_OUTBOX_MESSAGE = 20 * 1024
/** the framing limits of an outbox stream, both ways */
export const OUTBOX_FRAMING = { maxFrame: MAX_FRAME, maxMessage: MAX_OUTBOX_MESSAGE }

const ID_BYTES = 16
const KIND = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/
const ID = /^[0-9a-f]{32}$/

export type AckStatus = 'accepted' | 'not-me' | 'rejected'

export interface OutboxMessage {
  /** 16 random bytes, 32 lowercase hex characters */
  id: string
  /** the sender's did:key */
  from: string
  /** the recipient's did:key */
  to: string
  /** what the payload means to apps, e.g. "microblog/mention" */
  kind: string
  /** the payload's JSON text, exactly as signed */
  payload: string
  /** ms since the epoch, by the sender's clock */
  createdAt: number
  /** Ed25519 by `from` over `signingBytes(message)` */
  signature: Uint8Array
}

export type OutboxFrame =
  | { type: 'hello'; version: number; cert: TabCert }
  | { type: 'message'; message: OutboxMessage }
  | { type: 'ack'; id: string; status: AckStatus }

const T_HELLO = 1
const T_MESSAGE = 2
const T_ACK = 3
const ACK_CODES: Record<AckStatus, number> = { accepted: 0, 'not-me': 1, rejected: 2 }
const ACK_STATUSES: AckStatus[] = ['accepted', 'not-me', 'rejected']

export function newMessageId(): string {
  return bytesToHex(randomBytes(ID_BYTES))
}

/** The canonical bytes a message's signature covers: every field but the signature. */
export function signingBytes(m: Omit<OutboxMessage, 'signature'>): Uint8Array {
  return new Writer()
    .string('orrery/outbox/v1')
    .raw(hexToBytes(m.id))
    .string(m.from)
    .string(m.to)
    .string(m.kind)
    .string(m.payload)
    .varint(m.createdAt)
    .finish()
}

/** What is wrong with a message's fields (not its signature), or undefined. */
export function messageProblem(m: Omit<OutboxMessage, 'signature'>): string | undefined {
  if (typeof m.id !== 'string' || !ID.test(m.id)) return 'id is not 16 bytes of lowercase hex'
  if (!publicKeyFromDidKey(m.from).ok) return 'from is not an Ed25519 did:key'
  if (!publicKeyFromDidKey(m.to).ok) return 'to is not an Ed25519 did:key'
  if (typeof m.kind !== 'string' || !KIND.test(m.kind) || utf8Length(m.kind) > MAX_KIND_BYTES)
    return `kind must be 1..${MAX_KIND_BYTES} characters of [A-Za-z0-9._/-]`
  if (typeof m.payload !== 'string') return 'payload is not JSON text'
  if (utf8Length(m.payload) > MAX_PAYLOAD_BYTES) return `payload exceeds ${MAX_PAYLOAD_BYTES} bytes`
  try {
    JSON.parse(m.payload)
  } catch {
    return 'payload is not JSON'
  }
  if (!Number.isSafeInteger(m.createdAt) || m.createdAt < 0) return 'createdAt is not a time'
  return undefined
}

/**
 * Builds and signs a message from `identity` (throws InvalidValueError on a bad recipient, kind
 * or payload: those are the caller's mistakes, not network input).
 */
export function signMessage(
  identity: Identity,
  fields: { to: string; kind: string; payload: JsonValue; id?: string; createdAt?: number },
): OutboxMessage {
  checkJson(fields.payload, 'payload')
  const body = {
    id: fields.id ?? newMessageId(),
    from: identity.id,
    to: fields.to,
    kind: fields.kind,
    payload: JSON.stringify(fields.payload),
    createdAt: fields.createdAt ?? Date.now(),
  }
  const problem = messageProblem(body)
  if (problem !== undefined) throw new InvalidValueError(`outbox message: ${problem}`)
  return { ...body, signature: sign(identity, signingBytes(body)) }
}

/** True when the fields are valid and `from` signed exactly these fields. */
export function verifyMessage(m: OutboxMessage): boolean {
  if (messageProblem(m) !== undefined) return false
  const key = publicKeyFromDidKey(m.from)
  return key.ok && verify(key.value, signingBytes(m), m.signature)
}

/** Encodes a frame; throws RangeError on a frame that breaks the limits (a programming error). */
export function encodeOutboxFrame(f: OutboxFrame): Uint8Array {
  const w = new Writer()
  switch (f.type) {
    case 'hello':
      writeTabCert(w.u8(T_HELLO).varint(f.version), f.cert)
      break
    case 'message': {
      const m = f.message
      const problem = messageProblem(m)
      if (problem !== undefined) throw new RangeError(`outbox message: ${problem}`)
      if (m.signature.length !== 64) throw new RangeError('outbox message: signature length')
      w.u8(T_MESSAGE)
        .raw(hexToBytes(m.id))
        .string(m.from)
        .string(m.to)
        .string(m.kind)
        .string(m.payload)
        .varint(m.createdAt)
        .raw(m.signature)
      break
    }
    case 'ack':
      if (!ID.test(f.id)) throw new RangeError('ack: bad id')
      w.u8(T_ACK).raw(hexToBytes(f.id)).u8(ACK_CODES[f.status])
      break
  }
  return w.finish()
}

export function decodeOutboxFrame(buf: Uint8Array): Result<OutboxFrame, ProtocolError> {
  const bad = (why: string): Result<never, ProtocolError> =>
    err(new ProtocolError('MALFORMED_MESSAGE', `outbox: ${why}`))
  if (buf.length > MAX_OUTBOX_MESSAGE)
    return err(new ProtocolError('MESSAGE_TOO_LARGE', 'outbox: frame exceeds the limit'))
  const r = new Reader(buf)
  const type = r.u8()
  let f: OutboxFrame
  switch (type) {
    case T_HELLO: {
      const version = r.varint(0xffff)
      f = { type: 'hello', version, cert: readTabCert(r) }
      break
    }
    case T_MESSAGE: {
      const id = bytesToHex(r.raw(ID_BYTES))
      const from = r.string(MAX_DID_BYTES)
      const to = r.string(MAX_DID_BYTES)
      const kind = r.string(MAX_KIND_BYTES)
      const payloadLength = r.varint()
      if (r.error === undefined && payloadLength > MAX_PAYLOAD_BYTES) {
        return err(new ProtocolError('MESSAGE_TOO_LARGE', 'outbox: payload exceeds the limit'))
      }
      const payload = r.error === undefined ? readUtf8(r, payloadLength) : ''
      const createdAt = r.varint()
      const signature = r.raw(64).slice()
      const message: OutboxMessage = { id, from, to, kind, payload, createdAt, signature }
      r.end()
      if (r.error !== undefined) return bad(`message: ${r.error}`)
      const problem = messageProblem(message)
      if (problem !== undefined) return bad(`message: ${problem}`)
      return ok({ type: 'message', message })
    }
    case T_ACK: {
      const id = bytesToHex(r.raw(ID_BYTES))
      const status = ACK_STATUSES[r.u8()]
      if (r.error === undefined && status === undefined) r.fail('unknown ack status')
      f = { type: 'ack', id, status: status ?? 'rejected' }
      break
    }
    default:
      return bad(`unknown message type ${type}`)
  }
  r.end()
  if (r.error !== undefined) return bad(`${f.type}: ${r.error}`)
  return ok(f)
}

function readUtf8(r: Reader, n: number): string {
  const bytes = r.raw(n)
  if (r.error !== undefined) return ''
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    r.fail('invalid UTF-8')
    return ''
  }
}

const encoder = new TextEncoder()
function utf8Length(s: string): number {
  return encoder.encode(s).length
}
