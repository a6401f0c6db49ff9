/**
 * The persistent outbox of identity-addressed messages (see service.ts for delivery).
 *
 * One record per message under ['outbox', id], written before `enqueue` resolves, so a queued
 * message survives a tab close or reload. Failed attempts are retried with exponential backoff
 * (backoff.ts: 1 s, 2 s, 4 s … capped at 5 min, each shortened by up to 20 % at random).
 *
 * It loads its state from storage on construction (`await outbox.ready`). Tabs of one profile
 * share storage: `refresh()` merges what other tabs wrote.
 */
import { Emitter } from '../emitter'
import type { Identity } from '../identity'
import { createLogger, type Logger } from '../log'
import type { StorageAdapter } from '../storage/types'
import type { JsonValue } from '../values'
import { backoffDelay } from './backoff'
import { MAX_MESSAGE_AGE_MS } from './inbox-store'
import { signMessage, type OutboxMessage } from './messages'
import { json, parse, readMessage, storedMessage, type StoredMessage } from './stored-message'

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
  /** the outbox service's logger (default: one of our own) */
  log?: Logger
}

export class Outbox {
  readonly events = new Emitter<{ changed: OutboxEntry }>()
  readonly ready: Promise<void>
  private readonly items = new Map<string, OutboxItem>()
  private readonly storage: StorageAdapter
  private readonly identity: Promise<Identity>
  private readonly now: () => number
  private readonly random: () => number
  private readonly log: Logger
  private writing: Promise<unknown> = Promise.resolve()
  private loaded = false

  constructor(opts: OutboxOptions) {
    this.storage = opts.storage
    this.identity = Promise.resolve(opts.identity)
    this.identity.catch(() => undefined)
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? Math.random
    this.log = opts.log ?? createLogger('outbox')
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
    if (giveUp) this.log.warn(`gave up message ${id} to ${item.entry.to}: ${item.entry.lastError}`)
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
        this.log.warn(`skipping a damaged outbox record ${key.join('/')}`)
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
