/**
 * The rendezvous protocol between peers and a relay. Peers JOIN the topics (hashes of document
 * ids) they have open; the relay answers with the peers already there and tells them about the
 * newcomer. The relay never sees a document id and never carries a document.
 *   JOIN   topics[], addrs[]   (addrs: where the sender can be dialled, may be empty)
 *   LEAVE  topics[]
 *   PEERS  topic, kind (answer | joined), peers[{ id, addrs[] }]
 *   LEFT   topic, peer id
 */
import { ProtocolError, type Result, ok, err } from '../errors'
import { Reader, Writer } from '../wire/codec'
import { protocolId, VERSIONS } from '../wire/versions'

/** the current discovery protocol id (all spoken ids: `spokenIds('discovery')`) */
export const DISCOVERY_PROTOCOL = protocolId('discovery', VERSIONS.discovery.current)
export const MAX_DISCOVERY_MESSAGE = 64 * 1024
export const MAX_TOPICS_PER_JOIN = 256
export const MAX_ADDRS = 8
export const MAX_ADDR_LENGTH = 512
export const MAX_PEERS_PER_ANSWER = 64
const MAX_PEER_ID_LENGTH = 128

export interface PeerEntry {
  id: string
  addrs: string[]
}

export type DiscoveryMessage =
  | { type: 'join'; topics: Uint8Array[]; addrs: string[] }
  | { type: 'leave'; topics: Uint8Array[] }
  | { type: 'peers'; topic: Uint8Array; kind: 'answer' | 'joined'; peers: PeerEntry[] }
  | { type: 'left'; topic: Uint8Array; peer: string }

const T_JOIN = 1
const T_LEAVE = 2
const T_PEERS = 3
const T_LEFT = 4

function writeTopics(w: Writer, topics: Uint8Array[]): void {
  w.varint(topics.length)
  for (const t of topics) w.raw(t)
}

function readTopics(r: Reader): Uint8Array[] {
  const n = r.varint(MAX_TOPICS_PER_JOIN)
  const out: Uint8Array[] = []
  for (let i = 0; i < n && r.error === undefined; i++) out.push(r.raw(32).slice())
  return out
}

function writeAddrs(w: Writer, addrs: string[]): void {
  w.varint(addrs.length)
  for (const a of addrs) w.string(a)
}

function readAddrs(r: Reader): string[] {
  const n = r.varint(MAX_ADDRS)
  const out: string[] = []
  for (let i = 0; i < n && r.error === undefined; i++) out.push(r.string(MAX_ADDR_LENGTH))
  return out
}

export function encodeDiscovery(m: DiscoveryMessage): Uint8Array {
  const w = new Writer()
  switch (m.type) {
    case 'join':
      w.u8(T_JOIN)
      writeTopics(w, m.topics)
      writeAddrs(w, m.addrs)
      break
    case 'leave':
      w.u8(T_LEAVE)
      writeTopics(w, m.topics)
      break
    case 'peers':
      w.u8(T_PEERS)
        .raw(m.topic)
        .u8(m.kind === 'answer' ? 0 : 1)
        .varint(m.peers.length)
      for (const p of m.peers) {
        w.string(p.id)
        writeAddrs(w, p.addrs)
      }
      break
    case 'left':
      w.u8(T_LEFT).raw(m.topic).string(m.peer)
      break
  }
  return w.finish()
}

export function decodeDiscovery(buf: Uint8Array): Result<DiscoveryMessage, ProtocolError> {
  const r = new Reader(buf)
  const type = r.u8()
  let m: DiscoveryMessage
  switch (type) {
    case T_JOIN:
      m = { type: 'join', topics: readTopics(r), addrs: readAddrs(r) }
      break
    case T_LEAVE:
      m = { type: 'leave', topics: readTopics(r) }
      break
    case T_PEERS: {
      const topic = r.raw(32).slice()
      const kindByte = r.u8()
      if (kindByte > 1) r.fail('bad peers kind')
      const n = r.varint(MAX_PEERS_PER_ANSWER)
      const peers: PeerEntry[] = []
      for (let i = 0; i < n && r.error === undefined; i++)
        peers.push({ id: r.string(MAX_PEER_ID_LENGTH), addrs: readAddrs(r) })
      m = { type: 'peers', topic, kind: kindByte === 0 ? 'answer' : 'joined', peers }
      break
    }
    case T_LEFT:
      m = { type: 'left', topic: r.raw(32).slice(), peer: r.string(MAX_PEER_ID_LENGTH) }
      break
    default:
      return err(new ProtocolError('MALFORMED_MESSAGE', `unknown discovery message type ${type}`))
  }
  r.end()
  if (r.error !== undefined)
    return err(new ProtocolError('MALFORMED_MESSAGE', `discovery ${m.type}: ${r.error}`))
  return ok(m)
}
