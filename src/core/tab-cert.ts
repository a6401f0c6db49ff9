/**
 * A tab certificate: the user's identity vouches for one tab's libp2p peer id. Peers send it in
 * their sync HELLO; the receiver checks it against the connection's remote peer id, so it learns
 * which person is behind a tab and a stolen certificate is useless on another connection.
 */
import { concatBytes, utf8 } from './bytes'
import { IdentityError, type Result, ok, err } from './errors'
import { didKeyFromPublicKey, sign, verify, type Identity } from './identity'

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
  if (!verify(cert.identityKey, certMessage(cert), cert.signature)) {
    return err(new IdentityError('BAD_SIGNATURE', 'tab certificate signature does not verify'))
  }
  return ok(didKeyFromPublicKey(cert.identityKey))
}
