/**
 * A file-backed StorageAdapter for L2's peer processes (the tree has no Node one: the browser
 * uses IndexedDB, tests and the relay memory). One append-only log per peer: every write is one
 * record (a batch is one record, so it lands all or nothing), written and fdatasync'd before its
 * promise resolves. Opening replays the log; a torn last record (a SIGKILL mid-write) is cut off.
 *
 * Record: u32 length, 4 bytes of SHA-256 over the payload, payload (JSON ops, data in base64).
 */
import { createHash } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { StorageError } from '../../../src/core/errors'
import {
  checkKey,
  joinKey,
  lastOpPerKey,
  splitKey,
  type StorageAdapter,
  type StorageChunk,
  type StorageKey,
  type StorageOp,
} from '../../../src/core/storage/types'

type RecordOp =
  { t: 'put'; k: string; d: string } | { t: 'del'; k: string } | { t: 'range'; k: string }

const digest = (payload: Buffer): Buffer =>
  createHash('sha256').update(payload).digest().subarray(0, 4)

export class FileLogStorage implements StorageAdapter {
  private readonly data = new Map<string, Uint8Array>()
  /** writes go one at a time, in call order */
  private tail: Promise<void> = Promise.resolve()

  private constructor(
    private readonly fd: fs.FileHandle,
    /** bytes cut off a torn tail when opened */
    readonly tornBytes: number,
  ) {}

  static async open(file: string): Promise<FileLogStorage> {
    const bytes = await fs.readFile(file).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return Buffer.alloc(0)
      throw e
    })
    const records: RecordOp[][] = []
    let at = 0
    while (at + 8 <= bytes.length) {
      const len = bytes.readUInt32LE(at)
      if (at + 8 + len > bytes.length) break
      const payload = bytes.subarray(at + 8, at + 8 + len)
      if (!digest(payload).equals(bytes.subarray(at + 4, at + 8))) break
      records.push(JSON.parse(payload.toString('utf8')) as RecordOp[])
      at += 8 + len
    }
    const fd = await fs.open(file, 'a+')
    if (at < bytes.length) await fd.truncate(at)
    const s = new FileLogStorage(fd, bytes.length - at)
    for (const r of records) s.apply(r)
    return s
  }

  private apply(ops: RecordOp[]): void {
    for (const op of ops) {
      if (op.t === 'put') this.data.set(op.k, new Uint8Array(Buffer.from(op.d, 'base64')))
      else if (op.t === 'del') this.data.delete(op.k)
      else for (const k of [...this.data.keys()]) if (k.startsWith(op.k)) this.data.delete(k)
    }
  }

  private write(ops: RecordOp[]): Promise<void> {
    const payload = Buffer.from(JSON.stringify(ops), 'utf8')
    const head = Buffer.alloc(8)
    head.writeUInt32LE(payload.length, 0)
    digest(payload).copy(head, 4)
    const run = async (): Promise<void> => {
      try {
        await this.fd.write(Buffer.concat([head, payload]))
        await this.fd.datasync()
      } catch (e) {
        throw new StorageError(
          (e as NodeJS.ErrnoException).code === 'ENOSPC' ? 'STORAGE_FULL' : 'STORAGE_FAILED',
          `log write failed: ${String(e)}`,
          e,
        )
      }
      this.apply(ops)
    }
    const done = this.tail.then(run)
    this.tail = done.catch(() => undefined)
    return done
  }

  async load(key: StorageKey): Promise<Uint8Array | undefined> {
    checkKey(key)
    await this.tail
    return this.data.get(joinKey(key))?.slice()
  }

  save(key: StorageKey, data: Uint8Array): Promise<void> {
    return this.batch([{ type: 'put', key, data }])
  }

  remove(key: StorageKey): Promise<void> {
    return this.batch([{ type: 'remove', key }])
  }

  batch(ops: readonly StorageOp[]): Promise<void> {
    return this.write(
      lastOpPerKey(ops).map((o) =>
        o.type === 'put'
          ? { t: 'put', k: joinKey(o.key), d: Buffer.from(o.data).toString('base64') }
          : { t: 'del', k: joinKey(o.key) },
      ),
    )
  }

  async loadRange(prefix: StorageKey): Promise<StorageChunk[]> {
    await this.tail
    const p = joinKey(prefix) + '/'
    const out: StorageChunk[] = []
    for (const [k, v] of this.data)
      if (k.startsWith(p)) out.push({ key: splitKey(k), data: v.slice() })
    return out
  }

  async listKeys(prefix: StorageKey): Promise<StorageKey[]> {
    await this.tail
    const p = joinKey(prefix) + '/'
    return [...this.data.keys()].filter((k) => k.startsWith(p)).map(splitKey)
  }

  removeRange(prefix: StorageKey): Promise<void> {
    for (const part of prefix) checkKey([part])
    return this.write([{ t: 'range', k: joinKey(prefix) + '/' }])
  }

  async close(): Promise<void> {
    await this.tail
    await this.fd.close()
  }
}
