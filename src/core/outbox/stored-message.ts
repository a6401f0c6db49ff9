/**
 * How a signed message is kept in storage by both the outbox (outbox-store.ts) and the inbox
 * (inbox-store.ts): the stored record shape, its JSON encoding, and reading a record back.
 */
import { fromBase64Url, toBase64Url } from '../bytes'
import { messageProblem, type OutboxMessage } from './messages'

export const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

/** The JSON value of stored bytes, or undefined when they are not JSON. */
export function parse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown
  } catch {
    return undefined
  }
}

/** What is stored for a message (both sides keep it whole, signature included). */
export interface StoredMessage extends Omit<OutboxMessage, 'signature'> {
  /** base64url */
  signature: string
}

export const storedMessage = (m: OutboxMessage): StoredMessage => ({
  ...m,
  signature: toBase64Url(m.signature),
})

/**
 * A stored message back, or undefined when the record is damaged. The signature was checked
 * before the message was stored (our own, or verified on receipt) and is not checked again.
 */
export function readMessage(v: unknown): OutboxMessage | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const s = v as Partial<StoredMessage>
  if (typeof s.signature !== 'string') return undefined
  const signature = fromBase64Url(s.signature)
  if (signature?.length !== 64) return undefined
  const m = {
    id: s.id,
    from: s.from,
    to: s.to,
    kind: s.kind,
    payload: s.payload,
    createdAt: s.createdAt,
    signature,
  } as OutboxMessage
  return messageProblem(m) === undefined ? m : undefined
}
