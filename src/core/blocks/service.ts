/**
 * Block exchange as a libp2p service (a factory taking libp2p components, Startable), in the
 * spirit of BitTorrent and Bitswap. This module is the service itself: it registers the blocks
 * protocol, starts fetches and stops everything, and keeps the statistics. The work is done by
 * its parts:
 *   block-serving.ts    answers inbound wants from the store (so a peer that fetched an app seeds it)
 *   block-fetch.ts      fetches from several providers at once, verifying every block
 *   provider-scores.ts  scores providers and picks the ones worth asking
 *   service-types.ts    limits, init, components and statistics
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { Startable } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { OrreryError } from '../errors'
import { serviceLogger } from '../log'
import { VersionedProtocol } from '../wire/versions'
import { BlockFetch, type FetchOptions } from './block-fetch'
import { BlockServer } from './block-serving'
import { ProviderScores } from './provider-scores'
import {
  DEFAULT_BLOCK_LIMITS,
  type BlockCounters,
  type BlockLimits,
  type BlockServiceComponents,
  type BlockServiceInit,
  type BlockStats,
} from './service-types'
import type { BlockStore, CidString } from './types'

export { BlocksUnavailableError, type FetchOptions } from './block-fetch'
export { SCORE } from './provider-scores'
export {
  DEFAULT_BLOCK_LIMITS,
  type BlockLimits,
  type BlockServiceComponents,
  type BlockServiceInit,
  type BlockStats,
} from './service-types'

export class BlockService implements Startable {
  readonly store: BlockStore
  readonly limits: BlockLimits
  private readonly log = serviceLogger(this.components.logger, 'blocks')
  private readonly scores = new ProviderScores()
  private readonly counters: BlockCounters = {
    servedBlocks: 0,
    servedBytes: 0,
    fetchedBlocks: 0,
    fetchedBytes: 0,
    rejectedBlocks: 0,
    protocolErrors: 0,
  }
  private readonly server: BlockServer
  private readonly fetches = new Set<BlockFetch>()
  private started = false
  private readonly protocol: VersionedProtocol

  constructor(
    private readonly components: BlockServiceComponents,
    private readonly init: BlockServiceInit,
  ) {
    this.store = init.store
    this.protocol = new VersionedProtocol('blocks', init.spoken)
    this.limits = { ...DEFAULT_BLOCK_LIMITS, ...init.limits }
    this.server = new BlockServer(this, this.counters, this.log)
  }

  readonly [Symbol.toStringTag] = '@orrery/blocks'
  readonly [serviceCapabilities] = ['@orrery/blocks']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(this.components.registrar, (s, c) => this.server.accept(s, c), {
      maxInboundStreams: this.limits.maxInboundStreams,
      maxOutboundStreams: this.limits.maxOutboundStreams,
      runOnLimitedConnection: false,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.protocol.unhandle(this.components.registrar)
    for (const f of this.fetches) f.abort(new OrreryError('ABORTED', 'the block service stopped'))
    this.server.stop()
  }

  /** Whether this peer answers wants from its store right now. */
  get isServing(): boolean {
    const s = this.init.serve
    return typeof s === 'function' ? s() : (s ?? true)
  }

  stats(): BlockStats {
    return { ...this.counters, scores: this.scores.toRecord() }
  }

  score(peer: string): number {
    return this.scores.get(peer)
  }

  /**
   * Gets every listed block the store lacks from `providers` (peer ids), several at once, each
   * block verified before it is stored. Resolves when all are in the store; rejects with
   * BLOCKS_UNAVAILABLE when some block no provider could supply (the rest are still stored).
   */
  async fetch(cids: CidString[], providers: string[], opts: FetchOptions = {}): Promise<void> {
    const self = this.components.peerId.toString()
    const usable = this.scores.usable(providers, self, this.limits.minScore)
    const skipped = new Set(providers).size - usable.length
    if (skipped > 0) this.log.debug(`fetch skips ${skipped} provider(s): self or low score`)
    const f = new BlockFetch(
      {
        store: this.store,
        limits: this.limits,
        log: this.log,
        open: async (peer, signal) =>
          (
            await this.protocol.openTo(this.components.connectionManager, peerIdFromString(peer), {
              runOnLimitedConnection: false,
              signal,
            })
          ).stream,
        adjustScore: (peer, delta) => this.scores.adjust(peer, delta),
        counters: this.counters,
      },
      usable,
      opts,
    )
    this.fetches.add(f)
    try {
      await f.run(cids)
    } finally {
      this.fetches.delete(f)
    }
  }
}

export function orreryBlocks(
  init: BlockServiceInit,
): (components: BlockServiceComponents) => BlockService {
  return (components) => new BlockService(components, init)
}
