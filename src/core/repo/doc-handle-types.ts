/** What a `DocHandle` reports and is given (doc-handle.ts). */
import type { DocId } from '../ids'
import type { SyncPeer } from '../sync/peer'
import type { TabBus } from '../tabs/bus'
import type { DocHandle } from './doc-handle'
import type { Confirmation } from './doc-state'
import type { EquivocationLog } from './equivocation'
import type { Governance } from './governance'
import type { SigStore } from './sigs'
import type { WriteGate } from './write-judge'
import type { PresenceTiming } from '../presence/doc-presence'

export interface DocStatus {
  id: DocId
  heads: string[]
  /** chunks not yet on disk */
  unsaved: number
  saveError: string | undefined
  /** remote peers this document is syncing with */
  peers: string[]
  /** per remote peer, when we last heard about this document from it (ms since epoch) */
  lastSync: Record<string, number>
  /** changes made here that no peer has confirmed having yet ("N changes waiting") */
  unsynced: number
}

/** What a handle tells the repo, which connects it to storage meta, the tab bus and the views. */
export interface DocHandleEvents extends Record<string, unknown> {
  /** something `status()` or `syncFacts()` reports changed */
  status: DocHandle
  /** the document's heads moved (a local or remote change) */
  changed: DocHandle
  /** the count of changes no peer confirmed yet changed (the repo keeps it across reloads) */
  unsynced: number
  /** a peer sent us something about this document */
  synced: SyncPeer
  /** a peer confirmed having every change of ours (the repo keeps it across reloads) */
  confirmed: Confirmation
}

export interface DocHandleContext {
  tabId: string
  bus: TabBus | undefined
  /** local changes not yet confirmed by a peer, as recorded before a reload */
  unsynced?: number
  /** the last confirmation of our heads by a peer, as recorded before a reload */
  confirmation?: Confirmation
  /** the rules of the space this document belongs to (signed writes); none for a free document */
  governance?: Governance
  /** a free document's write key (who may change it), looked up as it is now */
  writes?: WriteGate
  /** signatures: every change's in a governed document, the writer's over heads in a free one */
  sigs?: SigStore
  /** where equivocations found in this (governed) document are recorded */
  equivocations?: EquivocationLog
  /** presence's throttle, heartbeat and expiry (tests shorten them) */
  presenceTiming?: PresenceTiming
}
