/** A document as the mirror's tests use it: an id, a read key, and the tag the mirror files it under. */
import { newDocId, type DocId } from '../src/core/ids'
import { randomKey } from '../src/core/keys/aead'
import { mirrorDocTag } from '../src/core/mirror/envelope'

export interface MirrorTestDoc {
  docId: DocId
  readKey: Uint8Array
  tag: Uint8Array
}

export function newMirrorDoc(): MirrorTestDoc {
  const docId = newDocId()
  const readKey = randomKey()
  return { docId, readKey, tag: mirrorDocTag(docId, readKey) }
}
