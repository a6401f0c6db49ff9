/**
 * The sending side of one outbox stream (used by delivery.ts): waits for the receiver's HELLO
 * and its tab certificate, sends MESSAGE frames and matches the ACKs that come back to them.
 */
import type { ProtocolError } from '../errors'
import type { TabCert } from '../tab-cert'
import type { FramedStream } from '../wire/framed-stream'
import { helloVersion, protocolId } from '../wire/versions'
import {
  decodeOutboxFrame,
  encodeOutboxFrame,
  type AckStatus,
  type OutboxFrame,
  type OutboxMessage,
} from './messages'
import { violation, type Counters } from './service-options'

/** The sending side of one outbox stream: waits for HELLO, then matches ACKs to messages. */
export class SenderLink {
  private cert: TabCert | undefined
  private helloWaiter: ((cert: TabCert | undefined) => void) | undefined
  private readonly acks = new Map<string, (outcome: AckStatus | Error) => void>()
  private ended = false
  /** why the receiver runs another version, when its HELLO said so */
  otherVersion: string | undefined

  constructor(
    private readonly framed: FramedStream,
    private readonly counters: Counters,
    /** the outbox major negotiated for this stream */
    private readonly major: number,
  ) {}

  get open(): boolean {
    return !this.ended && this.framed.isOpen
  }

  /** Reads until the stream ends; then every waiter gets its answer (an error). */
  async read(): Promise<void> {
    const error = await this.framed.read((bytes) => this.onFrame(bytes))
    if (error !== undefined) this.counters.protocolErrors++
    this.ended = true
    this.helloWaiter?.(undefined)
    for (const w of this.acks.values()) w(new Error('the stream closed before the ack'))
    this.acks.clear()
  }

  /** The receiver's certificate, or undefined when it sent none in time. */
  hello(timeoutMs: number): Promise<TabCert | undefined> {
    if (this.cert !== undefined || this.ended || this.otherVersion !== undefined)
      return Promise.resolve(this.cert)
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs)
      const done = (cert: TabCert | undefined): void => {
        clearTimeout(timer)
        this.helloWaiter = undefined
        resolve(cert)
      }
      this.helloWaiter = done
    })
  }

  /** Sends messages and resolves with each one's ACK status, or an Error (timeout, closed). */
  async send(messages: OutboxMessage[], timeoutMs: number): Promise<(AckStatus | Error)[]> {
    const answers = messages.map(
      (m) =>
        new Promise<AckStatus | Error>((resolve) => {
          if (this.ended) return resolve(new Error('the stream closed'))
          this.acks.set(m.id, resolve)
        }),
    )
    const timer = setTimeout(() => {
      for (const w of this.acks.values()) w(new Error('no ack in time'))
      this.acks.clear()
      this.framed.stream.abort(new Error('no ack in time'))
    }, timeoutMs)
    try {
      for (const m of messages) {
        if (!this.open) break
        if (this.framed.needsDrain) await this.framed.drained()
        this.framed.send(encodeOutboxFrame({ type: 'message', message: m }))
        this.counters.sent++
      }
      return await Promise.all(answers)
    } finally {
      clearTimeout(timer)
    }
  }

  fault(e: ProtocolError): void {
    this.counters.protocolErrors++
    this.framed.abort(e)
  }

  private onFrame(bytes: Uint8Array): void {
    const decoded = decodeOutboxFrame(bytes)
    if (!decoded.ok) return this.fault(decoded.error)
    const f: OutboxFrame = decoded.value
    if (this.cert === undefined) {
      if (f.type !== 'hello') return this.fault(violation(`${f.type} before hello`))
      const expected = helloVersion('outbox', this.major)
      if (f.version !== expected) {
        // another version of Orrery that kept the id: not a fault, nothing more to say to it
        this.otherVersion = `its HELLO says outbox v${f.version} on ${protocolId('outbox', this.major)} (v${expected} expected)`
        this.helloWaiter?.(undefined)
        void this.framed.close()
        return
      }
      this.cert = f.cert
      this.helloWaiter?.(f.cert)
      return
    }
    if (f.type !== 'ack') return this.fault(violation(`${f.type} from the receiving side`))
    const waiter = this.acks.get(f.id)
    if (waiter === undefined) return this.fault(violation('an ack for no message sent'))
    this.acks.delete(f.id)
    waiter(f.status)
  }
}
