/**
 * The browser profile's IndexedDB database (through Dexie), shared by every tab of the profile.
 *   kv        document chunks and records (the StorageAdapter's key space)
 *   settings  the identity, this profile's id and other small records
 * Transactions use 'relaxed' durability: a committed write survives a tab or browser crash (it
 * is with the operating system) but is not fsynced on every change.
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

export class OrreryDb extends Dexie {
  kv!: Table<KvRow, string>
  settings!: Table<SettingRow, string>

  constructor(name = 'orrery') {
    super(name, { chromeTransactionDurability: 'relaxed', cache: 'disabled' })
    this.version(1).stores({ kv: 'key', settings: 'key' })
  }
}
