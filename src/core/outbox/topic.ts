import { concatBytes, sha256, utf8 } from '../bytes'

/**
 * The rendezvous topic of a person (by their did:key): every tab of that identity joins it, so a
 * sender with messages for them can find their tabs. A hash: the relay never sees the did.
 */
export function identityTopic(did: string): Uint8Array {
  return sha256(concatBytes([utf8('orrery/identity-topic/v1:'), utf8(did)]))
}
