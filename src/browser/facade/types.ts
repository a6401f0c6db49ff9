/**
 * The data types of `window.orrery` (re-exported by `../orrery`), and what the facade's parts
 * (`./*.ts`) need of the facade itself: the booted peer, the local store and the event emitter.
 */
import type { DocStates } from '../../core/doc-states'
import type { Emitter } from '../../core/emitter'
import type { DocStatus } from '../../core/repo/doc-handle'
import type { DocSyncState, SyncSummary } from '../../core/repo/doc-state'
import type { DocMeta } from '../../core/repo/repo'
import type { Role } from '../../core/spaces/model'
import type { StateApi } from '../../core/state'
import type { Refusal, Release } from '../apps/follows'
import type { Booted, LocalPeer } from '../boot'
import type { RelayState } from '../network'

export interface BootProgress {
  step: string
  done: number
  total: number
  error?: string
}

export interface PeerStatus {
  relay: RelayState
  online: boolean
  /** remote tabs we sync with over direct connections */
  peers: number
  /** connected peers that run another version of Orrery (`connections()` names them) */
  otherVersions: number
  /** changes made here that are not on disk yet */
  unsaved: number
  /** changes made here that no peer has confirmed yet ("N changes waiting"), in every document
   * this tab knows: the sum of the document list's counts */
  unsynced: number
  /** that count again, and the open documents by sync state (what "all synced" may claim) */
  sync: SyncSummary
  /** bytes this origin uses and may use (navigator.storage.estimate), when known */
  storage?: { usage: number; quota: number; persisted: boolean }
  saveError: string | undefined
}

export interface OrreryEvents extends Record<string, unknown> {
  boot: BootProgress
  status: PeerStatus
  docs: undefined
  doc: DocStatus
  /** one document's sync state changed (see docs.state) */
  'doc-state': DocSyncState
  /** install prompt or update availability changed */
  pwa: undefined
  /** the outbox or the inbox changed */
  messages: undefined
  /** a followed app has a new version installed (the app host swaps it in unless pinned) */
  release: Release
  /** a version of a followed app was refused (not signed by the followed key, or damaged) */
  refused: Refusal
  /** the list of followed apps changed */
  follows: undefined
}

export interface SpaceSummary {
  id: string
  name: string
  members: { id: string; role: Role; name?: string }[]
  removed: string[]
  docs: string[]
}

/** A document this tab knows, with its count of changes waiting and, when open, its state. */
export interface DocListEntry extends DocMeta {
  /** local changes no peer has confirmed (the count the top bar sums) */
  waiting: number
  /** its sync state, when it is open in this tab */
  state?: DocSyncState
}

/** The local store: documents, the state API and spaces work before the network is up. */
export interface Local {
  repo: LocalPeer['repo']
  state: StateApi
  spaces: LocalPeer['spaces']
  docStates: DocStates
}

/** What the facade's parts need of the facade. */
export interface FacadeCore {
  readonly events: Emitter<OrreryEvents>
  /** the booted peer, once `ready` (rejects NOT_READY when it did not start) */
  up(): Promise<Booted>
  /** the local store, once it is up */
  local(): Promise<Local>
  /** the booted peer, if it is up now */
  booted(): Booted | undefined
  /** the local store, if it is up now */
  loaded(): Local | undefined
}
