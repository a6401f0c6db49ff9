/**
 * One sync session: a single long-lived stream with one remote tab over a direct connection.
 * It exchanges HELLO (tab certificates), INTEREST (topics of open documents) and SYNC messages,
 * and pulls sync messages from the repo whenever the stream can take more (so a slow peer gets
 * fewer, larger messages instead of an unbounded queue).
 */
import type { Connection } from '@libp2p/interface'
import type { DecodedSyncMessage } from 'automerge-wasm'
import { am } from '../automerge'
import { bytesToHex } from '../bytes'
import { COMPRESSED_CHANGE_CHUNK, DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { describeError, OrreryError, ProtocolError } from '../errors'
import type { DocId } from '../ids'
import type { Logger } from '../log'
import { mark, trace } from '../timings'
import { DEFAULT_FIREWALL, type AdmitCost, type Firewall } from '../firewall/firewall'
import { inflatedSize } from '../inflated-size'
import type { Repo } from '../repo/repo'
import { verifyTabCert, type TabCert } from '../tab-cert'
import type { FramedStream } from '../wire/framed-stream'
import { ReassemblyBusyError } from '../wire/framing'
import { helloVersion, protocolId } from '../wire/versions'
import {
  decodeSyncFrame,
  encodeSyncFrame,
  MAX_TOPICS_PER_MESSAGE,
  MAX_TOPICS_PER_SESSION,
  TOPICS_PER_WRITE,
  type SignatureList,
  type ReceivedSyncMessage,
  type SyncFrame,
} from './messages'
import type { SyncPeer } from './peer'
import type { PresenceState } from '../presence/presence-state'

/** the first sync version whose sessions carry PRESENCE frames */
export const PRESENCE_SINCE_VERSION = 2

let nextKey = 0

/**
 * Whole-document chunks in one SYNC message: Automerge sends one, on a first sync. Each is
 * inflated to be counted, a stream per deflated column, so their number is bounded.
 */
export const MAX_DOCUMENTS_PER_MESSAGE = 4

/**
 * How long a reply that only acknowledges (no changes, nothing asked for) may wait for the next
 * message to the peer, to go out with it in one write, as TCP's delayed ACK. In a live exchange
 * (W1) the acknowledgement of the peer's change is followed at once by our own next change: sent
 * apart, it cost the peer a task, a flush and a reply of its own each time.
 */
export const ACK_DELAY_MS = 20

/** `closedReason` of a session ended because every peer's split messages filled the budget */
export const REASSEMBLY_BUSY = 'reassembly budget full'

export interface SessionOptions {
  /** reads at most MAX_MESSAGE_BEFORE_HELLO until the peer's HELLO, then `maxMessage` */
  framed: FramedStream
  maxMessage: number
  connection: Connection
  /** the sync major negotiated for this stream (its protocol id's) */
  version: number
  repo: Repo
  cert: Promise<TabCert>
  log: Logger
  onClose: (s: SyncSession) => void
  localPeerId: string
  /** limits on what this peer may send us; protocol faults count as strikes */
  firewall?: Firewall
  /** the peer's HELLO named another version: reported, never struck */
  onOtherVersion?: (peer: string, reason: string) => void
}

export class SyncSession implements SyncPeer {
  readonly key = `s${++nextKey}`
  readonly remotePeer: string
  readonly localPeer: string
  readonly connectionId: string
  readonly initiator: boolean
  /** the sync major this session speaks (negotiated with the stream's protocol id) */
  readonly version: number
  identity: string | undefined
  private helloReceived = false
  /** INTEREST tags sent (hex) and received in this session (each side keeps to MAX_TOPICS_PER_SESSION) */
  private readonly tagsSent = new Set<string>()
  private topicsReceived = 0
  /** sync messages sent and received, bytes included (status and tests) */
  readonly stats = { sent: 0, received: 0, bytesSent: 0, bytesReceived: 0 }
  private cert: TabCert | undefined
  private readonly dirty = new Set<DocId>()
  /** documents this peer has sent us a sync message about (a reply to it may be held) */
  private readonly heard = new Set<DocId>()
  /** acknowledgements held for the next message (ACK_DELAY_MS), encoded, in order */
  private held: Uint8Array[] = []
  private heldTimer: ReturnType<typeof setTimeout> | undefined
  private helloSent = false
  /** presence held while the stream drains, latest per document (older states are stale) */
  private readonly presenceHeld = new Map<DocId, PresenceState>()
  private pumping = false
  private ended = false
  /**
   * why this side closed the session (`'not allowed'`: our firewall refused the peer;
   * REASSEMBLY_BUSY: every peer's split messages filled the budget)
   */
  closedReason: string | undefined
  readonly framed: FramedStream
  private readonly repo: Repo
  private readonly log: Logger

  constructor(private readonly opts: SessionOptions) {
    this.framed = opts.framed
    this.repo = opts.repo
    this.log = opts.log
    this.remotePeer = opts.connection.remotePeer.toString()
    this.localPeer = opts.localPeerId
    this.connectionId = opts.connection.id
    this.version = opts.version
    this.initiator = opts.localPeerId < this.remotePeer
  }

  /** Sends our HELLO and INTEREST, then reads until the stream ends. */
  async run(): Promise<void> {
    const allowed = this.opts.firewall?.permits(this.remotePeer)
    if (allowed !== undefined && !allowed.ok) {
      this.log.info(`refusing ${this.short}: ${allowed.error.message}`)
      this.framed.abort(new ProtocolError('PROTOCOL_VIOLATION', allowed.error.message))
      this.end()
      return
    }
    this.repo.addPeer(this)
    this.cert = await this.opts.cert
    this.send({ type: 'hello', version: helloVersion('sync', this.version), cert: this.cert })
    this.helloSent = true
    void this.pump() // anything woken while the certificate loaded
    this.sendInterest(this.repo.openDocIds())
    const error = await this.framed.read((m) => this.onMessage(m))
    if (error !== undefined) {
      this.log.warn(`sync with ${this.short} ended: ${error.code}`)
      // bad framing, an oversized or stalled message is the peer's fault; a full reassembly
      // budget (every peer's partial messages together) is not
      if (!(error instanceof ReassemblyBusyError))
        this.opts.firewall?.strike(this.remotePeer, `${error.code}: ${error.message}`)
      else this.closedReason ??= REASSEMBLY_BUSY // the service opens another session later
    }
    this.end()
  }

  get short(): string {
    return this.remotePeer.slice(-8)
  }

  get isOpen(): boolean {
    return !this.ended
  }

  /**
   * Tells the peer which documents are open here, as tags only someone with their keys can make
   * (documents without a key here are left out; a tag already sent is not sent again).
   */
  sendInterest(ids: readonly DocId[]): void {
    if (this.ended || !this.helloSent) return // run() announces every open document after HELLO
    const fresh = this.repo.interestTags(this, ids).filter((t) => !this.tagsSent.has(bytesToHex(t)))
    const room = MAX_TOPICS_PER_SESSION - this.tagsSent.size
    if (fresh.length > room)
      this.log.warn(`${this.short}: more open documents than one session announces; ${room} sent`)
    const topics = fresh.slice(0, Math.max(0, room))
    for (const t of topics) this.tagsSent.add(bytesToHex(t))
    for (let i = 0; i < topics.length; i += MAX_TOPICS_PER_MESSAGE) {
      this.send({ type: 'interest', topics: topics.slice(i, i + MAX_TOPICS_PER_MESSAGE) })
    }
  }

  /**
   * Marks a document as having news for this peer and, when the stream can take it, sends at
   * once: a change goes out in the same task that committed it, before the page spends time on
   * rendering or storage callbacks.
   */
  wake(docId: DocId): void {
    if (this.ended) return
    this.dirty.add(docId)
    if (!this.pumping) void this.pump()
  }

  /**
   * Where this tab is in a document (doc-presence.ts). Dropped by a session of sync version 1,
   * which has no PRESENCE frame; held while the stream drains, only the latest per document.
   */
  sendPresence(docId: DocId, state: PresenceState): void {
    if (this.ended || !this.helloSent || this.version < PRESENCE_SINCE_VERSION) return
    if (this.framed.needsDrain || this.presenceHeld.size > 0) {
      const first = this.presenceHeld.size === 0
      this.presenceHeld.set(docId, state)
      if (first) void this.sendHeldPresence()
      return
    }
    this.send({ type: 'presence', docId, state })
  }

  private async sendHeldPresence(): Promise<void> {
    try {
      while (this.framed.needsDrain && !this.ended) await this.framed.drained()
    } catch {
      return // the stream ended
    }
    const held = [...this.presenceHeld]
    this.presenceHeld.clear()
    if (this.ended) return
    for (const [docId, state] of held) this.send({ type: 'presence', docId, state })
  }

  async close(reason: string): Promise<void> {
    if (this.ended) return
    this.closedReason = reason
    this.send({ type: 'goodbye', reason })
    this.end()
    await this.framed.close()
  }

  /** Sends a frame, after (and in one write with) any acknowledgement held for it. */
  private send(frame: SyncFrame): boolean {
    const encoded = encodeSyncFrame(frame)
    if (this.held.length === 0) return this.framed.send(encoded)
    const all = [...this.held, encoded]
    this.releaseHeld()
    return this.framed.sendAll(all)
  }

  /** Holds an acknowledgement until the next frame or ACK_DELAY_MS, whichever comes first. */
  private hold(frame: SyncFrame): void {
    this.held.push(encodeSyncFrame(frame))
    this.heldTimer ??= setTimeout(() => {
      this.heldTimer = undefined
      const all = this.held
      this.held = []
      if (all.length > 0 && !this.ended) this.framed.sendAll(all)
    }, ACK_DELAY_MS)
  }

  private releaseHeld(): void {
    this.held = []
    clearTimeout(this.heldTimer)
    this.heldTimer = undefined
  }

  /**
   * Whether a sync message only acknowledges: no changes, nothing asked for, and a reply (the
   * peer has told us about this document, so it knows we have it). Holding our first message
   * would delay the exchange itself.
   */
  private onlyAcknowledges(docId: DocId, message: Uint8Array, sigs: unknown[]): boolean {
    if (!this.heard.has(docId) || sigs.length > 0) return false
    try {
      const m = am().decodeSyncMessage(message)
      return m.changes.length === 0 && m.need.length === 0
    } catch {
      return false
    }
  }

  private async pump(): Promise<void> {
    if (this.pumping || !this.helloSent) return
    this.pumping = true
    try {
      while (this.dirty.size > 0 && !this.ended) {
        if (this.framed.needsDrain) await this.framed.drained()
        const docId = this.dirty.values().next().value as DocId
        this.dirty.delete(docId)
        trace('generate')
        const out = this.repo.generateSyncMessage(this, docId)
        if (out !== null) {
          this.stats.sent++
          this.stats.bytesSent += out.message.length
          trace(`send ${out.message.length}`)
          const frame: SyncFrame = { type: 'sync', docId, message: out.message, sigs: out.sigs }
          if (this.onlyAcknowledges(docId, out.message, out.sigs)) this.hold(frame)
          else this.send(frame)
        }
      }
    } catch (e) {
      if (!this.ended) this.log.debug(`sync pump to ${this.short} stopped: ${describeError(e)}`)
    } finally {
      this.pumping = false
    }
  }

  /**
   * Every message is charged to the firewall before the next one is read (HELLO and INTEREST
   * too: an INTEREST costs a tag lookup per topic, and a write per TOPICS_PER_WRITE of them). A
   * message over `maxMessageBytes` is refused, with a strike, and goes no further.
   */
  private onMessage(bytes: Uint8Array): void | Promise<void> {
    trace('receive')
    const decoded = decodeSyncFrame(bytes)
    if (!decoded.ok) return this.fault(decoded.error)
    const f = decoded.value
    if (!this.helloReceived && f.type !== 'hello') {
      return this.fault(new ProtocolError('PROTOCOL_VIOLATION', `${f.type} before hello`))
    }
    switch (f.type) {
      case 'hello': {
        const admitted = this.admit({ writes: 1, bytes: bytes.length })
        if (admitted.refused) return admitted.wait
        this.onHello(f.version, f.cert)
        return admitted.wait
      }
      case 'interest': {
        this.topicsReceived += f.topics.length
        if (this.topicsReceived > MAX_TOPICS_PER_SESSION)
          return this.fault(
            new ProtocolError(
              'PROTOCOL_VIOLATION',
              `more than ${MAX_TOPICS_PER_SESSION} interest topics in one session`,
            ),
          )
        const writes = 1 + Math.floor(f.topics.length / TOPICS_PER_WRITE)
        const admitted = this.admit({ writes, bytes: bytes.length })
        if (admitted.refused) return admitted.wait
        this.repo
          .peerInterested(this, f.topics)
          .catch((e: unknown) => this.log.warn(`interest: ${describeError(e)}`))
        return admitted.wait
      }
      case 'sync':
        return this.onSync(f.docId, f.message, f.sigs, bytes.length)
      case 'presence': {
        if (this.version < PRESENCE_SINCE_VERSION)
          return this.fault(
            new ProtocolError('PROTOCOL_VIOLATION', `presence on sync v${this.version}`),
          )
        const admitted = this.admit({ writes: 1, bytes: bytes.length })
        if (admitted.refused) return admitted.wait
        this.repo
          .receivePresence(this, f.docId, f.state)
          .catch((e: unknown) => this.log.warn(`presence: ${describeError(e)}`))
        return admitted.wait
      }
      case 'goodbye':
        this.log.info(`${this.short} said goodbye: ${f.reason}`)
        this.end()
        void this.framed.close()
        return
    }
  }

  /**
   * Charges a message to the firewall: `wait` resolves when the peer may send the next one;
   * `refused` when it was too large (struck, and `wait` rejects: the stream ends).
   */
  private admit(cost: AdmitCost): { refused: boolean; wait: Promise<void> | undefined } {
    const firewall = this.opts.firewall
    if (firewall === undefined) return { refused: false, wait: undefined }
    // over the size limit (one lowered since the framing read it): struck, and `wait` rejects
    if (cost.bytes > firewall.config.maxMessageBytes)
      return { refused: true, wait: firewall.admit(this.remotePeer, cost) }
    // the wire bytes were charged as they arrived (FramedStream's `charge`): only what whole
    // documents inflate to beyond them is charged here
    const extra =
      cost.inflated === undefined ? {} : { inflated: Math.max(0, cost.inflated - cost.bytes) }
    return {
      refused: false,
      wait: firewall.admit(this.remotePeer, { writes: cost.writes, bytes: 0, ...extra }),
    }
  }

  /**
   * A SYNC message. Compressed change chunks are refused: Automerge never sends them, and one
   * inflates (up to a thousandfold) in `decodeChange` before any signature is looked up, where
   * its hash is not the hash of its bytes either. Whole-document chunks, which Automerge does send
   * deflated on a first sync, are inflated first by `inflatedSize`, counting only, up to the
   * firewall's `maxInflatedBytes`: past it the message is refused with a strike, below it the
   * message is charged its inflated size.
   */
  private onSync(
    docId: DocId,
    message: Uint8Array,
    sigs: SignatureList,
    size: number,
  ): void | Promise<void> {
    let msg: ReceivedSyncMessage
    try {
      msg = Object.assign(am().decodeSyncMessage(message), { bytes: message })
    } catch (e) {
      return this.fault(
        new ProtocolError(
          'MALFORMED_MESSAGE',
          `undecodable Automerge sync message: ${describeError(e)}`,
        ),
      )
    }
    let writes = 0
    const documents: Uint8Array[] = []
    for (const c of msg.changes) {
      const chunks = splitChunks(c, false) // framing here; Automerge checks the checksums
      if (!chunks.ok) {
        return this.fault(
          new ProtocolError(
            'MALFORMED_MESSAGE',
            `bad change in sync message: ${chunks.error.message}`,
          ),
        )
      }
      for (const chunk of chunks.value) {
        if (chunk[8] === COMPRESSED_CHANGE_CHUNK) {
          return this.fault(
            new ProtocolError('MALFORMED_MESSAGE', 'compressed change chunk in sync message'),
          )
        }
        if (chunk[8] === DOCUMENT_CHUNK) documents.push(chunk)
      }
      writes += chunks.value.length
    }
    if (documents.length > MAX_DOCUMENTS_PER_MESSAGE) {
      return this.fault(
        new ProtocolError(
          'MALFORMED_MESSAGE',
          `${documents.length} whole documents in one message`,
        ),
      )
    }
    mark('sync-first-message')
    this.stats.received++
    this.stats.bytesReceived += message.length
    const cost = { writes: Math.max(1, writes), bytes: size } // at least one write a message
    if (documents.length === 0) return this.deliver(docId, msg, sigs, cost)
    return this.inflateThenDeliver(docId, msg, sigs, cost, documents)
  }

  private async inflateThenDeliver(
    docId: DocId,
    msg: DecodedSyncMessage,
    sigs: SignatureList,
    cost: AdmitCost,
    documents: Uint8Array[],
  ): Promise<void> {
    const cap = this.opts.firewall?.config.maxInflatedBytes ?? DEFAULT_FIREWALL.maxInflatedBytes
    // the message without its documents, then each document as inflated
    let inflated = cost.bytes - documents.reduce((n, d) => n + d.length, 0)
    for (const d of documents) {
      const size = await inflatedSize(d, Math.max(0, cap - inflated))
      if (this.ended) return
      if (!size.ok) return this.fault(size.error)
      inflated += size.value
      if (inflated > cap) {
        // charged too: a peer id that comes back within `forgetAfterMs` finds its bucket in debt
        this.admit({ ...cost, inflated }).wait?.catch(() => undefined)
        return this.fault(
          new ProtocolError(
            'MESSAGE_TOO_LARGE',
            `a whole document that inflates past ${cap} bytes (${cost.bytes} on the wire)`,
          ),
        )
      }
    }
    await this.deliver(docId, msg, sigs, { ...cost, inflated })
  }

  /** Charges the firewall, then hands the message to the repo (unless refused). */
  private deliver(
    docId: DocId,
    msg: DecodedSyncMessage,
    sigs: SignatureList,
    cost: AdmitCost,
  ): Promise<void> | undefined {
    // the firewall's rate limits: over them, the next message waits (back-pressure); a message
    // over its size limit is refused (a strike) and never reaches the repo
    const admitted = this.admit(cost)
    if (admitted.refused) return admitted.wait
    this.heard.add(docId)
    this.repo
      .receiveSync(this, docId, msg, sigs)
      .catch((e: unknown) => this.log.warn(`sync: ${describeError(e)}`))
    return admitted.wait
  }

  private onHello(version: number, cert: TabCert): void {
    if (this.helloReceived)
      return this.fault(new ProtocolError('PROTOCOL_VIOLATION', 'second hello'))
    const expected = helloVersion('sync', this.version)
    if (version !== expected) {
      // a build that changed the wire without changing the id: another version, not a fault
      const reason = `its HELLO says sync v${version} on ${protocolId('sync', this.version)} (v${expected} expected)`
      this.log.info(`${this.short} runs another version: ${reason}`)
      this.opts.onOtherVersion?.(this.remotePeer, reason)
      void this.close('another version')
      return
    }
    const checked = verifyTabCert(cert, this.remotePeer)
    if (!checked.ok)
      return this.fault(new ProtocolError('PROTOCOL_VIOLATION', checked.error.message))
    const allowed = this.opts.firewall?.permits(this.remotePeer, checked.value)
    if (allowed !== undefined && !allowed.ok) {
      this.log.info(`refusing ${this.short} (${checked.value.slice(-8)}): ${allowed.error.message}`)
      void this.close('not allowed')
      return
    }
    this.helloReceived = true
    this.framed.setMaxMessage(this.opts.maxMessage)
    mark('sync-hello')
    this.identity = checked.value
    if (cert.profileId === this.cert?.profileId) {
      // Another tab of this browser profile: IndexedDB and the tab bus already connect us.
      void this.close('same profile')
    }
  }

  /** Bad input: close this stream (logged), keep everything else running. */
  fault(error: OrreryError): void {
    const pe =
      error instanceof ProtocolError
        ? error
        : new ProtocolError('PROTOCOL_VIOLATION', error.message)
    this.framed.abort(pe)
    this.opts.firewall?.strike(this.remotePeer, `${pe.code}: ${pe.message}`)
    this.end()
  }

  private end(): void {
    if (this.ended) return
    this.ended = true
    this.dirty.clear()
    this.presenceHeld.clear()
    this.releaseHeld()
    this.repo.removePeer(this)
    this.opts.onClose(this)
  }
}
