/**
 * The block exchange protocol, carried in Orrery's framing (wire/framing.ts). The side that opens
 * a stream asks; the side that accepts it answers from its store:
 *   WANT       cids[]            (1..256 binary CIDs)
 *   BLOCK      cid, bytes        (bytes at most BLOCK_SIZE)
 *   DONT_HAVE  cids[]
 *   CANCEL     cids[]            (no longer wanted)
 * A CID on the wire is varint(length) + its binary form (at most 64 bytes, CIDv1).
 */
import { ProtocolError, type Result, ok, err } from '../errors'
import { Reader, Writer } from '../wire/codec'
import { protocolId, VERSIONS } from '../wire/versions'
import { cidFromBytes, cidToBytes, MAX_CID_BYTES } from './cid'
import { BLOCK_SIZE, type CidString } from './types'

/** the current blocks protocol id (all spoken ids: `spokenIds('blocks')`) */
export const BLOCKS_PROTOCOL = protocolId('blocks', VERSIONS.blocks.current)
/** the framing limit for this protocol: one block and its header */
export const MAX_BLOCKS_MESSAGE = BLOCK_SIZE + 1024
export const MAX_CIDS_PER_MESSAGE = 256

export type BlocksMessage =
  | { type: 'want'; cids: CidString[] }
  | { type: 'block'; cid: CidString; bytes: Uint8Array }
  | { type: 'dont-have'; cids: CidString[] }
  | { type: 'cancel'; cids: CidString[] }

const T_WANT = 1
const T_BLOCK = 2
const T_DONT_HAVE = 3
const T_CANCEL = 4

const TYPE_CODES = { want: T_WANT, 'dont-have': T_DONT_HAVE, cancel: T_CANCEL } as const

function writeCids(w: Writer, cids: CidString[]): void {
  if (cids.length === 0 || cids.length > MAX_CIDS_PER_MESSAGE) {
    throw new RangeError(`a blocks message carries 1 to ${MAX_CIDS_PER_MESSAGE} CIDs`)
  }
  w.varint(cids.length)
  for (const c of cids) w.bytes(cidToBytes(c))
}

function readCid(r: Reader): CidString {
  const bytes = r.bytes(MAX_CID_BYTES)
  if (r.error !== undefined) return ''
  const cid = cidFromBytes(bytes)
  if (!cid.ok) {
    r.fail('invalid CID')
    return ''
  }
  return cid.value
}

function readCids(r: Reader): CidString[] {
  const n = r.varint(MAX_CIDS_PER_MESSAGE)
  if (r.error === undefined && n === 0) r.fail('empty CID list')
  const out: CidString[] = []
  for (let i = 0; i < n && r.error === undefined; i++) out.push(readCid(r))
  return out
}

/** Encodes a message; throws on a message that breaks the limits (a programming error). */
export function encodeBlocksMessage(m: BlocksMessage): Uint8Array {
  const w = new Writer()
  if (m.type === 'block') {
    if (m.bytes.length > BLOCK_SIZE) throw new RangeError(`block exceeds ${BLOCK_SIZE} bytes`)
    w.u8(T_BLOCK).bytes(cidToBytes(m.cid)).bytes(m.bytes)
  } else {
    w.u8(TYPE_CODES[m.type])
    writeCids(w, m.cids)
  }
  return w.finish()
}

export function decodeBlocksMessage(buf: Uint8Array): Result<BlocksMessage, ProtocolError> {
  if (buf.length === 0) return err(new ProtocolError('MALFORMED_MESSAGE', 'empty blocks message'))
  const r = new Reader(buf)
  const type = r.u8()
  let m: BlocksMessage
  switch (type) {
    case T_WANT:
      m = { type: 'want', cids: readCids(r) }
      break
    case T_BLOCK: {
      const cid = readCid(r)
      m = { type: 'block', cid, bytes: r.bytes(BLOCK_SIZE).slice() }
      break
    }
    case T_DONT_HAVE:
      m = { type: 'dont-have', cids: readCids(r) }
      break
    case T_CANCEL:
      m = { type: 'cancel', cids: readCids(r) }
      break
    default:
      return err(new ProtocolError('MALFORMED_MESSAGE', `unknown blocks message type ${type}`))
  }
  r.end()
  if (r.error !== undefined) {
    return err(new ProtocolError('MALFORMED_MESSAGE', `blocks ${m.type}: ${r.error}`))
  }
  return ok(m)
}
