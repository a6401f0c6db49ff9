import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { blockCid } from '../src/core/blocks/cid'
import { FileBlockStore } from './file-blocks'

const dirs: string[] = []
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-file-blocks-'))
  dirs.push(d)
  return d
}

describe('FileBlockStore', () => {
  it('stores only bytes that match their CID, and skips a block damaged on disk', async () => {
    const dir = tmp()
    const store = new FileBlockStore([dir])
    const bytes = new TextEncoder().encode('a block')
    const cid = blockCid(bytes)
    await expect(store.put(cid, new TextEncoder().encode('other'))).rejects.toMatchObject({
      code: 'BAD_BLOCK',
    })
    expect(await store.has(cid)).toBe(false)
    await store.put(cid, bytes)
    expect(await store.get(cid)).toEqual(bytes)
    fs.writeFileSync(path.join(dir, 'blocks', cid), 'damaged')
    expect(await store.get(cid)).toBeUndefined()
    expect(fs.readdirSync(path.join(dir, 'blocks'))).toEqual([cid]) // no temporary files left
  })

  it('lists app versions: a new CID is added, the same CID replaced, a damaged list ignored', async () => {
    const dir = tmp()
    const store = new FileBlockStore([dir])
    const v = (cid: string, version: string): Parameters<FileBlockStore['addListing']>[0] => ({
      name: 'notes',
      version,
      cid: `b${cid.padEnd(40, 'a')}`,
      publishedAt: 1,
    })
    await store.addListing(v('one', '1.0.0'))
    await store.addListing(v('two', '1.1.0'))
    await store.addListing(v('one', '1.0.0-again'))
    expect((await store.listings()).map((a) => a.version)).toEqual(['1.1.0', '1.0.0-again'])
    fs.writeFileSync(path.join(dir, 'apps.json'), '{not json')
    expect(await store.listings()).toEqual([])
    await store.addListing(v('three', '2.0.0')) // starts a fresh list
    expect((await store.listings()).map((a) => a.version)).toEqual(['2.0.0'])
  })
})
