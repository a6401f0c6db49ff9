/**
 * A BlockStore in memory, for Node tests and the relay. Every `put` is verified against its CID
 * (a mismatch throws BAD_BLOCK and stores nothing); `get` returns a copy, so callers cannot change
 * what is stored.
 */
import { BlockError, verifyBlockAsync } from './cid'
import { BLOCK_SIZE, type BlockStore, type CidString, type StoreUsage } from './types'

interface Pin {
  name: string
  root: CidString
  cids: CidString[]
  pinnedAt: number
}

export class MemoryBlockStore implements BlockStore {
  private readonly blocks = new Map<CidString, Uint8Array>()
  private readonly pinned = new Map<CidString, Pin>()
  private bytes = 0

  async has(cid: CidString): Promise<boolean> {
    return this.blocks.has(cid)
  }

  async get(cid: CidString): Promise<Uint8Array | undefined> {
    return this.blocks.get(cid)?.slice()
  }

  async put(cid: CidString, bytes: Uint8Array): Promise<void> {
    if (bytes.length > BLOCK_SIZE) {
      throw new BlockError('BAD_BLOCK', `block of ${bytes.length} bytes exceeds ${BLOCK_SIZE}`)
    }
    if (!(await verifyBlockAsync(cid, bytes))) {
      throw new BlockError('BAD_BLOCK', `bytes do not match ${String(cid).slice(0, 80)}`)
    }
    if (this.blocks.has(cid)) return
    this.blocks.set(cid, bytes.slice())
    this.bytes += bytes.length
  }

  async delete(cid: CidString): Promise<void> {
    const b = this.blocks.get(cid)
    if (b === undefined) return
    this.blocks.delete(cid)
    this.bytes -= b.length
  }

  /** Pins `root` and `cids` (blocks need not be present yet); pinning a root again replaces it. */
  async pin(name: string, root: CidString, cids: CidString[]): Promise<void> {
    this.pinned.set(root, { name, root, cids: [...cids], pinnedAt: Date.now() })
  }

  async unpin(root: CidString): Promise<void> {
    this.pinned.delete(root)
  }

  async pins(): Promise<Pin[]> {
    return [...this.pinned.values()].map((p) => ({ ...p, cids: [...p.cids] }))
  }

  async usage(): Promise<StoreUsage> {
    let pinnedBytes = 0
    for (const cid of this.referenced()) pinnedBytes += this.blocks.get(cid)?.length ?? 0
    return { blocks: this.blocks.size, bytes: this.bytes, pinnedBytes }
  }

  async gc(): Promise<{ removed: number; freedBytes: number }> {
    const keep = this.referenced()
    let removed = 0
    let freedBytes = 0
    for (const [cid, b] of this.blocks) {
      if (keep.has(cid)) continue
      this.blocks.delete(cid)
      removed++
      freedBytes += b.length
    }
    this.bytes -= freedBytes
    return { removed, freedBytes }
  }

  /** every CID some pin references (its root and its listed blocks) */
  private referenced(): Set<CidString> {
    const out = new Set<CidString>()
    for (const p of this.pinned.values()) {
      out.add(p.root)
      for (const c of p.cids) out.add(c)
    }
    return out
  }
}
