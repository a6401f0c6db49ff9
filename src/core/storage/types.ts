/**
 * The storage interface every backend implements (Dexie/IndexedDB in the browser, memory in
 * tests and the relay), shaped like automerge-repo's StorageAdapterInterface: keys are arrays of
 * short strings, values are bytes, and prefixes select ranges.
 *
 * Errors: implementations throw StorageError with code STORAGE_FULL when the quota is exhausted
 * and STORAGE_FAILED otherwise; callers keep what they failed to write and retry.
 */
export type StorageKey = readonly string[]

export interface StorageChunk {
  key: StorageKey
  data: Uint8Array
}

export interface StorageAdapter {
  load(key: StorageKey): Promise<Uint8Array | undefined>
  save(key: StorageKey, data: Uint8Array): Promise<void>
  remove(key: StorageKey): Promise<void>
  loadRange(prefix: StorageKey): Promise<StorageChunk[]>
  removeRange(prefix: StorageKey): Promise<void>
}

const KEY_PART = /^[A-Za-z0-9._-]{1,128}$/

/** Key parts are restricted so every backend can join them with "/" unambiguously. */
export function checkKey(key: StorageKey): void {
  if (key.length === 0) throw new Error('empty storage key')
  for (const part of key) {
    if (!KEY_PART.test(part)) throw new Error(`bad storage key part ${JSON.stringify(part)}`)
  }
}

export const joinKey = (key: StorageKey): string => key.join('/')
export const splitKey = (s: string): string[] => s.split('/')
