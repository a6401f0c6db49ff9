import {
  checkKey,
  joinKey,
  lastOpPerKey,
  splitKey,
  type StorageAdapter,
  type StorageChunk,
  type StorageKey,
  type StorageOp,
} from './types'

/** In-memory storage: Node tests, in-process peers and the relay. */
export class MemoryStorageAdapter implements StorageAdapter {
  private readonly data = new Map<string, Uint8Array>()

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    return this.data.get(joinKey(key))
  }

  async save(key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key)
    this.data.set(joinKey(key), data.slice())
  }

  async remove(key: StorageKey): Promise<void> {
    checkKey(key)
    this.data.delete(joinKey(key))
  }

  /** All or nothing: every key is checked before anything is applied. */
  async batch(ops: readonly StorageOp[]): Promise<void> {
    for (const op of lastOpPerKey(ops)) {
      if (op.type === 'put') this.data.set(joinKey(op.key), op.data.slice())
      else this.data.delete(joinKey(op.key))
    }
  }

  /** Memory applies a batch before it returns anyway. */
  batchNow(ops: readonly StorageOp[]): Promise<void> {
    return this.batch(ops)
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const p = joinKey(prefix) + '/'
    const out: StorageChunk[] = []
    for (const [k, v] of this.data) if (k.startsWith(p)) out.push({ key: splitKey(k), data: v })
    return out
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    const p = joinKey(prefix) + '/'
    return [...this.data.keys()].filter((k) => k.startsWith(p)).map(splitKey)
  }

  async removeRange(prefix: StorageKey): Promise<void> {
    const p = joinKey(prefix) + '/'
    for (const k of [...this.data.keys()]) if (k.startsWith(p)) this.data.delete(k)
  }

  /** Total bytes held (for tests and status). */
  get bytes(): number {
    let n = 0
    for (const v of this.data.values()) n += v.length
    return n
  }

  get keys(): string[] {
    return [...this.data.keys()]
  }
}
