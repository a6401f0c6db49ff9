/** What `orrery.connections()` reports about each live connection. */
import type { Connection } from '@libp2p/interface'
import type { Libp2p } from 'libp2p'
import type { OtherVersions } from './other-versions'
import type { Pulse } from './pulse'
import type { SyncService } from './sync/service'

export type TransportKind = 'webrtc' | 'circuit' | 'websockets' | 'memory' | 'other'

export interface ConnectionInfo {
  /** the remote peer id */
  peer: string
  /** true unless the connection goes through a relay */
  direct: boolean
  transport: TransportKind
  rttMs?: number
  /** the remote person's did:key when a sync session verified their tab certificate */
  identity?: string
  /** whether a sync session runs over this connection */
  syncing: boolean
  /** 'late' when the peer stopped answering pings (it is dropped after a while) */
  pulse?: 'ok' | 'late'
  /** when the peer last answered a ping (ms since epoch) */
  lastSeen?: number
  /** 'other' when the peer runs another version of Orrery (it is not synced with, not blamed) */
  version?: 'other'
  /** with `version`: the Orrery protocol ids the peer offers (from identify) */
  offers?: string[]
}

/**
 * A WebRTC connection keeps the `/p2p-circuit/webrtc` address it was dialled on, so "direct or
 * relayed" is decided from the connection's limits and multiplexer, never from the address.
 */
export function transportOf(c: Connection): TransportKind {
  if (c.limits !== undefined) return 'circuit'
  if (c.multiplexer === '/webrtc') return 'webrtc'
  const addr = c.remoteAddr.toString()
  if (addr.includes('/p2p-circuit')) return 'circuit'
  if (addr.includes('/ws') || addr.includes('/wss') || addr.includes('/tls/ws')) return 'websockets'
  if (addr.startsWith('/memory')) return 'memory'
  return 'other'
}

export function describeConnections(
  node: Libp2p<{ sync: SyncService }>,
  pulse: Pulse | undefined,
  versions?: OtherVersions,
): ConnectionInfo[] {
  const sessions = node.services.sync.list()
  return node
    .getConnections()
    .filter((c) => c.status === 'open')
    .map((c) => {
      const peer = c.remotePeer.toString()
      const transport = transportOf(c)
      const session = sessions.find((s) => s.connectionId === c.id && s.isOpen)
      const rtt = pulse?.get(peer)?.rttMs ?? c.rtt
      const info: ConnectionInfo = {
        peer,
        direct: transport !== 'circuit',
        transport,
        syncing: session !== undefined,
      }
      if (rtt !== undefined) info.rttMs = rtt
      const p = pulse?.get(peer)
      if (p !== undefined) {
        info.pulse = p.state
        if (p.lastSeen !== undefined) info.lastSeen = p.lastSeen
      }
      if (session?.identity !== undefined) info.identity = session.identity
      const other = versions?.get(peer)
      if (other !== undefined) {
        info.version = 'other'
        info.offers = other.offers
      }
      return info
    })
}
