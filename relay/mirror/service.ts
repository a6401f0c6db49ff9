/**
 * The mirror as a libp2p service on the relay: answers `/orrery/mirror/1.0.0` streams
 * (src/core/mirror/protocol.ts) from a MirrorStore. An upload goes to `store.put`, which checks
 * it (structure, signature, sequence, quotas) and keeps it; a refusal is answered to the uploader
 * with its code and message, and logged. A request the mirror cannot read is answered
 * MALFORMED_MESSAGE (or MESSAGE_TOO_LARGE) and its stream closed.
 *
 * What one stream can cost is bounded: one request of at most MAX_MIRROR_REQUEST bytes, read
 * within `timeoutMs` (else the stream is aborted unanswered), its split frames reserved in a
 * budget per peer and for all peers (a full budget is answered NOT_READY), an answer of at most
 * `maxPageBytes` written within `timeoutMs`, and `maxInboundStreams` streams per connection.
 * Never over a limited (relayed) connection: tabs reach the relay directly.
 */
import { serviceCapabilities } from '@libp2p/interface'
import type { ComponentLogger, Connection, Startable, Stream } from '@libp2p/interface'
import type { Registrar } from '@libp2p/interface-internal'
import { describeError, OrreryError } from '../../src/core/errors'
import { serviceLogger } from '../../src/core/log'
import {
  answerCode,
  decodeMirrorRequest,
  encodeMirrorAnswer,
  MAX_MIRROR_REQUEST,
  MAX_SINCE_ANSWER,
  MIRROR_PROTOCOL,
  PAGE_OVERHEAD,
  pageEntryBytes,
  readOne,
  sendOne,
  type MirrorAnswer,
  type MirrorRequest,
  type PageEntry,
} from '../../src/core/mirror/protocol'
import { ReassemblyBudget, type ReassemblyLimits } from '../../src/core/wire/reassembly'
import { MAX_SINCE_LIMIT, MirrorStore, type MirrorStats, type MirrorStoreOptions } from './store'

export interface MirrorServiceInit {
  /** a store the caller opened and will close */
  store?: MirrorStore
  /** or a directory: the service opens a store there at start and closes it at stop */
  dir?: string
  storeOptions?: MirrorStoreOptions
  /** reading a request, and writing its answer, must each finish within this (ms) */
  timeoutMs?: number
  /** an ENVELOPES answer's bytes at most (≤ MAX_SINCE_ANSWER; its first envelope always goes) */
  maxPageBytes?: number
  /** envelopes per ENVELOPES answer at most (< MAX_SINCE_LIMIT) */
  maxPageEnvelopes?: number
  /** mirror streams open at once on one connection */
  maxInboundStreams?: number
  /** bytes of split requests held per peer and in total */
  reassembly?: ReassemblyLimits
}

export interface MirrorServiceComponents {
  registrar: Registrar
  logger: ComponentLogger
}

export interface MirrorServiceStats {
  /** envelopes newly stored, and their bytes */
  putsAccepted: number
  bytesAccepted: number
  /** uploads answered as a retry of an envelope stored before */
  putsDuplicate: number
  /** uploads refused, in all and by code */
  putsRefused: number
  refusals: Record<string, number>
  sinceRequests: number
  envelopesServed: number
  bytesServed: number
  /** requests that could not be read (malformed, too large, a second message) */
  malformed: number
  /** streams that failed or ran out of time before their request was read */
  dropped: number
  store: MirrorStats | undefined
}

const DEFAULT_TIMEOUT_MS = 60_000
const DEFAULT_PAGE_ENVELOPES = 500
const DEFAULT_REASSEMBLY: ReassemblyLimits = {
  maxBytes: 256 * 1024 * 1024,
  maxBytesPerPeer: 3 * MAX_MIRROR_REQUEST,
}

export class MirrorService implements Startable {
  private readonly log = serviceLogger(this.components.logger, 'mirror')
  private store: MirrorStore | undefined
  private readonly streams = new Set<Stream>()
  private readonly budget: ReassemblyBudget
  private readonly timeoutMs: number
  private readonly pageBytes: number
  private readonly pageEnvelopes: number
  private started = false
  private readonly counters = {
    putsAccepted: 0,
    bytesAccepted: 0,
    putsDuplicate: 0,
    putsRefused: 0,
    sinceRequests: 0,
    envelopesServed: 0,
    bytesServed: 0,
    malformed: 0,
    dropped: 0,
  }
  private readonly refusals: Record<string, number> = {}

  constructor(
    private readonly components: MirrorServiceComponents,
    private readonly init: MirrorServiceInit,
  ) {
    if ((init.store === undefined) === (init.dir === undefined))
      throw new RangeError('a mirror service takes a store or a directory, one of them')
    this.timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.pageBytes = init.maxPageBytes ?? MAX_SINCE_ANSWER
    this.pageEnvelopes = init.maxPageEnvelopes ?? DEFAULT_PAGE_ENVELOPES
    if (!(this.pageBytes > PAGE_OVERHEAD && this.pageBytes <= MAX_SINCE_ANSWER))
      throw new RangeError(`maxPageBytes ${this.pageBytes}`)
    // one more than a page is read from the store, to know whether there is more
    if (!(Number.isInteger(this.pageEnvelopes) && this.pageEnvelopes >= 1))
      throw new RangeError(`maxPageEnvelopes ${this.pageEnvelopes}`)
    if (this.pageEnvelopes >= MAX_SINCE_LIMIT)
      throw new RangeError(`maxPageEnvelopes ${this.pageEnvelopes}`)
    this.budget = new ReassemblyBudget(init.reassembly ?? DEFAULT_REASSEMBLY)
    this.store = init.store
  }

  readonly [Symbol.toStringTag] = '@orrery/mirror'
  readonly [serviceCapabilities] = ['@orrery/mirror']

  isStarted(): boolean {
    return this.started
  }

  async start(): Promise<void> {
    if (this.init.dir !== undefined)
      this.store = await MirrorStore.open(this.init.dir, this.init.storeOptions)
    await this.components.registrar.handle(MIRROR_PROTOCOL, (s, c) => this.accept(s, c), {
      maxInboundStreams: this.init.maxInboundStreams ?? 8,
      runOnLimitedConnection: false,
    })
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.components.registrar.unhandle(MIRROR_PROTOCOL)
    for (const s of this.streams) s.abort(new OrreryError('ABORTED', 'the mirror stopped'))
    this.streams.clear()
    // a store opened here is closed here, after the puts already made are written
    if (this.init.dir !== undefined) {
      await this.store?.close()
      this.store = undefined
    }
  }

  stats(): MirrorServiceStats {
    return { ...this.counters, refusals: { ...this.refusals }, store: this.store?.stats() }
  }

  private accept(stream: Stream, connection: Connection): void {
    this.streams.add(stream)
    this.serve(stream, connection.remotePeer.toString())
      .catch((e: unknown) => {
        this.log.warn(`a mirror stream failed: ${describeError(e)}`)
        stream.abort(e instanceof Error ? e : new Error(String(e)))
      })
      .finally(() => this.streams.delete(stream))
  }

  private async serve(stream: Stream, peer: string): Promise<void> {
    const who = peer.slice(-8)
    const got = await readOne(stream, {
      maxMessage: MAX_MIRROR_REQUEST,
      signal: AbortSignal.timeout(this.timeoutMs),
      reassembly: this.budget.account(peer),
      remote: 'the client',
    })
    if (!got.ok && got.error.code === 'PEER_UNREACHABLE') {
      this.counters.dropped++
      this.log.info(`a request from ${who} was not read: ${got.error.message}`)
      return
    }
    const request = got.ok ? decodeMirrorRequest(got.value) : got
    if (!request.ok) {
      if (request.error.code !== 'NOT_READY') this.counters.malformed++
      this.log.info(
        `refused a request from ${who}: ${request.error.code}: ${request.error.message}`,
      )
      return this.answer(stream, errorAnswer(request.error))
    }
    const answer = await this.handle(request.value, who)
    return this.answer(stream, answer)
  }

  /**
   * A read asked over HTTP (the page's first sight of a link's document, src/core/mirror/http.ts):
   * one request's bytes, unframed, and the answer's bytes. Only reads: an upload, a member list
   * or an admission is answered NOT_ALLOWED (they go over libp2p, where the firewall and the
   * per-peer budgets apply). What a read serves is what any peer may ask over a stream.
   */
  async read(body: Uint8Array, who: string): Promise<Uint8Array> {
    const request = decodeMirrorRequest(body)
    if (!request.ok) {
      this.counters.malformed++
      this.log.info(`refused an HTTP request from ${who}: ${request.error.message}`)
      return encodeMirrorAnswer(errorAnswer(request.error))
    }
    if (request.value.type !== 'since' && request.value.type !== 'roster-get')
      return encodeMirrorAnswer(
        errorAnswer(new OrreryError('NOT_ALLOWED', 'over HTTP the mirror only answers reads')),
      )
    return encodeMirrorAnswer(await this.handle(request.value, who))
  }

  private async handle(request: MirrorRequest, who: string): Promise<MirrorAnswer> {
    const store = this.store
    if (store === undefined) return errorAnswer(new OrreryError('NOT_READY', 'mirror stopped'))
    if (request.type === 'since') return this.since(store, request)
    if (request.type === 'roster-get') {
      try {
        return { type: 'roster', roster: await store.rosters.get(request.id) }
      } catch (e) {
        this.log.warn(`reading a member list failed: ${describeError(e)}`)
        return errorAnswer(new OrreryError('STORAGE_FAILED', 'the mirror could not read its store'))
      }
    }
    if (request.type === 'roster-put' || request.type === 'admit') {
      const what = request.type === 'admit' ? 'an admission' : 'a member list'
      const done =
        request.type === 'admit'
          ? await store.rosters.admit(request.admission)
          : await store.rosters.put(request.roster)
      if (done.ok) return { type: 'done' }
      this.count(done.error.code)
      this.log.info(`refused ${what} from ${who}: ${done.error.code}: ${done.error.message}`)
      return errorAnswer(done.error)
    }
    const put = await store.put(request.envelope)
    if (!put.ok) {
      this.count(put.error.code)
      this.log.info(`refused an envelope from ${who}: ${put.error.code}: ${put.error.message}`)
      return errorAnswer(put.error)
    }
    if (put.value.duplicate) {
      this.counters.putsDuplicate++
    } else {
      this.counters.putsAccepted++
      this.counters.bytesAccepted += request.envelope.length
    }
    return { type: 'ok-put', ...put.value }
  }

  /** A refusal, counted by its code. */
  private count(code: string): void {
    this.counters.putsRefused++
    this.refusals[code] = (this.refusals[code] ?? 0) + 1
  }

  /**
   * A page of envelopes: up to the asked limit and `maxPageEnvelopes`, and no more bytes than
   * `maxPageBytes` (but at least one envelope, or a client could never get past a large one).
   * One row more than the page is read, so `more` is exact when the page is not cut short.
   */
  private async since(
    store: MirrorStore,
    request: Extract<MirrorRequest, { type: 'since' }>,
  ): Promise<MirrorAnswer> {
    this.counters.sinceRequests++
    const want = Math.min(request.limit, this.pageEnvelopes)
    let rows: PageEntry[]
    try {
      rows = await store.since(request.docTag, request.after, want + 1, request.roster)
    } catch (e) {
      this.log.warn(`reading the mirror store failed: ${describeError(e)}`)
      return errorAnswer(new OrreryError('STORAGE_FAILED', 'the mirror could not read its store'))
    }
    const envelopes: PageEntry[] = []
    let size = PAGE_OVERHEAD
    let more = rows.length > want
    for (const row of rows.slice(0, want)) {
      const bytes = pageEntryBytes(row.index, row.envelope.length)
      if (envelopes.length > 0 && size + bytes > this.pageBytes) {
        more = true
        break
      }
      envelopes.push(row)
      size += bytes
    }
    this.counters.envelopesServed += envelopes.length
    this.counters.bytesServed += size
    return { type: 'envelopes', envelopes, more }
  }

  /**
   * Sends the answer and closes our end. The client has closed its end already when it sent a
   * well-formed request; a stream still open after that (a request refused half read) is
   * aborted, so a client that keeps sending cannot hold it.
   */
  private async answer(stream: Stream, answer: MirrorAnswer): Promise<void> {
    const failed = await sendOne(
      stream,
      encodeMirrorAnswer(answer),
      AbortSignal.timeout(this.timeoutMs),
    )
    if (failed !== undefined) this.log.info(`an answer was not delivered: ${describeError(failed)}`)
    if (stream.status === 'open' || stream.status === 'closing')
      stream.abort(new OrreryError('ABORTED', 'the request was refused'))
  }
}

const errorAnswer = (e: OrreryError): MirrorAnswer => ({
  type: 'error',
  code: answerCode(e),
  message: e.message,
})

/** The mirror service for libp2p's `services`: `mirror: mirrorService({ dir })`. */
export function mirrorService(
  init: MirrorServiceInit,
): (components: MirrorServiceComponents) => MirrorService {
  return (components) => new MirrorService(components, init)
}
