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

/** One write of a batch: a key stored, or a key removed. */
export type StorageOp =
  { type: 'put'; key: StorageKey; data: Uint8Array } | { type: 'remove'; key: StorageKey }

export interface StorageAdapter {
  load(key: StorageKey): Promise<Uint8Array | undefined>
  save(key: StorageKey, data: Uint8Array): Promise<void>
  remove(key: StorageKey): Promise<void>
  /**
   * Applies every op, in order, all or nothing (one IndexedDB transaction): a snapshot and the
   * removal of the chunks it replaces, or the writes a flush made together.
   */
  batch(ops: readonly StorageOp[]): Promise<void>
  /**
   * The same, but handed to the disk before this call returns, ahead of batches still waiting
   * for their turn: for the last moments of a page (`pagehide`), when no later task may run.
   * Backends that cannot start a write synchronously leave it out; callers fall back to `batch`.
   * Resolves when the ops are on disk.
   */
  batchNow?(ops: readonly StorageOp[]): Promise<void>
  loadRange(prefix: StorageKey): Promise<StorageChunk[]>
  /** The keys under a prefix without their values (cheap); `loadRange` serves where absent. */
  listKeys?(prefix: StorageKey): Promise<StorageKey[]>
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

/** The keys under `prefix`, from `listKeys` where the adapter has it. */
export async function listKeys(s: StorageAdapter, prefix: StorageKey): Promise<StorageKey[]> {
  if (s.listKeys !== undefined) return await s.listKeys(prefix)
  return (await s.loadRange(prefix)).map((c) => c.key)
}

/** The ops of a batch with only the last op of each key left (their order no longer matters). */
export function lastOpPerKey(ops: readonly StorageOp[]): StorageOp[] {
  const byKey = new Map<string, StorageOp>()
  for (const op of ops) {
    checkKey(op.key)
    const k = joinKey(op.key)
    byKey.delete(k) // re-inserted last: keeps the survivors in the order they were last written
    byKey.set(k, op)
  }
  return [...byKey.values()]
}
