import type { OrreryError } from '../errors'
import type { DocId } from '../ids'
import type { PresenceState } from '../presence/presence-state'

/** What the repo needs from a network session with one remote peer. */
export interface SyncPeer {
  /** unique per session (a reconnect is a new session) */
  readonly key: string
  /** the remote tab's libp2p peer id */
  readonly remotePeer: string
  /** this tab's libp2p peer id */
  readonly localPeer: string
  /** the remote person's identity (did:key), once their tab certificate verified */
  readonly identity: string | undefined
  /**
   * For a document both sides announced, only one side starts Automerge's sync (two starts make
   * a peer that has everything send a whole document twice to a peer that has nothing): this one
   * when true. Decided by comparing peer ids.
   */
  readonly initiator: boolean
  /**
   * An always-on mirror's seat (mirror/mirror-sync.ts), not a person's tab: what it brings is
   * judged like a peer's changes, but it confirms nothing as a peer ("synced" stays a person's)
   */
  readonly mirror?: boolean
  /** shows the peer that we hold these documents' keys (once per document and key) */
  sendInterest(ids: readonly DocId[]): void
  /**
   * asks the session to pull a sync message for this document when it can send; `madeHere`:
   * whether this tab made changes since the last wake (false: only received ones)
   */
  wake(docId: DocId, madeHere?: boolean): void
  /**
   * tells the peer where this tab is in a document (presence/doc-presence.ts); absent where the
   * session cannot carry presence (a mirror's seat; an older sync version drops it)
   */
  sendPresence?(docId: DocId, state: PresenceState): void
  /** the peer sent something invalid: close the session (logged), keep everything else */
  fault(error: OrreryError): void
}
