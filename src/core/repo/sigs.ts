/**
 * Signatures of a document's changes: change hash → (author key, signature). They are kept next
 * to the document (chunks of 128-byte records under [docId, 'g', sha256]) so they can travel with
 * the changes to other peers, across as many hops as it takes, and be checked at every hop.
 * Only verified signatures are ever added.
 */
import { bytesToHex, concatBytes, hexToBytes, sha256Hex } from '../bytes'
import { describeError } from '../errors'
import { createLogger } from '../log'
import type { StorageAdapter, StorageKey } from '../storage/types'
import type { ChangeSignature } from '../sync/messages'

const log = createLogger('sigs')
const RECORD = 128
const MERGE_AFTER = 32

export class SigStore {
  private readonly sigs = new Map<string, ChangeSignature>()
  private readonly chunkKeys: StorageKey[] = []
  private unsaved: ChangeSignature[] = []
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly storage: StorageAdapter,
    private readonly docId: string,
  ) {}

  get size(): number {
    return this.sigs.size
  }

  async load(): Promise<void> {
    for (const c of await this.storage.loadRange([this.docId, 'g'])) {
      this.chunkKeys.push(c.key)
      for (let at = 0; at + RECORD <= c.data.length; at += RECORD) {
        const r = c.data.subarray(at, at + RECORD)
        const sig = { hash: r.slice(0, 32), author: r.slice(32, 64), signature: r.slice(64, 128) }
        this.sigs.set(bytesToHex(sig.hash), sig)
      }
    }
  }

  get(hashHex: string): ChangeSignature | undefined {
    return this.sigs.get(hashHex)
  }

  has(hashHex: string): boolean {
    return this.sigs.has(hashHex)
  }

  all(): ChangeSignature[] {
    return [...this.sigs.values()]
  }

  /** Adds verified signatures; they are written in the background, in order. */
  add(sigs: ChangeSignature[]): void {
    const fresh = sigs.filter((s) => !this.sigs.has(bytesToHex(s.hash)))
    if (fresh.length === 0) return
    for (const s of fresh) this.sigs.set(bytesToHex(s.hash), s)
    this.unsaved.push(...fresh)
    this.writing = this.writing.then(() => this.persist())
  }

  whenSaved(): Promise<void> {
    return this.writing
  }

  private async persist(): Promise<void> {
    const batch = this.unsaved
    if (batch.length === 0) return
    this.unsaved = []
    const merge = this.chunkKeys.length >= MERGE_AFTER
    const records = merge ? [...this.sigs.values()] : batch
    const data = concatBytes(records.flatMap((s) => [s.hash, s.author, s.signature]))
    const key = [this.docId, 'g', sha256Hex(data)]
    try {
      await this.storage.save(key, data)
      if (merge) {
        for (const k of this.chunkKeys.splice(0))
          if (k.join('/') !== key.join('/')) await this.storage.remove(k)
      }
      this.chunkKeys.push(key)
    } catch (e) {
      log.warn(`could not store ${batch.length} signatures of ${this.docId}: ${describeError(e)}`)
      this.unsaved.unshift(...batch) // retried with the next batch
    }
  }
}

export function hashBytes(hashHex: string): Uint8Array {
  return hexToBytes(hashHex)
}
