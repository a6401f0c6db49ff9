/**
 * Fetching blocks from providers: one `BlockFetch` per call of `BlockService.fetch`. It asks
 * several providers at once, each with a window of outstanding wants and one stream for the whole
 * fetch, least loaded first; every block is verified against its CID before it is stored. A
 * provider that sends a wrong block, breaks the protocol or stalls is dropped, closed and
 * penalised; its blocks go to the others. Blocks no provider has end in BLOCKS_UNAVAILABLE.
 */
import type { Stream } from '@libp2p/interface'
import { describeError, OrreryError, ProtocolError } from '../errors'
import type { Logger } from '../log'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import { BlockError, parseCid, verifyBlockAsync } from './cid'
import {
  decodeBlocksMessage,
  encodeBlocksMessage,
  MAX_BLOCKS_MESSAGE,
  MAX_CIDS_PER_MESSAGE,
} from './messages'
import { SCORE } from './provider-scores'
import type { BlockCounters, BlockLimits } from './service-types'
import type { BlockStore, CidString, FetchProgress } from './types'

export interface FetchOptions {
  onProgress?: (p: FetchProgress) => void
  signal?: AbortSignal
  /** expected sizes (from the manifest), for progress in bytes */
  sizes?: Map<CidString, number>
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

/** What a fetch needs from the service that runs it. */
export interface FetchHost {
  store: BlockStore
  limits: BlockLimits
  log: Logger
  open: (peer: string, signal: AbortSignal) => Promise<Stream>
  adjustScore: (peer: string, delta: number) => void
  counters: BlockCounters
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
export class BlockFetch {
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
