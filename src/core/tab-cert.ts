/**
 * A tab certificate: the user's identity vouches for one tab's libp2p peer id. Peers send it in
 * their sync HELLO; the receiver checks it against the connection's remote peer id, so it learns
 * which person is behind a tab and a stolen certificate is useless on another connection.
 */
import { concatBytes, utf8 } from './bytes'
import { IdentityError, type Result, ok, err } from './errors'
import { didKeyFromPublicKey, sign, verify, type Identity } from './identity'
import type { Reader, Writer } from './wire/codec'

export interface TabCert {
  identityKey: Uint8Array
  peerId: string
  /** the browser profile the tab belongs to (tabs of one profile sync through IndexedDB) */
  profileId: string
  issuedAt: number
  signature: Uint8Array
}

const CERT_MAX_AGE_MS = 7 * 24 * 3600 * 1000
const CLOCK_SKEW_MS = 10 * 60 * 1000

/**
 * Why these fields cannot be signed unambiguously, or undefined. The signed bytes separate the
 * fields with newlines, so a newline inside peerId or profileId would let the same signature stand
 * for other fields ("P\na" + "b" signs like "P" + "a\nb"); the key has a fixed length (`verify`
 * refuses any other) and issuedAt is a decimal integer, so without such newlines the bytes name
 * one set of fields.
 */
function fieldsProblem(c: Omit<TabCert, 'signature'>): string | undefined {
  if (typeof c.peerId !== 'string' || c.peerId.includes('\n')) return 'peer id has a newline'
  if (typeof c.profileId !== 'string' || c.profileId.includes('\n'))
    return 'profile id has a newline'
  if (!Number.isSafeInteger(c.issuedAt) || c.issuedAt < 0) return 'issuedAt is not a time'
  return undefined
}

function certMessage(c: Omit<TabCert, 'signature'>): Uint8Array {
  return concatBytes([
    utf8('orrery/tab-cert/v1\n'),
    c.identityKey,
    utf8(`\n${c.peerId}\n${c.profileId}\n${c.issuedAt}`),
  ])
}

export function issueTabCert(
  identity: Identity,
  peerId: string,
  profileId: string,
  now = Date.now(),
): TabCert {
  const body = { identityKey: identity.publicKey, peerId, profileId, issuedAt: now }
  const problem = fieldsProblem(body)
  // the caller's mistake (peer and profile ids are ours), not network input
  if (problem !== undefined) throw new RangeError(`tab certificate: ${problem}`)
  return { ...body, signature: sign(identity, certMessage(body)) }
}

/** Checks a certificate for the given connection; returns the certified identity (did:key). */
export function verifyTabCert(
  cert: TabCert,
  remotePeerId: string,
  now = Date.now(),
): Result<string> {
  if (cert.peerId !== remotePeerId) {
    return err(new IdentityError('BAD_SIGNATURE', 'tab certificate is for another peer'))
  }
  if (cert.issuedAt > now + CLOCK_SKEW_MS || cert.issuedAt < now - CERT_MAX_AGE_MS) {
    return err(new IdentityError('BAD_SIGNATURE', 'tab certificate is expired or from the future'))
  }
  const problem = fieldsProblem(cert)
  if (problem !== undefined) {
    return err(new IdentityError('BAD_SIGNATURE', `tab certificate: ${problem}`))
  }
  if (!verify(cert.identityKey, certMessage(cert), cert.signature)) {
    return err(new IdentityError('BAD_SIGNATURE', 'tab certificate signature does not verify'))
  }
  return ok(didKeyFromPublicKey(cert.identityKey))
}

/** The one wire form of a certificate (inside the sync and outbox HELLO frames). */
export function writeTabCert(w: Writer, c: TabCert): Writer {
  return w
    .raw(c.identityKey)
    .string(c.peerId)
    .string(c.profileId)
    .varint(c.issuedAt)
    .raw(c.signature)
}

/** Reads what `writeTabCert` wrote; a short or bad input leaves its error on the reader. */
export function readTabCert(r: Reader): TabCert {
  const identityKey = r.raw(32).slice()
  const peerId = r.string(128)
  const profileId = r.string(64)
  const issuedAt = r.varint()
  const signature = r.raw(64).slice()
  return { identityKey, peerId, profileId, issuedAt, signature }
}
