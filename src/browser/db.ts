/**
 * The browser profile's IndexedDB database (through Dexie), shared by every tab of the profile
 * and by the service worker.
 *   kv        document chunks and records (the StorageAdapter's key space)
 *   settings  the identity, this profile's id and other small records
 *   blocks    verified content-addressed blocks of apps (BlockStore)
 *   pins      installed apps: a root (manifest CID) and every block it needs
 *   appDocs   which documents belong to which app (app key = publisher + name)
 * Transactions use 'relaxed' durability: a committed write survives a tab or browser crash (it
 * is with the operating system) but is not fsynced on every change. Dexie's observability layer
 * (liveQuery, unused here) is switched off: it posted every committed transaction to a
 * BroadcastChannel, a message per change that no one read.
 */
import Dexie, { type Table } from 'dexie'

export interface KvRow {
  key: string
  data: Uint8Array
}

export interface SettingRow {
  key: string
  value: unknown
}

export interface BlockRow {
  cid: string
  bytes: Uint8Array
  size: number
  storedAt: number
}

export interface PinRow {
  root: string
  name: string
  cids: string[]
  pinnedAt: number
}

export interface AppDocRow {
  appKey: string
  docId: string
  addedAt: number
}

export class OrreryDb extends Dexie {
  kv!: Table<KvRow, string>
  settings!: Table<SettingRow, string>
  blocks!: Table<BlockRow, string>
  pins!: Table<PinRow, string>
  appDocs!: Table<AppDocRow, [string, string]>

  constructor(name = 'orrery') {
    super(name, { chromeTransactionDurability: 'relaxed', cache: 'disabled' })
    this.unuse({ stack: 'dbcore', name: 'Observability' })
    this.version(1).stores({ kv: 'key', settings: 'key' })
    this.version(2).stores({
      blocks: 'cid',
      pins: 'root',
      appDocs: '[appKey+docId], appKey, addedAt',
    })
  }
}
