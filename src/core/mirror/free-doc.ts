/**
 * A free document (one of no space) on the mirror: its log has a member list too, so the mirror
 * takes its envelopes from its writers only, not from whoever knows its tag (a view-only link's
 * reader, say). The list is a roster (roster.ts) whose root is the document's writer key (from
 * its write secret, keys/write-key.ts): only a holder of the secret can sign it, and a reader can
 * still name it from the writer's public key (`wp=`), so readers and writers meet in one log.
 *
 *   tag     keyedTag(deriveKey(read key, 'mirror-free-doc/v1', doc id)): only key holders name it
 *   roster  serial 1, the writer key its one member (admin), signed by the writer key
 *   admission  a pass the writer key signs for itself as the invite key (role writer, no expiry,
 *           no use limit) and the join proof, signed by it too, for the uploading identity
 *
 * A tab holding the secret makes both when the mirror first answers NOT_A_MEMBER
 * (mirror-sync.ts), so every writer's identity is let in; a reader cannot make them.
 */
import { bytesToHex } from '../bytes'
import { sign, type Identity } from '../identity'
import { docIdToBytes, parseDocId, type DocId } from '../ids'
import { deriveKey, keyedTag } from '../keys/aead'
import type { WriteKey } from '../keys/write-key'
import { admissionJoinBytes, encodeAdmission, encodeRoster, rosterId, signPass } from './roster'

/** a pass that never expires (the varint of a date far away: year 9999) */
const NEVER = 253_402_300_799_000
/** and is never used up */
const UNLIMITED = 2 ** 32

function freeDocTag(docId: DocId, readKey: Uint8Array): Uint8Array {
  const id = parseDocId(docId)
  if (!id.ok) throw id.error
  return keyedTag(deriveKey(readKey, 'mirror-free-doc/v1', docIdToBytes(id.value)))
}

/** The id of a free document's list on the mirror: where its envelopes live. */
export function freeDocRosterId(docId: DocId, readKey: Uint8Array, writer: Uint8Array): Uint8Array {
  return rosterId(freeDocTag(docId, readKey), writer)
}

/** The writer key as a signer of roster.ts's formats (undefined without its secret). */
function signer(w: WriteKey): Identity | undefined {
  if (w.seed === undefined) return undefined
  return { id: 'writer', publicKey: w.pub, seed: w.seed, createdAt: 0 }
}

/**
 * What a writer's tab hands the mirror for `uploader` to be let into the document's log: the
 * list (the mirror keeps the first it gets; later ones are refused, harmlessly) and the
 * admission. Undefined for a reader (no write secret).
 */
export function freeDocEntry(
  docId: DocId,
  readKey: Uint8Array,
  writer: WriteKey,
  uploader: Uint8Array,
): { roster: Uint8Array; admission: Uint8Array } | undefined {
  const w = signer(writer)
  if (w === undefined) return undefined
  const tag = freeDocTag(docId, readKey)
  const id = rosterId(tag, w.publicKey)
  const roster = encodeRoster(
    {
      spaceTag: tag,
      root: w.publicKey,
      serial: 1,
      members: new Map([[bytesToHex(w.publicKey), 'admin']]),
      removed: new Set(),
    },
    w,
  )
  const admission = encodeAdmission({
    roster: id,
    inviter: w.publicKey,
    invitePub: w.publicKey,
    role: 'writer',
    expiresAt: NEVER,
    maxUses: UNLIMITED,
    pass: signPass(w, id, w.publicKey, 'writer', NEVER, UNLIMITED),
    newcomer: uploader,
    proof: sign(w, admissionJoinBytes(id, uploader)),
  })
  return { roster, admission }
}
