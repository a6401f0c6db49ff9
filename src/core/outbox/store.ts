/**
 * The persistent outbox and inbox of identity-addressed messages (see service.ts for delivery).
 *
 * Outbox: one record per message under ['outbox', id], written before `enqueue` resolves, so a
 * queued message survives a tab close or reload. Failed attempts are retried with exponential
 * backoff (1 s, 2 s, 4 s … capped at 5 min, each shortened by up to 20 % at random).
 *
 * Inbox: one record per accepted message under ['inbox', id], and a marker ['inbox-seen', id]
 * that outlives the record (`remove`) so a resent message is recognised as a duplicate for
 * `REMEMBER_MS`. Messages older than `MAX_MESSAGE_AGE_MS` (or dated more than
 * `MAX_CLOCK_SKEW_MS` ahead) are refused, so a replay can never outlive its marker.
 *
 * Both load their state from storage on construction (`await x.ready`). Tabs of one profile
 * share storage: `refresh()` merges what other tabs wrote, and `Inbox.accept` checks storage, not
 * only memory, before calling a message new.
 */
import { fromBase64Url, toBase64Url } from '../bytes'
import { Emitter } from '../emitter'
import { describeError, IdentityError, OrreryError } from '../errors'
import type { Identity } from '../identity'
import { createLogger } from '../log'
import type { StorageAdapter } from '../storage/types'
import type { JsonValue } from '../values'
import { messageProblem, signMessage, verifyMessage, type OutboxMessage } from './messages'

const DAY = 24 * 3600 * 1000
export const MAX_MESSAGE_AGE_MS = 30 * DAY
export const MAX_CLOCK_SKEW_MS = DAY
/** how long an accepted id is remembered after it arrived, even once its entry is removed */
export const REMEMBER_MS = MAX_MESSAGE_AGE_MS + MAX_CLOCK_SKEW_MS

export const BACKOFF = { baseMs: 1000, maxMs: 5 * 60 * 1000, jitter: 0.2 }

/**
 * The wait after the `attempts`-th failed attempt: 1 s, 2 s, 4 s … capped at 5 min, shortened by
 * up to `BACKOFF.jitter` at random (so senders that failed together do not retry together).
 */
export function backoffDelay(attempts: number, random: () => number = Math.random): number {
  const exp = Math.min(Math.max(attempts, 1) - 1, 30)
  const base = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** exp)
  return Math.round(base * (1 - BACKOFF.jitter * Math.min(Math.max(random(), 0), 1)))
}

const log = createLogger('outbox')
const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
function parse(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as unknown
  } catch {
    return undefined
  }
}

/** What is stored for a message (both sides keep it whole, signature included). */
interface StoredMessage {
  id: string
  from: string
  to: string
  kind: string
  /** JSON text as signed */
  payload: string
  createdAt: number
  signature: string
}

const storedMessage = (m: OutboxMessage): StoredMessage => ({
  ...m,
  signature: toBase64Url(m.signature),
})

/**
 * A stored message back, or undefined when the record is damaged. The signature was checked
 * before the message was stored (our own, or verified on receipt) and is not checked again.
 */
function readMessage(v: unknown): OutboxMessage | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const s = v as Partial<StoredMessage>
  if (typeof s.signature !== 'string') return undefined
  const signature = fromBase64Url(s.signature)
  if (signature?.length !== 64) return undefined
  const m = {
    id: s.id,
    from: s.from,
    to: s.to,
    kind: s.kind,
    payload: s.payload,
    createdAt: s.createdAt,
    signature,
  } as OutboxMessage
  return messageProblem(m) === undefined ? m : undefined
}

// ---- outbox --------------------------------------------------------------------------------------

/** queued: waiting or retrying; delivered: acknowledged; refused: given up (see markFailed) */
export type OutboxStatus = 'queued' | 'delivered' | 'refused'

/** a message the recipient refused this many times is given up */
export const MAX_REFUSALS = 8

export interface OutboxEntry {
  id: string
  to: string
  kind: string
  payload: JsonValue
  createdAt: number
  /** failed delivery attempts so far */
  attempts: number
  /** of those, the recipient's own answers refusing the message */
  refusals: number
  /** not retried before this time (ms); a new connection to the recipient is tried at once */
  nextAttemptAt: number
  status: OutboxStatus
  deliveredAt?: number
  lastError?: string
}

interface OutboxRecord extends StoredMessage {
  attempts: number
  refusals?: number
  nextAttemptAt: number
  status: OutboxStatus
  deliveredAt?: number
  lastError?: string
}

interface OutboxItem {
  entry: OutboxEntry
  message: OutboxMessage
}

export interface OutboxOptions {
  storage: StorageAdapter
  /** signs what is enqueued (may still be loading) */
  identity: Identity | Promise<Identity>
  now?: () => number
  /** in [0, 1): the backoff jitter */
  random?: () => number
}

export class Outbox {
  readonly events = new Emitter<{ changed: OutboxEntry }>()
  readonly ready: Promise<void>
  private readonly items = new Map<string, OutboxItem>()
  private readonly storage: StorageAdapter
  private readonly identity: Promise<Identity>
  private readonly now: () => number
  private readonly random: () => number
  private writing: Promise<unknown> = Promise.resolve()
  private loaded = false

  constructor(opts: OutboxOptions) {
    this.storage = opts.storage
    this.identity = Promise.resolve(opts.identity)
    this.identity.catch(() => undefined)
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
    this.ready = this.refresh().then(() => {
      this.loaded = true
    })
  }

  /**
   * Signs a message for `to` (a did:key), stores it and resolves with its entry once it is on
   * disk. Throws InvalidValueError for a bad recipient, kind or payload (JSON, at most 16 KiB).
   */
  async enqueue(to: string, kind: string, payload: JsonValue): Promise<OutboxEntry> {
    await this.ready
    const message = signMessage(await this.identity, {
      to,
      kind,
      payload,
      createdAt: this.now(),
    })
    const entry: OutboxEntry = {
      id: message.id,
      to,
      kind,
      payload: JSON.parse(message.payload) as JsonValue,
      createdAt: message.createdAt,
      attempts: 0,
      refusals: 0,
      nextAttemptAt: message.createdAt,
      status: 'queued',
    }
    const item = { entry, message }
    await this.persist(item)
    this.items.set(entry.id, item)
    this.changed(item)
    return { ...entry }
  }

  get(id: string): OutboxEntry | undefined {
    const item = this.items.get(id)
    return item && { ...item.entry }
  }

  /** The signed message of an entry (what goes on the wire). */
  message(id: string): OutboxMessage | undefined {
    return this.items.get(id)?.message
  }

  /** Every entry, queued or delivered, oldest first. */
  list(): OutboxEntry[] {
    return this.sorted().map((i) => ({ ...i.entry }))
  }

  /** Queued entries (for one recipient when `to` is given), oldest first. */
  pending(to?: string): OutboxEntry[] {
    return this.sorted()
      .filter((i) => i.entry.status === 'queued' && (to === undefined || i.entry.to === to))
      .map((i) => ({ ...i.entry }))
  }

  /** Queued entries whose next attempt is due at `now`, oldest first. */
  due(now = this.now()): OutboxEntry[] {
    return this.pending().filter((e) => e.nextAttemptAt <= now)
  }

  async markDelivered(id: string): Promise<void> {
    const item = this.items.get(id)
    if (item === undefined || item.entry.status === 'delivered') return
    item.entry = { ...item.entry, status: 'delivered', deliveredAt: this.now() }
    delete item.entry.lastError
    this.changed(item)
    await this.persist(item)
  }

  /**
   * Records a failed attempt and schedules the next one with backoff. `refused`: the recipient's
   * tab itself refused the message. It may be passing (a full disk there), so it is retried, but
   * after MAX_REFUSALS of them (minutes of backoff), or once the message is too old for any
   * recipient to take, the message is given up: status 'refused', never retried.
   */
  async markFailed(id: string, error: string, refused = false): Promise<void> {
    const item = this.items.get(id)
    if (item === undefined || item.entry.status !== 'queued') return
    const attempts = item.entry.attempts + 1
    const refusals = item.entry.refusals + (refused ? 1 : 0)
    const tooOld = this.now() - item.entry.createdAt > MAX_MESSAGE_AGE_MS
    const giveUp = refusals >= MAX_REFUSALS || tooOld
    item.entry = {
      ...item.entry,
      attempts,
      refusals,
      nextAttemptAt: this.now() + backoffDelay(attempts, this.random),
      lastError: (tooOld ? `too old to deliver (${error})` : error).slice(0, 200),
      ...(giveUp ? { status: 'refused' as const } : {}),
    }
    if (giveUp) log.warn(`gave up message ${id} to ${item.entry.to}: ${item.entry.lastError}`)
    this.changed(item)
    await this.persist(item)
  }

  async remove(id: string): Promise<void> {
    await this.ready
    if (!this.items.delete(id)) return
    await this.write(() => this.storage.remove(['outbox', id]))
  }

  /** Removes delivered entries delivered before `before` (ms); returns how many. */
  async prune(before: number): Promise<number> {
    await this.ready
    const old = [...this.items.values()].filter(
      (i) => i.entry.status === 'delivered' && (i.entry.deliveredAt ?? 0) < before,
    )
    for (const i of old) await this.remove(i.entry.id)
    return old.length
  }

  /**
   * Merges what storage holds (entries another tab of this profile enqueued or delivered).
   * Never moves an entry back from delivered to queued.
   */
  async refresh(): Promise<void> {
    const chunks = await this.storage.loadRange(['outbox'])
    for (const { key, data } of chunks) {
      const item = readOutboxRecord(parse(data))
      if (item === undefined || item.entry.id !== key[1]) {
        log.warn(`skipping a damaged outbox record ${key.join('/')}`)
        continue
      }
      const known = this.items.get(item.entry.id)
      if (known === undefined) {
        this.items.set(item.entry.id, item)
        if (this.loaded) this.changed(item)
      } else if (known.entry.status === 'queued' && item.entry.status !== 'queued') {
        known.entry = item.entry
        this.changed(known)
      }
    }
  }

  private sorted(): OutboxItem[] {
    return [...this.items.values()].sort(
      (a, b) => a.entry.createdAt - b.entry.createdAt || (a.entry.id < b.entry.id ? -1 : 1),
    )
  }

  private changed(item: OutboxItem): void {
    this.events.emit('changed', { ...item.entry })
  }

  private persist(item: OutboxItem): Promise<void> {
    const e = item.entry
    const record: OutboxRecord = {
      ...storedMessage(item.message),
      attempts: e.attempts,
      refusals: e.refusals,
      nextAttemptAt: e.nextAttemptAt,
      status: e.status,
      ...(e.deliveredAt !== undefined ? { deliveredAt: e.deliveredAt } : {}),
      ...(e.lastError !== undefined ? { lastError: e.lastError } : {}),
    }
    const bytes = json(record)
    return this.write(() => this.storage.save(['outbox', e.id], bytes))
  }

  /** Writes go to storage in the order they were made (the last state of an entry wins). */
  private write(op: () => Promise<void>): Promise<void> {
    const p = this.writing.then(op)
    this.writing = p.catch(() => undefined)
    return p
  }
}

function readOutboxRecord(v: unknown): OutboxItem | undefined {
  const message = readMessage(v)
  if (message === undefined) return undefined
  const r = v as Partial<OutboxRecord>
  if (r.status !== 'queued' && r.status !== 'delivered' && r.status !== 'refused') return undefined
  if (typeof r.attempts !== 'number' || typeof r.nextAttemptAt !== 'number') return undefined
  const entry: OutboxEntry = {
    id: message.id,
    to: message.to,
    kind: message.kind,
    payload: JSON.parse(message.payload) as JsonValue,
    createdAt: message.createdAt,
    attempts: r.attempts,
    refusals: typeof r.refusals === 'number' ? r.refusals : 0,
    nextAttemptAt: r.nextAttemptAt,
    status: r.status,
  }
  if (typeof r.deliveredAt === 'number') entry.deliveredAt = r.deliveredAt
  if (typeof r.lastError === 'string') entry.lastError = r.lastError
  return { entry, message }
}

// ---- inbox ---------------------------------------------------------------------------------------

export interface InboxEntry {
  id: string
  from: string
  to: string
  kind: string
  payload: JsonValue
  createdAt: number
  receivedAt: number
}

interface InboxRecord extends StoredMessage {
  receivedAt: number
}

interface Seen {
  from: string
  at: number
}

export interface InboxOptions {
  storage: StorageAdapter
  now?: () => number
}

export class Inbox {
  readonly events = new Emitter<{ message: InboxEntry }>()
  readonly ready: Promise<void>
  private readonly entries = new Map<string, InboxEntry>()
  private readonly seen = new Map<string, Seen>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly storage: StorageAdapter
  private readonly now: () => number

  constructor(opts: InboxOptions) {
    this.storage = opts.storage
    this.now = opts.now ?? Date.now
    this.ready = this.load()
  }

  /**
   * Stores a message unless its id was seen before ('duplicate'). Throws IdentityError
   * (BAD_SIGNATURE) for a message `from` did not sign, and OrreryError FORBIDDEN for one too old,
   * dated in the future, or reusing another sender's id. Resolves once the message is on disk.
   */
  async accept(message: OutboxMessage): Promise<'new' | 'duplicate'> {
    await this.ready
    if (!verifyMessage(message)) {
      throw new IdentityError('BAD_SIGNATURE', 'the message is not signed by its sender')
    }
    const now = this.now()
    if (message.createdAt < now - MAX_MESSAGE_AGE_MS)
      throw new OrreryError('FORBIDDEN', 'the message is too old to be accepted')
    if (message.createdAt > now + MAX_CLOCK_SKEW_MS)
      throw new OrreryError('FORBIDDEN', 'the message is dated in the future')
    // one acceptance per id at a time: the second of two concurrent copies is a duplicate
    const previous = this.locks.get(message.id) ?? Promise.resolve()
    const run = previous.catch(() => undefined).then(() => this.acceptOnce(message, now))
    this.locks.set(message.id, run)
    try {
      return await run
    } finally {
      if (this.locks.get(message.id) === run) this.locks.delete(message.id)
    }
  }

  get(id: string): InboxEntry | undefined {
    const e = this.entries.get(id)
    return e && { ...e }
  }

  /** Accepted messages still kept, oldest first. */
  list(): InboxEntry[] {
    return [...this.entries.values()]
      .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
      .map((e) => ({ ...e }))
  }

  /** Whether this id was accepted (and is still remembered). */
  hasSeen(id: string): boolean {
    return this.seen.has(id)
  }

  /** Forgets a message's contents; its id stays remembered, so a resend is still a duplicate. */
  async remove(id: string): Promise<void> {
    await this.ready
    const e = this.entries.get(id)
    if (e === undefined) return
    const seen = this.seen.get(id) ?? { from: e.from, at: e.receivedAt }
    await this.storage.save(['inbox-seen', id], json(seen))
    await this.storage.remove(['inbox', id])
    this.entries.delete(id)
  }

  /** Merges what storage holds (messages another tab of this profile accepted). */
  async refresh(): Promise<void> {
    for (const { key, data } of await this.storage.loadRange(['inbox'])) {
      const e = readInboxRecord(parse(data))
      if (e === undefined || e.id !== key[1]) {
        log.warn(`skipping a damaged inbox record ${key.join('/')}`)
        continue
      }
      this.entries.set(e.id, e)
      if (!this.seen.has(e.id)) this.seen.set(e.id, { from: e.from, at: e.receivedAt })
    }
  }

  private async load(): Promise<void> {
    const cutoff = this.now() - REMEMBER_MS
    for (const { key, data } of await this.storage.loadRange(['inbox-seen'])) {
      const id = key[1] as string
      const s = readSeen(parse(data))
      if (s !== undefined && s.at >= cutoff) {
        this.seen.set(id, s)
        continue
      }
      await this.storage.remove(key).catch((e: unknown) => {
        log.warn(`could not forget an old inbox id: ${describeError(e)}`)
      })
    }
    await this.refresh()
  }

  private async acceptOnce(m: OutboxMessage, now: number): Promise<'new' | 'duplicate'> {
    const seen = this.seen.get(m.id) ?? (await this.loadSeen(m.id))
    if (seen !== undefined) {
      if (seen.from !== m.from) throw new OrreryError('FORBIDDEN', 'another sender used this id')
      return 'duplicate'
    }
    const record: InboxRecord = { ...storedMessage(m), receivedAt: now }
    const mark: Seen = { from: m.from, at: now }
    // the entry first: crashing before the marker leaves the entry, which counts as seen
    await this.storage.save(['inbox', m.id], json(record))
    await this.storage.save(['inbox-seen', m.id], json(mark))
    const entry = readInboxRecord(record) as InboxEntry
    this.entries.set(m.id, entry)
    this.seen.set(m.id, mark)
    this.events.emit('message', { ...entry })
    return 'new'
  }

  /** Another tab sharing this storage may have accepted the id. */
  private async loadSeen(id: string): Promise<Seen | undefined> {
    const marker = await this.storage.load(['inbox-seen', id])
    const fromMarker = marker && readSeen(parse(marker))
    if (fromMarker !== undefined) return fromMarker
    const stored = await this.storage.load(['inbox', id])
    const e = stored && readInboxRecord(parse(stored))
    return e ? { from: e.from, at: e.receivedAt } : undefined
  }
}

function readSeen(v: unknown): Seen | undefined {
  if (v === null || typeof v !== 'object') return undefined
  const s = v as Partial<Seen>
  return typeof s.from === 'string' && typeof s.at === 'number'
    ? { from: s.from, at: s.at }
    : undefined
}

function readInboxRecord(v: unknown): InboxEntry | undefined {
  const m = readMessage(v)
  const receivedAt = (v as Partial<InboxRecord> | undefined)?.receivedAt
  if (m === undefined || typeof receivedAt !== 'number') return undefined
  return {
    id: m.id,
    from: m.from,
    to: m.to,
    kind: m.kind,
    payload: JSON.parse(m.payload) as JsonValue,
    createdAt: m.createdAt,
    receivedAt,
  }
}
