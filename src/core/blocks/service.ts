/**
 * Block exchange as a libp2p service (a factory taking libp2p components, Startable), in the
 * spirit of BitTorrent and Bitswap. Serving: every inbound stream on /orrery/blocks/* (never
 * over a limited, relayed connection) is answered from the store, a BLOCK or a DONT_HAVE per
 * wanted CID, with at most `maxWantsPerStream` wants outstanding. Fetching: `fetch` asks several
 * providers at once, each with a window of outstanding wants and one stream for the whole fetch;
 * every block is verified before it is stored. A provider that sends a wrong block is dropped,
 * closed and penalised; its blocks go to the others. Fetched blocks are served like any other,
 * so a peer that fetched an app seeds it.
 */
import type { ComponentLogger, Connection, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { describeError, OrreryError, ProtocolError } from '../errors'
import { peerIdFromString } from '@libp2p/peer-id'
import { createLogger, type Logger } from '../log'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import { VersionedProtocol, type Spoken } from '../wire/versions'
import { BlockError, parseCid, verifyBlockAsync } from './cid'
import {
  decodeBlocksMessage,
  encodeBlocksMessage,
  MAX_BLOCKS_MESSAGE,
  MAX_CIDS_PER_MESSAGE,
} from './messages'
import type { BlockStore, CidString, FetchProgress } from './types'

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

/** score changes: a wrong block drops a provider below `minScore` at once */
export const SCORE = { goodBlock: 1, max: 20, wrongBlock: -100, violation: -50, stall: -5 }

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

export interface FetchOptions {
  onProgress?: (p: FetchProgress) => void
  signal?: AbortSignal
  /** expected sizes (from the manifest), for progress in bytes */
  sizes?: Map<CidString, number>
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

export class BlocksUnavailableError extends BlockError {
  constructor(readonly missing: CidString[]) {
    super(
      'BLOCKS_UNAVAILABLE',
      `${missing.length} block${missing.length === 1 ? ' is' : 's are'} not available from any provider`,
    )
    this.name = 'BlocksUnavailableError'
  }
}

// ---- fetching ------------------------------------------------------------------------------------

type Counters = Omit<BlockStats, 'scores'>

interface FetchHost {
  store: BlockStore
  limits: BlockLimits
  log: Logger
  open: (peer: string, signal: AbortSignal) => Promise<Stream>
  adjustScore: (peer: string, delta: number) => void
  counters: Counters
}

/** One provider in one fetch: its stream and the wants it owes us. */
interface Link {
  peer: string
  framed: FramedStream | undefined
  alive: boolean
  /** wants assigned to it and not yet answered */
  inflight: Set<CidString>
  /** everything asked of it in this fetch (a late answer to any of these is not a violation) */
  asked: Set<CidString>
  /** wants assigned before its stream opened */
  unsent: CidString[]
  /** when it last answered its oldest outstanding want, or went from idle to owing blocks */
  heard: number
}

/** One call of `fetch`: the state of every wanted block and every provider. */
class BlockFetch {
  private readonly links: Link[]
  private readonly pending = new Set<CidString>()
  private readonly owner = new Map<CidString, Link>()
  private readonly storing = new Set<CidString>()
  private readonly missing = new Set<CidString>()
  private readonly tried = new Map<CidString, Set<string>>()
  private readonly progress: FetchProgress = { blocks: 0, totalBlocks: 0, bytes: 0, totalBytes: 0 }
  private readonly controller = new AbortController()
  private rotation = 0
  private finished = false
  private timer: ReturnType<typeof setInterval> | undefined
  private settle: ((error?: Error) => void) | undefined

  constructor(
    private readonly host: FetchHost,
    providers: string[],
    private readonly opts: FetchOptions,
  ) {
    this.links = providers.map((peer) => ({
      peer,
      framed: undefined,
      alive: true,
      inflight: new Set(),
      asked: new Set(),
      unsent: [],
      heard: Date.now(),
    }))
  }

  async run(cids: CidString[]): Promise<void> {
    const all = [...new Set(cids)]
    for (const cid of all) {
      const parsed = parseCid(cid)
      if (!parsed.ok) throw parsed.error
    }
    const signal = this.opts.signal
    const aborted = (): OrreryError => new OrreryError('ABORTED', 'the fetch was aborted')
    if (signal?.aborted) throw aborted()
    const sizes = this.opts.sizes
    this.progress.totalBlocks = all.length
    for (const cid of all) {
      this.progress.totalBytes += sizes?.get(cid) ?? 0
      if (await this.host.store.has(cid)) {
        this.progress.blocks++
        this.progress.bytes += sizes?.get(cid) ?? 0
      } else {
        this.pending.add(cid)
      }
    }
    this.report()
    if (this.pending.size === 0) return
    if (signal?.aborted) throw aborted()
    const onAbort = (): void => this.abort(aborted())
    signal?.addEventListener('abort', onAbort)
    const done = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error === undefined ? resolve() : reject(error))
    })
    const tick = Math.max(10, Math.min(1000, this.host.limits.blockTimeoutMs / 4))
    this.timer = setInterval(() => this.checkStalls(), tick)
    for (const link of this.links) void this.connect(link)
    this.schedule()
    try {
      await done
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  abort(error: Error): void {
    this.finish(error)
  }

  private async connect(link: Link): Promise<void> {
    const signal = AbortSignal.any([
      this.controller.signal,
      AbortSignal.timeout(this.host.limits.blockTimeoutMs),
    ])
    let stream: Stream
    try {
      stream = await this.host.open(link.peer, signal)
    } catch (e) {
      this.host.log.debug(`no blocks stream to ${short(link.peer)}: ${describeError(e)}`)
      return this.drop(link)
    }
    if (this.finished || !link.alive) {
      stream.abort(new Error('not needed any more'))
      return
    }
    const framed = new FramedStream(
      stream,
      { maxFrame: MAX_FRAME, maxMessage: MAX_BLOCKS_MESSAGE },
      this.host.log,
    )
    link.framed = framed
    this.sendWants(link, link.unsent.splice(0))
    const error = await framed.read((m) => this.onMessage(link, m))
    if (error !== undefined && link.alive && !this.finished) {
      this.host.counters.protocolErrors++
      this.host.adjustScore(link.peer, SCORE.violation)
    }
    this.drop(link)
  }

  private sendWants(link: Link, cids: CidString[]): void {
    if (link.framed === undefined) {
      link.unsent.push(...cids)
      return
    }
    for (let i = 0; i < cids.length; i += MAX_CIDS_PER_MESSAGE) {
      const part = cids.slice(i, i + MAX_CIDS_PER_MESSAGE)
      link.framed.send(encodeBlocksMessage({ type: 'want', cids: part }))
    }
  }

  /** Assigns pending blocks to providers with room in their window, least loaded first. */
  private schedule(): void {
    if (this.finished) return
    const window = this.host.limits.windowPerProvider
    const batches = new Map<Link, CidString[]>()
    for (const cid of this.pending) {
      // every provider's window is full: wait for answers (when none is left, fall through)
      if (
        !this.links.some((l) => l.alive && l.inflight.size < window) &&
        this.links.some((l) => l.alive)
      )
        break
      const tried = this.tried.get(cid)
      const candidates = this.links.filter((l) => l.alive && !tried?.has(l.peer))
      if (candidates.length === 0) {
        this.pending.delete(cid)
        this.missing.add(cid)
        continue
      }
      let best: Link | undefined
      for (let i = 0; i < candidates.length; i++) {
        const l = candidates[(this.rotation + i) % candidates.length] as Link
        if (
          l.inflight.size < window &&
          (best === undefined || l.inflight.size < best.inflight.size)
        )
          best = l
      }
      if (best === undefined) continue // every candidate is busy: wait for an answer
      this.rotation++
      this.pending.delete(cid)
      this.owner.set(cid, best)
      if (best.inflight.size === 0) best.heard = Date.now()
      best.inflight.add(cid)
      best.asked.add(cid)
      batches.set(best, [...(batches.get(best) ?? []), cid])
    }
    for (const [link, cids] of batches) this.sendWants(link, cids)
    this.checkDone()
  }

  private onMessage(link: Link, bytes: Uint8Array): void {
    if (this.finished || !link.alive) return
    const m = decodeBlocksMessage(bytes)
    if (!m.ok) return this.violation(link, m.error)
    const msg = m.value
    if (msg.type === 'want' || msg.type === 'cancel') {
      return this.violation(
        link,
        new ProtocolError('PROTOCOL_VIOLATION', `${msg.type} from a provider`),
      )
    }
    // An honest provider answers in the order asked: only an answer to the oldest want it owes
    // counts as progress, so one that holds back a single block still times out.
    const head = link.inflight.values().next().value
    if (msg.type === 'dont-have' ? msg.cids.includes(head ?? '') : msg.cid === head) {
      link.heard = Date.now()
    }
    if (msg.type === 'dont-have') {
      for (const cid of msg.cids) {
        if (this.owner.get(cid) !== link) continue
        this.unassign(link, cid)
        this.pending.add(cid)
      }
      return this.schedule()
    }
    const { cid } = msg
    if (!link.asked.has(cid)) {
      return this.violation(link, new ProtocolError('PROTOCOL_VIOLATION', 'an unrequested block'))
    }
    verifyBlockAsync(cid, msg.bytes).then(
      (ok) => {
        if (this.finished) return
        if (ok) this.accept(link, cid, msg.bytes)
        else this.rejectBlock(link, cid)
      },
      (e: unknown) => this.finish(e instanceof Error ? e : new Error(String(e))),
    )
  }

  /** A block whose bytes match its CID: its owner is released and it goes to the store. */
  private accept(link: Link, cid: CidString, bytes: Uint8Array): void {
    const owner = this.owner.get(cid)
    if (owner !== undefined) {
      this.owner.delete(cid)
      owner.inflight.delete(cid)
      if (owner !== link) owner.framed?.send(encodeBlocksMessage({ type: 'cancel', cids: [cid] }))
    } else if (!this.pending.delete(cid) && !this.missing.delete(cid)) {
      return // a late duplicate of a block we already have
    }
    this.host.adjustScore(link.peer, SCORE.goodBlock)
    this.storing.add(cid)
    this.host.store.put(cid, bytes).then(
      () => this.stored(cid, bytes.length),
      (e: unknown) => this.finish(e instanceof Error ? e : new Error(String(e))),
    )
    this.schedule()
  }

  private stored(cid: CidString, size: number): void {
    this.storing.delete(cid)
    this.host.counters.fetchedBlocks++
    this.host.counters.fetchedBytes += size
    if (this.finished) return
    this.progress.blocks++
    this.progress.bytes += size
    if (!this.opts.sizes?.has(cid)) this.progress.totalBytes += size
    this.report()
    this.checkDone()
  }

  private rejectBlock(link: Link, cid: CidString): void {
    this.host.counters.rejectedBlocks++
    this.host.counters.protocolErrors++
    this.host.adjustScore(link.peer, SCORE.wrongBlock)
    this.host.log.warn(`rejected a block from ${short(link.peer)}: its bytes do not match ${cid}`)
    this.drop(link, new ProtocolError('PROTOCOL_VIOLATION', `wrong bytes for ${cid}`))
  }

  private violation(link: Link, error: ProtocolError): void {
    this.host.counters.protocolErrors++
    this.host.adjustScore(link.peer, SCORE.violation)
    this.drop(link, error)
  }

  private unassign(link: Link, cid: CidString): void {
    this.owner.delete(cid)
    link.inflight.delete(cid)
    let tried = this.tried.get(cid)
    if (tried === undefined) this.tried.set(cid, (tried = new Set()))
    tried.add(link.peer)
  }

  /** Stops using a provider for this fetch; its blocks go back to the others. */
  private drop(link: Link, error?: ProtocolError): void {
    if (!link.alive) return
    link.alive = false
    for (const cid of [...link.inflight]) {
      this.unassign(link, cid)
      this.pending.add(cid)
    }
    if (error !== undefined) link.framed?.abort(error)
    else void link.framed?.close()
    this.schedule()
  }

  private checkStalls(): void {
    const now = Date.now()
    for (const link of this.links) {
      if (!link.alive || link.inflight.size === 0) continue
      if (now - link.heard < this.host.limits.blockTimeoutMs) continue
      this.host.adjustScore(link.peer, SCORE.stall)
      this.host.log.info(`${short(link.peer)} sent nothing for ${now - link.heard} ms: dropped`)
      link.framed?.stream.abort(new Error('provider stalled'))
      this.drop(link)
    }
  }

  private checkDone(): void {
    if (this.finished || this.pending.size > 0 || this.storing.size > 0) return
    if (this.links.some((l) => l.inflight.size > 0)) return
    this.finish(this.missing.size > 0 ? new BlocksUnavailableError([...this.missing]) : undefined)
  }

  private finish(error?: Error): void {
    if (this.finished) return
    this.finished = true
    clearInterval(this.timer)
    this.controller.abort()
    for (const link of this.links) {
      link.alive = false
      void link.framed?.close()
    }
    this.settle?.(error)
  }

  private report(): void {
    try {
      this.opts.onProgress?.({ ...this.progress })
    } catch (e) {
      this.host.log.warn(`onProgress threw: ${describeError(e)}`)
    }
  }
}

const short = (peer: string): string => peer.slice(-8)

export class BlockService implements Startable {
  readonly store: BlockStore
  readonly limits: BlockLimits
  private readonly log = createLogger('blocks')
  private readonly scores = new Map<string, number>()
  private readonly counters: Counters = {
    servedBlocks: 0,
    servedBytes: 0,
    fetchedBlocks: 0,
    fetchedBytes: 0,
    rejectedBlocks: 0,
    protocolErrors: 0,
  }
  private readonly serving = new Set<FramedStream>()
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
  }

  readonly [Symbol.toStringTag] = '@orrery/blocks'

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    await this.protocol.handle(this.components.registrar, (s, c) => this.accept(s, c), {
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
    for (const s of this.serving) s.stream.abort(new Error('the block service stopped'))
    this.serving.clear()
  }

  /** Whether this peer answers wants from its store right now. */
  get isServing(): boolean {
    const s = this.init.serve
    return typeof s === 'function' ? s() : (s ?? true)
  }

  stats(): BlockStats {
    return { ...this.counters, scores: Object.fromEntries(this.scores) }
  }

  score(peer: string): number {
    return this.scores.get(peer) ?? 0
  }

  /**
   * Gets every listed block the store lacks from `providers` (peer ids), several at once, each
   * block verified before it is stored. Resolves when all are in the store; rejects with
   * BLOCKS_UNAVAILABLE when some block no provider could supply (the rest are still stored).
   */
  async fetch(cids: CidString[], providers: string[], opts: FetchOptions = {}): Promise<void> {
    const self = this.components.peerId.toString()
    const usable = [...new Set(providers)].filter(
      (p) => p !== self && this.score(p) >= this.limits.minScore,
    )
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
        adjustScore: (peer, delta) => this.adjustScore(peer, delta),
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

  private adjustScore(peer: string, delta: number): void {
    this.scores.set(peer, Math.min(SCORE.max, this.score(peer) + delta))
  }

  // ---- serving ---------------------------------------------------------------------------------

  private accept(stream: Stream, connection: Connection): void {
    if (connection.limits !== undefined) {
      stream.abort(new Error('blocks are not exchanged over limited connections'))
      return
    }
    const framed = new FramedStream(
      stream,
      { maxFrame: MAX_FRAME, maxMessage: MAX_BLOCKS_MESSAGE },
      this.log,
    )
    this.serving.add(framed)
    new ServeSession(framed, this, this.counters, this.log)
      .run()
      .catch((e: unknown) => this.log.debug(`blocks stream: ${describeError(e)}`))
      .finally(() => this.serving.delete(framed))
  }
}

/**
 * Answers one inbound stream: wants are queued (at most `maxWantsPerStream` outstanding) and
 * answered in order, each with a BLOCK or a DONT_HAVE, waiting for the stream to drain between
 * blocks. The asking side keeps the stream open until it has its answers; when it closes, the
 * rest of its queue is dropped. Any bad input closes the stream (logged) and nothing else.
 */
class ServeSession {
  private readonly queue: CidString[] = []
  /** 1 while a want is being answered */
  private busy = 0
  private pumping = false

  constructor(
    private readonly framed: FramedStream,
    private readonly service: BlockService,
    private readonly counters: Counters,
    private readonly log: Logger,
  ) {}

  async run(): Promise<void> {
    const error = await this.framed.read((m) => this.onMessage(m))
    if (error !== undefined) this.counters.protocolErrors++
    this.queue.length = 0
    const stream = this.framed.stream
    // the remote ended its side: end ours too (a no-op when it was aborted)
    if (stream.writeStatus === 'writable') {
      await stream.close().catch(() => stream.abort(new Error('close failed')))
    }
  }

  private fault(e: ProtocolError): void {
    this.counters.protocolErrors++
    this.framed.abort(e)
  }

  private onMessage(bytes: Uint8Array): void {
    const m = decodeBlocksMessage(bytes)
    if (!m.ok) return this.fault(m.error)
    const msg = m.value
    switch (msg.type) {
      case 'want': {
        const outstanding = this.queue.length + this.busy + msg.cids.length
        const max = this.service.limits.maxWantsPerStream
        if (outstanding > max) {
          return this.fault(violation(`${outstanding} outstanding wants, more than ${max}`))
        }
        this.queue.push(...msg.cids)
        void this.pump()
        return
      }
      case 'cancel': {
        const drop = new Set(msg.cids)
        const keep = this.queue.filter((c) => !drop.has(c))
        this.queue.splice(0, this.queue.length, ...keep)
        return
      }
      default:
        return this.fault(violation(`${msg.type} from the asking side`))
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    const { framed, counters } = this
    try {
      while (this.queue.length > 0 && framed.isOpen) {
        if (!this.service.isServing) {
          framed.send(encodeBlocksMessage({ type: 'dont-have', cids: this.queue.splice(0) }))
          break
        }
        const cid = this.queue.shift() as CidString
        this.busy = 1
        const bytes = await this.service.store.get(cid).catch((e: unknown) => {
          this.log.warn(`reading block ${cid} failed: ${describeError(e)}`)
          return undefined
        })
        if (!framed.isOpen) break
        if (framed.needsDrain) await framed.drained()
        if (bytes === undefined) {
          framed.send(encodeBlocksMessage({ type: 'dont-have', cids: [cid] }))
        } else {
          framed.send(encodeBlocksMessage({ type: 'block', cid, bytes }))
          counters.servedBlocks++
          counters.servedBytes += bytes.length
        }
        this.busy = 0
      }
    } catch (e) {
      this.log.debug(`serving stopped: ${describeError(e)}`)
    } finally {
      this.pumping = false
      this.busy = 0
    }
  }
}

const violation = (why: string): ProtocolError => new ProtocolError('PROTOCOL_VIOLATION', why)

export function orreryBlocks(
  init: BlockServiceInit,
): (components: BlockServiceComponents) => BlockService {
  return (components) => new BlockService(components, init)
}
