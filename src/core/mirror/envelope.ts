/**
 * Mirror envelopes: the encrypted bundles of changes a tab uploads to an always-on mirror. The
 * mirror holds only ciphertext: it can group envelopes by document and uploader, order them and
 * check who uploaded them, but not learn a document's id or read a change.
 *
 * Format, version 2 (varints are unsigned LEB128 in their shortest form, at most 2^53 − 1):
 *
 *   header     version (1 byte, 2)
 *              docTag (32)     keyedTag(deriveKey(readKey, 'mirror-doc/v1', docId bytes)):
 *                              the same for every envelope of a document under one read key,
 *                              unlinkable to the id without the key (`mirrorDocTag`)
 *              roster (32)     the id of the space's member list on the mirror (roster.ts), or
 *                              32 zero bytes for a document of no space. A document's log on the
 *                              mirror is (roster, docTag): an envelope naming no roster, or
 *                              another, lands in another log, which the space's members never read
 *              epoch (varint)  the space's key epoch; 0 for a free document
 *              covers (varint) 0 for a bundle of changes; N > 0 for a snapshot, which holds the
 *                              whole document as of every envelope up to index N of its log:
 *                              the mirror then drops those envelopes (compaction)
 *              uploader (32)   the uploading identity's Ed25519 public key
 *              seq (varint)    1, 2, 3… per uploader and docTag
 *   varint(ciphertext length) ‖ ciphertext
 *              aead.ts box under deriveKey(readKey, 'mirror-body/v1', docId bytes), with the
 *              header's bytes as associated data: a body cannot be moved under another header
 *   signature (64)
 *              the uploader's Ed25519 signature over header ‖ SHA-256(ciphertext)
 *
 * The plaintext is a list of changes: varint(count ≥ 1), then for each one varint(length ≥ 1) ‖
 * change bytes ‖ a flag byte (0: no change signature; 1: author key (32) ‖ signature (64)
 * follow). A change signature's hash is not stored: the reader recomputes it from the change.
 * A snapshot's list holds one whole-document chunk (no signature of its own), then its
 * signature table: varint(n) ‖ n × (hash (32) ‖ author (32) ‖ signature (64)), the signatures of
 * the changes inside it, then varint(h) ‖ h × head (32), the document's heads.
 *
 * The signed bytes cannot pass for anything else the identity signs: change signatures cover a
 * 32-byte hash (these are at least 99 bytes), and every other format it signs begins with a text
 * label (or a label's length, 16) or JSON (these begin with the byte 1).
 *
 * `parseEnvelope` and `verifyEnvelope` need no key (the mirror runs them); `openEnvelope` needs
 * the document's id and read key. None of the three throws, whatever the input.
 */
import { concatBytes, sha256 } from '../bytes'
import { CryptoError, IdentityError, ProtocolError, type Result, err, ok } from '../errors'
import { sign, verify, type Identity } from '../identity'
import { docIdToBytes, parseDocId, type DocId } from '../ids'
import {
  AEAD_OVERHEAD,
  KEY_BYTES,
  decrypt,
  deriveKey,
  encrypt,
  equalBytes,
  keyedTag,
} from '../keys/aead'
import { Reader, Writer, readShortestVarint } from '../wire/codec'
import type { ChangeSignature } from '../sync/signature-list'

export const ENVELOPE_VERSION = 2
/** the roster of a document of no space */
export const NO_ROSTER = new Uint8Array(32)
/** the largest envelope, all of it: larger ones are neither made nor parsed (MESSAGE_TOO_LARGE) */
export const MAX_ENVELOPE_BYTES = 4 * 1024 * 1024

const TAG_BYTES = 32
const PUBLIC_KEY_BYTES = 32
const SIGNATURE_BYTES = 64
const HASH_BYTES = 32
const NO_SIGNATURE = 0
const HAS_SIGNATURE = 1

/** One change in an envelope, with its author's signature (both fields, or neither). */
export interface EnvelopeChange {
  change: Uint8Array
  /** the author's Ed25519 public key (32 bytes) */
  author?: Uint8Array
  /** the author's signature over the change's hash (64 bytes) */
  signature?: Uint8Array
}

/** The cleartext part of an envelope: what the mirror sees. */
export interface EnvelopeHeader {
  version: 2
  docTag: Uint8Array
  /** the space's roster id, or NO_ROSTER */
  roster: Uint8Array
  epoch: number
  /** 0: a bundle of changes; N > 0: a snapshot of the log up to index N */
  covers: number
  uploader: Uint8Array
  seq: number
}

/** An envelope as `parseEnvelope` reads it; the byte arrays are views of the parsed bytes. */
export interface ParsedEnvelope {
  header: EnvelopeHeader
  ciphertext: Uint8Array
  signature: Uint8Array
  /** what the uploader's signature covers: the header's bytes ‖ SHA-256(ciphertext) */
  signed: Uint8Array
}

export interface OpenedEnvelope {
  header: EnvelopeHeader
  /** views of one decrypted buffer */
  changes: EnvelopeChange[]
  /** a snapshot's signatures and heads (header.covers > 0) */
  snapshot?: SnapshotTable
}

/** What a snapshot carries beside its document chunk. */
export interface SnapshotTable {
  /** the signatures of the changes inside the document chunk */
  signatures: ChangeSignature[]
  /** the document's heads (32-byte hashes) */
  heads: Uint8Array[]
}

export interface SealInput {
  docId: DocId
  /** the document's 32-byte read key (a space document's: its epoch's key) */
  readKey: Uint8Array
  /** the space's roster id (roster.ts); none for a document of no space */
  roster?: Uint8Array
  epoch: number
  uploader: Identity
  seq: number
  /** a bundle's changes; a snapshot's one whole-document chunk */
  changes: readonly EnvelopeChange[]
  /** makes it a snapshot of the log up to index `covers` */
  snapshot?: SnapshotTable & { covers: number }
}

/**
 * The tag under which the mirror files a document's envelopes. Throws on an id that is not a
 * document id or a key that is not 32 bytes (a caller's bug).
 */
export function mirrorDocTag(docId: DocId, readKey: Uint8Array): Uint8Array {
  return keyedTag(deriveKey(readKey, 'mirror-doc/v1', docIdBytes(docId)))
}

function bodyKey(docId: DocId, readKey: Uint8Array): Uint8Array {
  return deriveKey(readKey, 'mirror-body/v1', docIdBytes(docId))
}

function docIdBytes(docId: DocId): Uint8Array {
  const parsed = parseDocId(docId)
  if (!parsed.ok) throw parsed.error
  return docIdToBytes(parsed.value)
}

/** A header's bytes (the associated data of the body, and the start of what is signed). */
export function encodeEnvelopeHeader(h: EnvelopeHeader): Uint8Array {
  if (h.version !== ENVELOPE_VERSION) throw new RangeError(`envelope version ${String(h.version)}`)
  if (h.docTag.length !== TAG_BYTES) throw new RangeError('a docTag is 32 bytes')
  if (h.roster.length !== TAG_BYTES) throw new RangeError('a roster id is 32 bytes')
  if (h.uploader.length !== PUBLIC_KEY_BYTES) throw new RangeError('an uploader key is 32 bytes')
  if (!Number.isSafeInteger(h.seq) || h.seq < 1) throw new RangeError(`seq ${h.seq} is not ≥ 1`)
  return new Writer()
    .u8(h.version)
    .raw(h.docTag)
    .raw(h.roster)
    .varint(h.epoch)
    .varint(h.covers)
    .raw(h.uploader)
    .varint(h.seq)
    .finish()
}

/**
 * Encrypts and signs `changes` for the mirror. Throws on a caller's bug (a bad id or key, seq
 * below 1, a change without bytes, a signature without its author or of the wrong size) and
 * with a ProtocolError MESSAGE_TOO_LARGE when the envelope would exceed MAX_ENVELOPE_BYTES
 * (upload fewer changes at a time).
 */
export function sealEnvelope(input: SealInput): Uint8Array {
  const { docId, readKey, epoch, uploader, seq, changes } = input
  if (input.snapshot !== undefined && !(input.snapshot.covers >= 1))
    throw new RangeError(`a snapshot covers index 1 or more, not ${input.snapshot.covers}`)
  const header = encodeEnvelopeHeader({
    version: ENVELOPE_VERSION,
    docTag: mirrorDocTag(docId, readKey),
    roster: input.roster ?? NO_ROSTER,
    epoch,
    covers: input.snapshot?.covers ?? 0,
    uploader: uploader.publicKey,
    seq,
  })
  const plaintext = encodeChanges(changes, input.snapshot)
  const ciphertext = encrypt(bodyKey(docId, readKey), plaintext, header)
  const lengthPrefix = new Writer().varint(ciphertext.length).finish()
  const size = header.length + lengthPrefix.length + ciphertext.length + SIGNATURE_BYTES
  if (size > MAX_ENVELOPE_BYTES)
    throw new ProtocolError(
      'MESSAGE_TOO_LARGE',
      `an envelope of ${size} bytes (the limit is ${MAX_ENVELOPE_BYTES})`,
    )
  const signature = sign(uploader, signedBytes(header, ciphertext))
  return concatBytes([header, lengthPrefix, ciphertext, signature])
}

function encodeChanges(changes: readonly EnvelopeChange[], snapshot?: SnapshotTable): Uint8Array {
  if (changes.length === 0) throw new RangeError('an envelope holds at least one change')
  if (snapshot !== undefined && (changes.length !== 1 || changes[0]?.signature !== undefined))
    throw new RangeError('a snapshot holds one document chunk, with no signature of its own')
  const w = new Writer().varint(changes.length)
  for (const c of changes) {
    if (c.change.length === 0) throw new RangeError('a change of no bytes')
    w.bytes(c.change)
    if (c.author === undefined && c.signature === undefined) {
      w.u8(NO_SIGNATURE)
      continue
    }
    if (c.author?.length !== PUBLIC_KEY_BYTES || c.signature?.length !== SIGNATURE_BYTES)
      throw new RangeError('a change signature is an author key (32 bytes) and a signature (64)')
    w.u8(HAS_SIGNATURE).raw(c.author).raw(c.signature)
  }
  if (snapshot === undefined) return w.finish()
  w.varint(snapshot.signatures.length)
  for (const s of snapshot.signatures) {
    if (s.hash.length !== HASH_BYTES || s.author.length !== PUBLIC_KEY_BYTES)
      throw new RangeError('a signature table entry of the wrong size')
    if (s.signature.length !== SIGNATURE_BYTES) throw new RangeError('a 64-byte signature')
    w.raw(s.hash).raw(s.author).raw(s.signature)
  }
  w.varint(snapshot.heads.length)
  for (const h of snapshot.heads) {
    if (h.length !== HASH_BYTES) throw new RangeError('a head is 32 bytes')
    w.raw(h)
  }
  return w.finish()
}

function signedBytes(header: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return concatBytes([header, sha256(ciphertext)])
}

// ---- reading -----------------------------------------------------------------------------------

const malformed = (why: string): Result<never, ProtocolError> =>
  err(new ProtocolError('MALFORMED_MESSAGE', `mirror envelope: ${why}`))

interface Parsed extends ParsedEnvelope {
  /** the header's bytes, a view of the input */
  headerBytes: Uint8Array
}

function parse(bytes: Uint8Array): Result<Parsed, ProtocolError> {
  if (!(bytes instanceof Uint8Array)) return malformed('not bytes')
  if (bytes.length > MAX_ENVELOPE_BYTES)
    return err(
      new ProtocolError(
        'MESSAGE_TOO_LARGE',
        `a mirror envelope of ${bytes.length} bytes (the limit is ${MAX_ENVELOPE_BYTES})`,
      ),
    )
  const r = new Reader(bytes)
  const version = r.u8()
  if (r.error !== undefined) return malformed(r.error)
  if (version !== ENVELOPE_VERSION)
    return err(
      new ProtocolError(
        'UNSUPPORTED_VERSION',
        `mirror envelope version ${version} (this reads ${ENVELOPE_VERSION})`,
      ),
    )
  const docTag = r.raw(TAG_BYTES)
  const roster = r.raw(TAG_BYTES)
  const epoch = readShortestVarint(r)
  const covers = readShortestVarint(r)
  const uploader = r.raw(PUBLIC_KEY_BYTES)
  const seq = readShortestVarint(r)
  if (r.error === undefined && seq === 0) r.fail('seq 0 (the first is 1)')
  const headerBytes = bytes.subarray(0, bytes.length - r.remaining)
  const length = readShortestVarint(r)
  if (r.error !== undefined) return malformed(r.error)
  if (length > MAX_ENVELOPE_BYTES)
    return err(
      new ProtocolError('MESSAGE_TOO_LARGE', `a mirror envelope's body of ${length} bytes`),
    )
  if (length < AEAD_OVERHEAD) return malformed(`a body of ${length} bytes cannot be a box`)
  const ciphertext = r.raw(length)
  const signature = r.raw(SIGNATURE_BYTES)
  r.end()
  if (r.error !== undefined) return malformed(r.error)
  return ok({
    header: { version: ENVELOPE_VERSION, docTag, roster, epoch, covers, uploader, seq },
    ciphertext,
    signature,
    signed: signedBytes(headerBytes, ciphertext),
    headerBytes,
  })
}

/**
 * Reads an envelope's structure, with no key: what the mirror runs on an upload. Refuses (as a
 * ProtocolError, never a throw) truncation, trailing bytes, another version
 * (UNSUPPORTED_VERSION), more than MAX_ENVELOPE_BYTES (MESSAGE_TOO_LARGE), seq 0, and varints
 * above 2^53 − 1 or not in their shortest form. The uploader's signature is not checked here:
 * `verifyEnvelope`.
 */
export function parseEnvelope(bytes: Uint8Array): Result<ParsedEnvelope, ProtocolError> {
  const parsed = parse(bytes)
  if (!parsed.ok) return parsed
  const { header, ciphertext, signature, signed } = parsed.value
  return ok({ header, ciphertext, signature, signed })
}

/**
 * Whether the uploader named in the header signed this envelope (no key needed: the mirror runs
 * it too). `parsed` is `parseEnvelope`'s answer; `signed` must still begin with its header.
 */
export function verifyEnvelope(parsed: ParsedEnvelope): boolean {
  const { header, signed, signature } = parsed
  let headerBytes: Uint8Array
  try {
    headerBytes = encodeEnvelopeHeader(header)
  } catch {
    return false
  }
  if (signed.length !== headerBytes.length + HASH_BYTES) return false
  if (!equalBytes(signed.subarray(0, headerBytes.length), headerBytes)) return false
  return verify(header.uploader, signed, signature)
}

/**
 * Opens an envelope of document `docId` with its read key: parses it, checks the uploader's
 * signature (BAD_SIGNATURE), that it is this document's under this key (WRONG_KEY), decrypts
 * it (BAD_CIPHERTEXT) and reads the changes strictly (MALFORMED_MESSAGE). Never throws. The
 * changes' signatures are not checked here: that takes their hashes (the repo's write rules).
 */
export function openEnvelope(
  bytes: Uint8Array,
  docId: DocId,
  readKey: Uint8Array,
): Result<OpenedEnvelope> {
  const id = parseDocId(docId)
  if (!id.ok) return id
  if (!(readKey instanceof Uint8Array) || readKey.length !== KEY_BYTES)
    return err(new CryptoError('WRONG_KEY', `a read key is ${KEY_BYTES} bytes`))
  const parsed = parse(bytes)
  if (!parsed.ok) return parsed
  const envelope = parsed.value
  if (!verifyEnvelope(envelope))
    return err(new IdentityError('BAD_SIGNATURE', 'the uploader did not sign this envelope'))
  if (!equalBytes(envelope.header.docTag, mirrorDocTag(id.value, readKey)))
    return err(
      new CryptoError('WRONG_KEY', 'the envelope is of another document, or under another key'),
    )
  const plaintext = decrypt(bodyKey(id.value, readKey), envelope.ciphertext, envelope.headerBytes)
  if (!plaintext.ok) return plaintext
  const body = decodeChanges(plaintext.value, envelope.header.covers > 0)
  if (!body.ok) return body
  const { changes, snapshot } = body.value
  return ok({ header: envelope.header, changes, ...(snapshot === undefined ? {} : { snapshot }) })
}

function decodeChanges(
  plaintext: Uint8Array,
  isSnapshot: boolean,
): Result<{ changes: EnvelopeChange[]; snapshot?: SnapshotTable }, ProtocolError> {
  const r = new Reader(plaintext)
  const count = readShortestVarint(r)
  if (r.error === undefined && count === 0) r.fail('no changes')
  if (r.error === undefined && isSnapshot && count !== 1) r.fail('a snapshot of several chunks')
  const changes: EnvelopeChange[] = []
  for (let i = 0; i < count && r.error === undefined; i++) {
    const length = readShortestVarint(r)
    if (r.error === undefined && length === 0) r.fail('a change of no bytes')
    const change = r.raw(length)
    const flag = r.u8()
    if (flag === HAS_SIGNATURE && isSnapshot) r.fail("a signature on a snapshot's chunk")
    if (flag === HAS_SIGNATURE) {
      const author = r.raw(PUBLIC_KEY_BYTES)
      const signature = r.raw(SIGNATURE_BYTES)
      changes.push({ change, author, signature })
    } else {
      if (flag !== NO_SIGNATURE) r.fail(`signature flag ${flag}`)
      changes.push({ change })
    }
  }
  let snapshot: SnapshotTable | undefined
  if (isSnapshot) {
    // (each entry takes its bytes: a lying count runs out of input, not of memory)
    const n = readShortestVarint(r, Math.floor(r.remaining / (HASH_BYTES + 96)))
    const signatures: ChangeSignature[] = []
    for (let i = 0; i < n && r.error === undefined; i++)
      signatures.push({
        hash: r.raw(HASH_BYTES),
        author: r.raw(PUBLIC_KEY_BYTES),
        signature: r.raw(SIGNATURE_BYTES),
      })
    const h = readShortestVarint(r, Math.floor(r.remaining / HASH_BYTES))
    const heads: Uint8Array[] = []
    for (let i = 0; i < h && r.error === undefined; i++) heads.push(r.raw(HASH_BYTES))
    snapshot = { signatures, heads }
  }
  r.end()
  if (r.error !== undefined) return malformed(`its changes: ${r.error}`)
  return ok(snapshot === undefined ? { changes } : { changes, snapshot })
}
