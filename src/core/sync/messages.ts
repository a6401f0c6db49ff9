/**
 * The sync protocol's messages (inside framing.ts frames):
 *   HELLO     version (derived from the negotiated protocol id: `helloVersion` in
 *             wire/versions.ts), the sender's tab certificate
 *   INTEREST  document topics the sender has open (hashes: ids are never announced)
 *   SYNC      a document id, an Automerge sync message, and signatures over changes
 *   GOODBYE   a reason, before the sender closes the stream
 *   PRESENCE  (version 2) a document id and where the sender is in it (presence/presence-state.ts)
 * SYNC carries `sigs` from the first version: each entry binds a change hash to its author's key
 * and signature, so signed writes (verified at every hop) need no protocol break.
 */
import type { DecodedSyncMessage } from 'automerge-wasm'
import { docIdFromBytes, docIdToBytes, type DocId } from '../ids'
import { ProtocolError, type Result, ok, err } from '../errors'
import { readTabCert, writeTabCert, type TabCert } from '../tab-cert'
import { Reader, Writer } from '../wire/codec'
import { protocolId, VERSIONS } from '../wire/versions'
import {
  readPresenceState,
  writePresenceState,
  type PresenceState,
} from '../presence/presence-state'
import { SIG_RECORD_BYTES, SignatureList, type ChangeSignature } from './signature-list'

export { SignatureList, type ChangeSignature } from './signature-list'

/** the current sync protocol id (all spoken ids: `spokenIds('sync')`) */
/**
 * An Automerge sync message as the session decoded it (to check its chunks), with the bytes it
 * came as: the document hands those to Automerge instead of encoding the message again.
 */
export interface ReceivedSyncMessage extends DecodedSyncMessage {
  bytes?: Uint8Array
}

export const SYNC_PROTOCOL = protocolId('sync', VERSIONS.sync.current)
export const MAX_TOPICS_PER_MESSAGE = 1024
/**
 * INTEREST topics one side may send in a session, all messages together: a tab announces the
 * documents it has open (once, then one per document it opens). More is a protocol violation:
 * each topic costs the receiver a tag lookup, and a peer repeating INTERESTs of random tags made
 * every peer it reached spend a tenth of its time on them (issue 12's attacks bench).
 */
export const MAX_TOPICS_PER_SESSION = 4096
/** INTEREST topics charged to the firewall as one write */
export const TOPICS_PER_WRITE = 16
/** largest reassembled message: a whole document in one Automerge sync message */
export const MAX_SYNC_MESSAGE = 64 * 1024 * 1024
const MAX_SIGS = 65536

/** A frame as decoded: a SYNC's signatures come as one compact list (signature-list.ts). */
export type DecodedSyncFrame =
  | { type: 'hello'; version: number; cert: TabCert }
  | { type: 'interest'; topics: Uint8Array[] }
  | { type: 'sync'; docId: DocId; message: Uint8Array; sigs: SignatureList }
  | { type: 'goodbye'; reason: string }
  | { type: 'presence'; docId: DocId; state: PresenceState }

/** A frame to encode: a SYNC's signatures may also be an array (the bytes are the same). */
export type SyncFrame =
  | Exclude<DecodedSyncFrame, { type: 'sync' }>
  | {
      type: 'sync'
      docId: DocId
      message: Uint8Array
      sigs: SignatureList | readonly ChangeSignature[]
    }

/** the decoder's limit on a GOODBYE reason, in UTF-8 bytes */
const MAX_REASON_BYTES = 200

/** The longest prefix of `s` whose UTF-8 encoding fits in `max` bytes (whole code points only). */
function truncateUtf8(s: string, max: number): string {
  let bytes = 0
  let end = 0
  for (const ch of s) {
    const cp = ch.codePointAt(0) as number
    // a lone surrogate is encoded as U+FFFD: 3 bytes, like any other BMP character above U+07FF
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4
    if (bytes + n > max) break
    bytes += n
    end += ch.length
  }
  return s.slice(0, end)
}

const T_HELLO = 1
const T_INTEREST = 2
const T_SYNC = 3
const T_GOODBYE = 4
/** from sync version 2 on: a session of version 1 neither sends nor accepts it */
const T_PRESENCE = 5

export function encodeSyncFrame(f: SyncFrame): Uint8Array {
  const w = new Writer()
  switch (f.type) {
    case 'hello':
      writeTabCert(w.u8(T_HELLO).varint(f.version), f.cert)
      break
    case 'interest':
      w.u8(T_INTEREST).varint(f.topics.length)
      for (const t of f.topics) w.raw(t)
      break
    case 'sync':
      w.u8(T_SYNC).bytes(docIdToBytes(f.docId)).bytes(f.message).varint(f.sigs.length)
      w.raw((f.sigs instanceof SignatureList ? f.sigs : SignatureList.of(f.sigs)).bytes)
      break
    case 'goodbye':
      w.u8(T_GOODBYE).string(truncateUtf8(f.reason, MAX_REASON_BYTES))
      break
    case 'presence':
      writePresenceState(w.u8(T_PRESENCE).bytes(docIdToBytes(f.docId)), f.state)
      break
  }
  return w.finish()
}

export function decodeSyncFrame(buf: Uint8Array): Result<DecodedSyncFrame, ProtocolError> {
  const r = new Reader(buf)
  const type = r.u8()
  let frame: DecodedSyncFrame
  switch (type) {
    case T_HELLO: {
      const version = r.varint()
      frame = { type: 'hello', version, cert: readTabCert(r) }
      break
    }
    case T_INTEREST: {
      const n = r.varint(MAX_TOPICS_PER_MESSAGE)
      const topics: Uint8Array[] = []
      for (let i = 0; i < n && r.error === undefined; i++) topics.push(r.raw(32).slice())
      frame = { type: 'interest', topics }
      break
    }
    case T_SYNC: {
      const id = docIdFromBytes(r.bytes(64))
      const message = r.bytes(MAX_SYNC_MESSAGE)
      const n = r.varint(MAX_SIGS)
      // one copy of the records (up to 8 MiB), which keeps nothing of `buf` alive
      const sigs = SignatureList.copyOf(r.raw(n * SIG_RECORD_BYTES))
      if (r.error === undefined && !id.ok) r.fail('bad document id')
      frame = { type: 'sync', docId: id.ok ? id.value : '', message, sigs }
      break
    }
    case T_GOODBYE:
      frame = { type: 'goodbye', reason: r.string(MAX_REASON_BYTES) }
      break
    case T_PRESENCE: {
      const id = docIdFromBytes(r.bytes(64))
      const state = readPresenceState(r)
      if (r.error === undefined && !id.ok) r.fail('bad document id')
      frame = { type: 'presence', docId: id.ok ? id.value : '', state }
      break
    }
    default:
      return err(new ProtocolError('MALFORMED_MESSAGE', `unknown sync message type ${type}`))
  }
  r.end()
  if (r.error !== undefined)
    return err(new ProtocolError('MALFORMED_MESSAGE', `sync ${frame.type}: ${r.error}`))
  return ok(frame)
}
