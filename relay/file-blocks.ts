/**
 * Blocks on disk for the relay's seeding: `<dir>/blocks/<cid>` files under several directories
 * (the built-in apps of the build, and apps published later); the first directory takes writes.
 * Every read is checked against its CID before it is served (a damaged file is skipped).
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { verifyBlock } from '../src/core/blocks/cid'
import type { BlockStore, CidString, StoreUsage } from '../src/core/blocks/types'
import { OrreryError } from '../src/core/errors'

const CID = /^b[a-z2-7]{20,100}$/

export interface AppListing {
  name: string
  version: string
  cid: CidString
  publishedAt: number
}

export class FileBlockStore implements BlockStore {
  constructor(private readonly dirs: string[]) {
    if (dirs.length === 0) throw new Error('FileBlockStore needs a directory')
  }

  private file(dir: string, cid: CidString): string {
    if (!CID.test(cid)) throw new OrreryError('BAD_BLOCK', `not a CID: ${cid.slice(0, 80)}`)
    return path.join(dir, 'blocks', cid)
  }

  async has(cid: CidString): Promise<boolean> {
    return (await this.get(cid)) !== undefined
  }

  async get(cid: CidString): Promise<Uint8Array | undefined> {
    if (!CID.test(cid)) return undefined
    for (const dir of this.dirs) {
      try {
        const bytes = new Uint8Array(await fs.readFile(this.file(dir, cid)))
        if (verifyBlock(cid, bytes)) return bytes
      } catch {
        // not in this directory
      }
    }
    return undefined
  }

  async put(cid: CidString, bytes: Uint8Array): Promise<void> {
    if (!verifyBlock(cid, bytes)) throw new OrreryError('BAD_BLOCK', `bytes do not match ${cid}`)
    const file = this.file(this.dirs[0] as string, cid)
    await fs.mkdir(path.dirname(file), { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    await fs.writeFile(tmp, bytes)
    await fs.rename(tmp, file)
  }

  async delete(cid: CidString): Promise<void> {
    await fs.rm(this.file(this.dirs[0] as string, cid), { force: true })
  }

  private pinsFile(): string {
    return path.join(this.dirs[0] as string, 'pins.json')
  }

  async pins(): Promise<{ name: string; root: CidString; cids: CidString[]; pinnedAt: number }[]> {
    try {
      return JSON.parse(await fs.readFile(this.pinsFile(), 'utf8')) as {
        name: string
        root: CidString
        cids: CidString[]
        pinnedAt: number
      }[]
    } catch {
      return []
    }
  }

  async pin(name: string, root: CidString, cids: CidString[]): Promise<void> {
    const pins = (await this.pins()).filter((p) => p.root !== root)
    pins.push({ name, root, cids: [...new Set([root, ...cids])], pinnedAt: Date.now() })
    await fs.mkdir(this.dirs[0] as string, { recursive: true })
    await fs.writeFile(this.pinsFile(), JSON.stringify(pins, null, 2))
  }

  async unpin(root: CidString): Promise<void> {
    const pins = (await this.pins()).filter((p) => p.root !== root)
    await fs.writeFile(this.pinsFile(), JSON.stringify(pins, null, 2))
  }

  private async list(dir: string): Promise<{ cid: string; size: number }[]> {
    try {
      const names = await fs.readdir(path.join(dir, 'blocks'))
      const out: { cid: string; size: number }[] = []
      for (const n of names) {
        if (!CID.test(n)) continue
        out.push({ cid: n, size: (await fs.stat(path.join(dir, 'blocks', n))).size })
      }
      return out
    } catch {
      return []
    }
  }

  async usage(): Promise<StoreUsage> {
    const pinned = new Set((await this.pins()).flatMap((p) => p.cids))
    let blocks = 0
    let bytes = 0
    let pinnedBytes = 0
    for (const dir of this.dirs) {
      for (const b of await this.list(dir)) {
        blocks++
        bytes += b.size
        if (pinned.has(b.cid)) pinnedBytes += b.size
      }
    }
    return { blocks, bytes, pinnedBytes }
  }

  /** Removes unpinned blocks from the writable directory (seed directories are left alone). */
  async gc(): Promise<{ removed: number; freedBytes: number }> {
    const pinned = new Set((await this.pins()).flatMap((p) => p.cids))
    let removed = 0
    let freedBytes = 0
    for (const b of await this.list(this.dirs[0] as string)) {
      if (pinned.has(b.cid)) continue
      await this.delete(b.cid)
      removed++
      freedBytes += b.size
    }
    return { removed, freedBytes }
  }

  /** Every app version published into these directories (`apps.json` in each). */
  async listings(): Promise<AppListing[]> {
    const out: AppListing[] = []
    for (const dir of this.dirs) {
      try {
        const list = JSON.parse(
          await fs.readFile(path.join(dir, 'apps.json'), 'utf8'),
        ) as AppListing[]
        if (Array.isArray(list)) out.push(...list.filter((a) => CID.test(a.cid)))
      } catch {
        // no listing here
      }
    }
    return out
  }

  /**
   * Lists an app version in the first directory's `apps.json` (replacing an entry of the same
   * CID). The file is replaced whole, so a reader never sees half of it; another process
   * publishing at the same moment may lose its entry (the last writer wins).
   */
  async addListing(entry: AppListing): Promise<void> {
    const dir = this.dirs[0] as string
    const file = path.join(dir, 'apps.json')
    let list: AppListing[] = []
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as unknown
      if (Array.isArray(parsed)) list = parsed as AppListing[]
    } catch {
      // none yet
    }
    await fs.mkdir(dir, { recursive: true })
    const tmp = `${file}.${process.pid}.tmp`
    await fs.writeFile(
      tmp,
      JSON.stringify([...list.filter((a) => a.cid !== entry.cid), entry], null, 2),
    )
    await fs.rename(tmp, file)
  }

  /** The apps published into these directories, the newest of each name. */
  async apps(): Promise<AppListing[]> {
    const out = new Map<string, AppListing>()
    for (const a of await this.listings()) {
      const known = out.get(a.name)
      if (known === undefined || known.publishedAt < a.publishedAt) out.set(a.name, a)
    }
    return [...out.values()].sort((a, b) => b.publishedAt - a.publishedAt)
  }
}
