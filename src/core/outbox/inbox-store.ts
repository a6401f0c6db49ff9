/**
 * The persistent inbox of identity-addressed messages (see service.ts for receiving).
 *
 * One record per accepted message under ['inbox', id], and a marker ['inbox-seen', id] that
 * outlives the record (`remove`) so a resent message is recognised as a duplicate for
 * `REMEMBER_MS`. Messages older than `MAX_MESSAGE_AGE_MS` (or dated more than
 * `MAX_CLOCK_SKEW_MS` ahead) are refused, so a replay can never outlive its marker.
 *
 * It loads its state from storage on construction (`await inbox.ready`). Tabs of one profile
 * share storage: `refresh()` merges what other tabs wrote, and `accept` checks storage, not only
 * memory, before calling a message new.
 */
import { Emitter } from '../emitter'
import { describeError, IdentityError, OrreryError } from '../errors'
import { createLogger, type Logger } from '../log'
import type { StorageAdapter } from '../storage/types'
import type { JsonValue } from '../values'
import { verifyMessage, type OutboxMessage } from './messages'
import { json, parse, readMessage, storedMessage, type StoredMessage } from './stored-message'

const DAY = 24 * 3600 * 1000
export const MAX_MESSAGE_AGE_MS = 30 * DAY
export const MAX_CLOCK_SKEW_MS = DAY
/** how long an accepted id is remembered after it arrived, even once its entry is removed */
export const REMEMBER_MS = MAX_MESSAGE_AGE_MS + MAX_CLOCK_SKEW_MS

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
  /** the outbox service's logger (default: one of our own) */
  log?: Logger
}

export class Inbox {
  readonly events = new Emitter<{ message: InboxEntry }>()
  readonly ready: Promise<void>
  private readonly entries = new Map<string, InboxEntry>()
  private readonly seen = new Map<string, Seen>()
  private readonly locks = new Map<string, Promise<unknown>>()
  private readonly storage: StorageAdapter
  private readonly now: () => number
  private readonly log: Logger

  constructor(opts: InboxOptions) {
    this.storage = opts.storage
    this.now = opts.now ?? Date.now
    this.log = opts.log ?? createLogger('outbox')
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
        this.log.warn(`skipping a damaged inbox record ${key.join('/')}`)
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
        this.log.warn(`could not forget an old inbox id: ${describeError(e)}`)
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
