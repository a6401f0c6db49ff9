/**
 * A tab's side of the mirror (protocol.ts): uploads envelopes and fetches a document's
 * envelopes since an index, one stream per request. Every answer is read strictly: what a
 * lying or broken mirror sends comes back as a typed error, never a throw, and never as
 * envelopes of another document or out of order. Nothing here throws except on a caller's bug
 * (a RangeError: a tag not of 32 bytes, a negative index).
 *
 * Errors: a refusal comes back with the mirror's code (BAD_SIGNATURE, PROTOCOL_VIOLATION for a
 * replayed sequence number, STORAGE_FULL…: `mirrorError`); a mirror that cannot be dialled, resets
 * the stream or does not answer within `timeoutMs` is PEER_UNREACHABLE; an answer that breaks the
 * protocol is a ProtocolError.
 */
import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { equalBytes } from '../bytes'
import { describeError, OrreryError, ProtocolError, type Result, err, ok } from '../errors'
import { MAX_ENVELOPE_BYTES, NO_ROSTER, parseEnvelope } from './envelope'
import { parseRoster, verifyRoster } from './roster'
import {
  decodeMirrorAnswer,
  encodeMirrorRequest,
  MAX_PAGE_ENVELOPES,
  MAX_SINCE_ANSWER,
  MAX_SMALL_ANSWER,
  MIRROR_PROTOCOL,
  mirrorError,
  readOne,
  sendOne,
  type MirrorAnswer,
  type MirrorRequest,
  type PageEntry,
} from './protocol'

/**
 * One request's bytes to the mirror and its answer's bytes back: over a libp2p stream
 * (`streamExchange`), or over HTTP from the relay that served the page (http.ts). Never throws:
 * a mirror out of reach, or too slow for `signal`, is PEER_UNREACHABLE.
 */
export type MirrorExchange = (
  request: Uint8Array,
  maxAnswer: number,
  signal: AbortSignal,
) => Promise<Result<Uint8Array, OrreryError>>

/** What the client needs of a libp2p node. */
export interface MirrorDialer {
  dialProtocol(
    peer: PeerId | Multiaddr | Multiaddr[],
    protocols: string | string[],
    options?: AbortOptions,
  ): Promise<Stream>
}

export interface MirrorClientOptions {
  /** one request's whole budget: dialling, sending and the answer (ms) */
  timeoutMs?: number
  /** `sinceAll` gives up (MESSAGE_TOO_LARGE) beyond this many envelopes */
  maxEnvelopes?: number
}

export interface PutAnswer {
  /** the envelope's index in its document's order on the mirror */
  index: number
  /** the mirror held this very envelope already (a retry): `index` is the stored one's */
  duplicate: boolean
}

export interface MirrorPage {
  /** in index order, every index above the `after` asked for */
  envelopes: PageEntry[]
  /** the mirror has more after these: ask again after the last index */
  more: boolean
}

const DEFAULT_TIMEOUT_MS = 60_000
const DEFAULT_MAX_ENVELOPES = 100_000

const violation = (why: string): Result<never, ProtocolError> =>
  err(new ProtocolError('PROTOCOL_VIOLATION', `the mirror ${why}`))

export class MirrorClient {
  private readonly timeoutMs: number
  private readonly maxEnvelopes: number

  constructor(
    private readonly exchange: MirrorExchange,
    options: MirrorClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.maxEnvelopes = options.maxEnvelopes ?? DEFAULT_MAX_ENVELOPES
  }

  /** A client of the mirror at `mirror`, one libp2p stream per request. */
  static dial(
    node: MirrorDialer,
    mirror: PeerId | Multiaddr | Multiaddr[],
    options: MirrorClientOptions = {},
  ): MirrorClient {
    return new MirrorClient(streamExchange(node, mirror), options)
  }

  /** Uploads one envelope (sealEnvelope's bytes). A retry of a stored one answers its index. */
  async put(envelope: Uint8Array): Promise<Result<PutAnswer>> {
    if (!(envelope instanceof Uint8Array) || envelope.length === 0)
      return err(new ProtocolError('MALFORMED_MESSAGE', 'an envelope is bytes'))
    if (envelope.length > MAX_ENVELOPE_BYTES)
      return err(
        new ProtocolError(
          'MESSAGE_TOO_LARGE',
          `an envelope of ${envelope.length} bytes (the limit is ${MAX_ENVELOPE_BYTES})`,
        ),
      )
    const answer = await this.request({ type: 'put', envelope }, MAX_SMALL_ANSWER)
    if (!answer.ok) return answer
    const a = answer.value
    if (a.type !== 'ok-put') return violation(`answered an upload with ${a.type}`)
    return ok({ index: a.index, duplicate: a.duplicate })
  }

  /** Hands the mirror a space's member list (roster.ts): newer, and signed by an admin. */
  async putRoster(roster: Uint8Array): Promise<Result<void>> {
    return this.done(await this.request({ type: 'roster-put', roster }, MAX_SMALL_ANSWER))
  }

  /** Asks the mirror to let a newcomer in on its invite (roster.ts, `encodeAdmission`). */
  async admit(admission: Uint8Array): Promise<Result<void>> {
    return this.done(await this.request({ type: 'admit', admission }, MAX_SMALL_ANSWER))
  }

  /**
   * The member list the mirror holds under `id`, checked: its id and its signer's signature (a
   * mirror cannot forge one; it can hold back a newer one). Undefined when it holds none.
   */
  async getRoster(id: Uint8Array): Promise<Result<Uint8Array | undefined>> {
    const answer = await this.request({ type: 'roster-get', id }, MAX_SINCE_ANSWER)
    if (!answer.ok) return answer
    const a = answer.value
    if (a.type !== 'roster') return violation(`answered a roster request with ${a.type}`)
    if (a.roster === undefined) return ok(undefined)
    const parsed = parseRoster(a.roster)
    if (!parsed.ok) return violation(`sent a malformed member list: ${parsed.error.message}`)
    if (!equalBytes(parsed.value.id, id)) return violation("sent another space's member list")
    if (!verifyRoster(parsed.value)) return violation('sent a member list with a bad signature')
    return ok(a.roster)
  }

  private done(answer: Result<MirrorAnswer>): Result<void> {
    if (!answer.ok) return answer
    if (answer.value.type !== 'done') return violation(`answered with ${answer.value.type}`)
    return ok(undefined)
  }

  /**
   * One page of `docTag`'s envelopes in `roster`'s log (none: a document of no space) with an
   * index above `after`: at most `limit` (the mirror may send fewer, and says whether there is
   * `more`). Each envelope's structure, document tag and roster are checked here; its signature
   * and body are `openEnvelope`'s to check.
   */
  async since(
    docTag: Uint8Array,
    after: number,
    limit: number = MAX_PAGE_ENVELOPES,
    roster: Uint8Array = NO_ROSTER,
  ): Promise<Result<MirrorPage>> {
    if (docTag.length !== 32 || roster.length !== 32) throw new RangeError('a tag is 32 bytes')
    if (!Number.isSafeInteger(after) || after < 0) throw new RangeError(`after ${after}`)
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit ${limit}`)
    const request: MirrorRequest & { type: 'since' } = {
      type: 'since',
      roster,
      docTag,
      after,
      limit: Math.min(limit, MAX_PAGE_ENVELOPES),
    }
    const answer = await this.request(request, MAX_SINCE_ANSWER)
    if (!answer.ok) return answer
    const a = answer.value
    if (a.type !== 'envelopes') return violation(`answered a since with ${a.type}`)
    if (a.envelopes.length > request.limit)
      return violation(`sent ${a.envelopes.length} envelopes, ${request.limit} were asked for`)
    if (a.more && a.envelopes.length === 0) return violation('said there is more, and sent none')
    let last = after
    for (const e of a.envelopes) {
      if (e.index <= last) return violation(`sent index ${e.index} after ${last}`)
      last = e.index
      const parsed = parseEnvelope(e.envelope)
      if (!parsed.ok)
        return violation(`sent an envelope it should not hold: ${parsed.error.message}`)
      if (
        !equalBytes(parsed.value.header.docTag, docTag) ||
        !equalBytes(parsed.value.header.roster, roster)
      )
        return violation("sent another document's envelope")
    }
    return ok({ envelopes: a.envelopes, more: a.more })
  }

  /**
   * Every envelope of `docTag` above `after`, page after page until the mirror has no more.
   * Stops with MESSAGE_TOO_LARGE beyond `maxEnvelopes` (page with `since` instead).
   */
  async sinceAll(
    docTag: Uint8Array,
    after: number,
    roster: Uint8Array = NO_ROSTER,
  ): Promise<Result<PageEntry[]>> {
    const all: PageEntry[] = []
    let from = after
    for (;;) {
      const page = await this.since(docTag, from, MAX_PAGE_ENVELOPES, roster)
      if (!page.ok) return page
      all.push(...page.value.envelopes)
      if (all.length > this.maxEnvelopes)
        return err(
          new ProtocolError('MESSAGE_TOO_LARGE', `more than ${this.maxEnvelopes} envelopes`),
        )
      const lastEntry = page.value.envelopes.at(-1)
      if (!page.value.more || lastEntry === undefined) return ok(all)
      from = lastEntry.index // (since checked it rises: the loop ends)
    }
  }

  /** One request and its answer, decoded; a refusal comes back as the mirror's error. */
  private async request(req: MirrorRequest, maxAnswer: number): Promise<Result<MirrorAnswer>> {
    const got = await this.exchange(
      encodeMirrorRequest(req),
      maxAnswer,
      AbortSignal.timeout(this.timeoutMs),
    )
    if (!got.ok) return got
    const answer = decodeMirrorAnswer(got.value)
    if (!answer.ok) return answer
    if (answer.value.type === 'error')
      return err(mirrorError(answer.value.code, answer.value.message))
    return ok(answer.value)
  }
}

/**
 * One exchange per libp2p stream: dial, send the request and close our end, read the one
 * answer. The read starts before the request is sent, so an answer the mirror sends early (a
 * refusal of a request it stopped reading) is heard even if our sending then fails.
 */
export function streamExchange(
  node: MirrorDialer,
  mirror: PeerId | Multiaddr | Multiaddr[],
): MirrorExchange {
  return async (request, maxAnswer, signal) => {
    let stream: Stream
    try {
      stream = await node.dialProtocol(mirror, MIRROR_PROTOCOL, { signal })
    } catch (e) {
      const why = signal.aborted ? 'no stream in time' : describeError(e)
      return err(new OrreryError('PEER_UNREACHABLE', `the mirror: ${why}`, { cause: e }))
    }
    const reading = readOne(stream, { maxMessage: maxAnswer, signal, remote: 'the mirror' })
    await sendOne(stream, request, signal)
    const got = await reading
    if (!got.ok && (stream.status === 'open' || stream.status === 'closing'))
      stream.abort(got.error)
    return got
  }
}
