/**
 * Presence in one open document: who else has it open, their names and selections, and what this
 * tab tells them about itself. It rides on the document's sync sessions (PRESENCE frames) and is
 * sent only to the peers the document syncs with, which showed they hold its key: knowing a
 * document's id is not enough to see who is in it.
 *
 * - What this tab says goes out at most every `throttleMs` (a fast typist moves the cursor on
 *   every keystroke), always ending with the latest state, and in a task after the flush that
 *   sends the keystroke itself, so a peer usually has the character a cursor names.
 * - A tab repeats its state every `heartbeatMs`; a peer not heard from for `ttlMs` is gone (a tab
 *   that crashed never says goodbye). A session that ends takes its tab's presence with it.
 * - Each state carries a sequence number per session: a late, older state never wins.
 */
import { Emitter } from '../emitter'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import { scheduleTask } from '../schedule'
import type { SyncPeer } from '../sync/peer'
import { checkPresenceState, type PresenceSelection, type PresenceState } from './presence-state'

const log = createLogger('presence')

export interface PresenceTiming {
  throttleMs: number
  heartbeatMs: number
  ttlMs: number
}

export const DEFAULT_PRESENCE_TIMING: PresenceTiming = {
  throttleMs: 30,
  heartbeatMs: 10_000,
  ttlMs: 30_000,
}

/** What this tab says about itself in a document. */
export interface LocalPresence {
  name: string
  /**
   * where its selection is; a function is asked only when a state goes out (at most once per
   * throttle), so an editor need not turn its selection into cursors on every keystroke
   */
  selection?: PresenceSelection | (() => PresenceSelection | undefined)
}

/** Another tab in the document, as it last said. */
export interface PresenceEntry {
  /** the sync session's key (one per remote tab and connection) */
  session: string
  /** the remote tab's libp2p peer id */
  peer: string
  /** the person (verified: their tab certificate) */
  identity: string
  /** the name they chose ('' when none): a space's member record is more trustworthy */
  name: string
  selection?: PresenceSelection
  /** when their latest state arrived (ms since epoch) */
  at: number
}

interface Heard {
  seq: number
  entry: PresenceEntry
  expiresAt: number
}

export class DocPresence {
  private local: LocalPresence | undefined
  private seq = 0
  private readonly heard = new Map<SyncPeer, Heard>()
  private readonly events = new Emitter<{ change: readonly PresenceEntry[] }>()
  private lastSentAt = -Infinity
  private sendTimer: ReturnType<typeof setTimeout> | undefined
  private sendQueued = false
  private heartbeat: ReturnType<typeof setTimeout> | undefined
  private expiry: ReturnType<typeof setTimeout> | undefined
  private closed = false

  constructor(
    readonly docId: DocId,
    /** the peers the document syncs with now */
    private readonly peers: () => Iterable<SyncPeer>,
    private readonly timing: PresenceTiming = DEFAULT_PRESENCE_TIMING,
    private readonly now: () => number = Date.now,
  ) {}

  /** The other tabs here now (not this one), oldest arrival first. */
  list(): PresenceEntry[] {
    return [...this.heard.values()].map((h) => h.entry)
  }

  /** `fn` hears the list after every change; returns the unsubscribe. */
  onChange(fn: (list: readonly PresenceEntry[]) => void): () => void {
    return this.events.on('change', fn)
  }

  /** What this tab says about itself from now on (undefined: it leaves). */
  set(local: LocalPresence | undefined): void {
    if (this.closed) return
    const wasHere = this.local !== undefined
    this.local = local
    if (local === undefined) {
      if (wasHere) this.sendNow()
      return
    }
    this.queueSend()
  }

  /** A peer the document now syncs with hears where we are at once. */
  attached(peer: SyncPeer): void {
    if (this.closed || this.local === undefined) return
    this.seq++ // it may have heard an earlier state of ours on this session before a detach
    const state = this.state()
    if (checkPresenceState(state).ok) this.sendTo(peer, state)
  }

  /** A peer the document no longer syncs with: its tab is not here any more. */
  detached(peer: SyncPeer): void {
    if (this.heard.delete(peer)) this.changed()
  }

  /** A PRESENCE frame from a peer the document syncs with (the repo checked that). */
  receive(peer: SyncPeer, state: PresenceState): void {
    if (this.closed || peer.identity === undefined) return
    const before = this.heard.get(peer)
    if (before !== undefined && state.seq <= before.seq) return
    if (!state.here) {
      if (before !== undefined) {
        this.heard.delete(peer)
        this.changed()
      }
      return
    }
    const at = this.now()
    const entry: PresenceEntry = {
      session: peer.key,
      peer: peer.remotePeer,
      identity: peer.identity,
      name: state.name,
      at,
      ...(state.selection === undefined ? {} : { selection: state.selection }),
    }
    this.heard.set(peer, { seq: state.seq, entry, expiresAt: at + this.timing.ttlMs })
    this.armExpiry()
    this.changed()
  }

  /** The document closes: peers hear that this tab left. */
  close(): void {
    if (this.closed) return
    if (this.local !== undefined) {
      this.local = undefined
      this.sendNow()
    }
    this.closed = true
    clearTimeout(this.sendTimer)
    clearTimeout(this.heartbeat)
    clearTimeout(this.expiry)
    this.heard.clear()
  }

  private state(): PresenceState {
    const local = this.local
    if (local === undefined) return { seq: this.seq, here: false, name: '' }
    let selection: PresenceSelection | undefined
    try {
      selection = typeof local.selection === 'function' ? local.selection() : local.selection
    } catch (e) {
      log.warn('the selection could not be read', e)
    }
    return {
      seq: this.seq,
      here: true,
      name: local.name,
      ...(selection === undefined ? {} : { selection }),
    }
  }

  /** Sends in a later task, no sooner than `throttleMs` after the last send. */
  private queueSend(): void {
    if (this.sendQueued || this.sendTimer !== undefined) return
    const wait = this.lastSentAt + this.timing.throttleMs - this.now()
    if (wait > 0) {
      this.sendTimer = setTimeout(() => {
        this.sendTimer = undefined
        this.sendNow()
      }, wait)
      return
    }
    this.sendQueued = true
    scheduleTask(() => {
      this.sendQueued = false
      this.sendNow()
    })
  }

  private sendNow(): void {
    if (this.closed) return
    this.seq++
    this.lastSentAt = this.now()
    const peers = [...this.peers()].filter((p) => p.mirror !== true && p.sendPresence !== undefined)
    // nobody to tell: the selection is not even turned into cursors
    const state = peers.length === 0 ? undefined : this.state()
    const checked = state === undefined ? undefined : checkPresenceState(state)
    if (checked !== undefined && !checked.ok) log.warn(`not sending: ${checked.error.message}`)
    else if (state !== undefined) for (const peer of peers) this.sendTo(peer, state)
    clearTimeout(this.heartbeat)
    this.heartbeat =
      this.local === undefined
        ? undefined
        : setTimeout(() => this.sendNow(), this.timing.heartbeatMs)
  }

  private sendTo(peer: SyncPeer, state: PresenceState): void {
    if (peer.mirror === true) return // an always-on mirror is nobody
    peer.sendPresence?.(this.docId, state)
  }

  private armExpiry(): void {
    if (this.expiry !== undefined) return
    let next = Infinity
    for (const h of this.heard.values()) next = Math.min(next, h.expiresAt)
    if (next === Infinity) return
    this.expiry = setTimeout(
      () => {
        this.expiry = undefined
        const now = this.now()
        let gone = false
        for (const [peer, h] of this.heard) {
          if (h.expiresAt > now) continue
          this.heard.delete(peer)
          gone = true
        }
        if (gone) this.changed()
        this.armExpiry()
      },
      Math.max(0, next - this.now()),
    )
  }

  private changed(): void {
    this.events.emit('change', this.list())
  }
}
