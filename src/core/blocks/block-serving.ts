/**
 * Serving blocks: every inbound stream on /orrery/blocks/* (never over a limited, relayed
 * connection) gets a `ServeSession` that answers the peer's wants from the store, a BLOCK or a
 * DONT_HAVE per wanted CID (only DONT_HAVE while seeding is off), with at most
 * `maxWantsPerStream` wants outstanding. `BlockServer` accepts the streams and tracks them so the
 * service can close them when it stops.
 */
import type { Connection, Stream } from '@libp2p/interface'
import { describeError, ProtocolError } from '../errors'
import type { Logger } from '../log'
import { FramedStream } from '../wire/framed-stream'
import { MAX_FRAME } from '../wire/framing'
import { decodeBlocksMessage, encodeBlocksMessage, MAX_BLOCKS_MESSAGE } from './messages'
import type { BlockCounters, BlockLimits } from './service-types'
import type { BlockStore, CidString } from './types'

/** What serving reads from the service, afresh for each want (seeding may change at run time). */
export interface ServeHost {
  readonly store: BlockStore
  readonly limits: BlockLimits
  readonly isServing: boolean
}

/** Accepts inbound blocks streams and keeps track of the ones being served. */
export class BlockServer {
  private readonly serving = new Set<FramedStream>()

  constructor(
    private readonly host: ServeHost,
    private readonly counters: BlockCounters,
    private readonly log: Logger,
  ) {}

  accept(stream: Stream, connection: Connection): void {
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
    new ServeSession(framed, this.host, this.counters, this.log)
      .run()
      .catch((e: unknown) => this.log.debug(`blocks stream: ${describeError(e)}`))
      .finally(() => this.serving.delete(framed))
  }

  /** Aborts every stream being served. */
  stop(): void {
    for (const s of this.serving) s.stream.abort(new Error('the block service stopped'))
    this.serving.clear()
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
    private readonly service: ServeHost,
    private readonly counters: BlockCounters,
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
