/**
 * The block service's configuration and bookkeeping types: the limits it works within (and their
 * defaults), what it is created with (its init and the libp2p components it needs), and the
 * statistics it reports. Shared by the service, its fetches and its serving sessions.
 */
import type { ComponentLogger, PeerId } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Spoken } from '../wire/versions'
import type { BlockStore } from './types'

export interface BlockLimits {
  /** wants one inbound stream may have outstanding; asking for more closes the stream */
  maxWantsPerStream: number
  /** wants a fetch keeps outstanding with one provider */
  windowPerProvider: number
  /**
   * a provider that owes blocks and does not answer the oldest of its wants for this long is
   * dropped from the fetch (its blocks go to the others); also the limit for opening a stream
   */
  blockTimeoutMs: number
  /** providers scoring below this are skipped by fetches */
  minScore: number
  /** per connection, as libp2p counts them */
  maxInboundStreams: number
  maxOutboundStreams: number
}

export const DEFAULT_BLOCK_LIMITS: BlockLimits = {
  maxWantsPerStream: 64,
  windowPerProvider: 8,
  blockTimeoutMs: 15_000,
  minScore: -50,
  maxInboundStreams: 16,
  maxOutboundStreams: 16,
}

export interface BlockServiceInit {
  store: BlockStore
  /** false: answer DONT_HAVE to everything (a relay with seeding off); may change at run time */
  serve?: boolean | (() => boolean)
  limits?: Partial<BlockLimits>
  /** the blocks majors spoken (default: VERSIONS.blocks; tests play other versions) */
  spoken?: Spoken
}

export interface BlockServiceComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  peerId: PeerId
  logger: ComponentLogger
}

export interface BlockStats {
  servedBlocks: number
  servedBytes: number
  fetchedBlocks: number
  fetchedBytes: number
  rejectedBlocks: number
  /** blocks streams closed for bad input (either side) */
  protocolErrors: number
  /** per provider peer id; providers start at 0 */
  scores: Record<string, number>
}

/** The running totals of `BlockStats`, counted by fetches and serving sessions alike. */
export type BlockCounters = Omit<BlockStats, 'scores'>
