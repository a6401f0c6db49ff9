import { checkKey, joinKey, splitKey, type StorageAdapter, type StorageChunk, type StorageKey } from './types'

/** In-memory storage: Node tests, in-process peers and the relay. */
export class MemoryStorageAdapter implements StorageAdapter {
  private readonly data = new Map<string, Uint8Array>()

  load(key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    return Promise.resolve(this.data.get(joinKey(key)))
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    checkKey(key)
    this.data.set(joinKey(key), data.slice())
    return Promise.resolve()
  }

  remove(key: StorageKey): Promise<void> {
    checkKey(key)
    this.data.delete(joinKey(key))
    return Promise.resolve()
  }

  loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    const p = joinKey(prefix) + '/'
    const out: StorageChunk[] = []
    for (const [k, v] of this.data) if (k.startsWith(p)) out.push({ key: splitKey(k), data: v })
    return Promise.resolve(out)
  }

  removeRange(prefix: StorageKey): Promise<void> {
    const p = joinKey(prefix) + '/'
    for (const k of [...this.data.keys()]) if (k.startsWith(p)) this.data.delete(k)
    return Promise.resolve()
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
