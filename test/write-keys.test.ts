/**
 * A free document's write key over real streams (issue 15): an edit link writes, a read-only
 * link reads and cannot write, a reader's forged change is refused by writers and readers alike,
 * and readers pass the writer's changes on to each other (also after a restart) with the
 * writer's signature over heads.
 */
import { describe, expect, it } from 'vitest'
import type { OrreryPeer } from '../src/core/peer'
import { writeKeyFromPublic, writeKeyFromSecret } from '../src/core/keys/write-key'
import { randomKey } from '../src/core/keys/aead'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import { generateIdentity } from '../src/core/identity'
import type { DocId } from '../src/core/ids'
import { collectWarnings, connect, shareKeys, sleep, testPeers, waitFor } from './peers'

const peer = testPeers()
const logs = collectWarnings()

/** What a read-only link gives: the read key and the writer's public key. */
async function readOnlyLink(from: OrreryPeer, to: OrreryPeer, id: DocId): Promise<void> {
  await to.repo.setKey(id, from.repo.keys.get(id)!)
  await to.repo.setWriteKey(id, writeKeyFromPublic(from.repo.keys.writeKey(id)!.pub))
}

const read = (p: OrreryPeer, id: DocId, key: string): Promise<unknown> =>
  p.state.get(`/${id}/${key}`)

describe('write keys', () => {
  it('an edit link writes; a read-only link reads and is refused a write (READ_ONLY)', async () => {
    const [owner, editor, reader] = [await peer(), await peer(), await peer()]
    const id = (await owner.repo.create()).id
    await owner.state.set(`/${id}/title`, 'hello')
    await shareKeys(owner, editor, id)
    await readOnlyLink(owner, reader, id)
    await Promise.all([editor.repo.open(id), reader.repo.open(id)])
    await connect(editor, owner)
    await connect(reader, owner)
    await waitFor(async () => (await read(reader, id, 'title')) === 'hello', 8000, 'reader reads')
    await expect(reader.state.set(`/${id}/title`, 'mine')).rejects.toMatchObject({
      code: 'READ_ONLY',
    })
    await editor.state.set(`/${id}/by`, 'editor')
    await waitFor(async () => (await read(reader, id, 'by')) === 'editor', 8000, 'edit reaches')
    expect(await read(owner, id, 'by')).toBe('editor')
    expect(await read(reader, id, 'title')).toBe('hello')
  })

  it("a reader's forged change is refused by the writer and by other readers", async () => {
    const [owner, forger, reader] = [await peer(), await peer(), await peer()]
    const id = (await owner.repo.create()).id
    await owner.state.set(`/${id}/title`, 'hello')
    // the forger's tab was given the read key only and does not know the writer: it writes
    await forger.repo.setKey(id, owner.repo.keys.get(id)!)
    await forger.repo.open(id)
    await connect(forger, owner)
    await waitFor(async () => (await read(forger, id, 'title')) === 'hello', 8000, 'forger reads')
    await forger.state.set(`/${id}/title`, 'forged')
    await waitFor(() => logs.some((l) => l.includes('not vouched for')), 8000, 'owner refuses')
    expect(await read(owner, id, 'title')).toBe('hello')

    // a reader who meets only the forger takes nothing from it: not the forgery, not the rest
    // of the document (its heads are the forger's, which no signature of the writer covers)
    await readOnlyLink(owner, reader, id)
    await reader.repo.open(id)
    logs.length = 0
    await connect(reader, forger)
    await waitFor(() => logs.some((l) => l.includes('not vouched for')), 8000, 'reader refuses')
    expect(await read(reader, id, 'title')).toBeUndefined()
    // it gets the document from the writer
    await connect(reader, owner)
    await waitFor(async () => (await read(reader, id, 'title')) === 'hello', 8000, 'from owner')
    await sleep(200)
    expect(await read(reader, id, 'title')).toBe('hello')
  })

  it("readers pass the writer's changes on to each other, also after a restart", async () => {
    const [owner, first] = [await peer(), await peer()]
    const id = (await owner.repo.create()).id
    for (let i = 0; i < 5; i++) await owner.state.set(`/${id}/n${i}`, i)
    await readOnlyLink(owner, first, id)
    await first.repo.open(id)
    await connect(first, owner)
    await waitFor(async () => (await read(first, id, 'n4')) === 4, 8000, 'first reader')
    await owner.state.set(`/${id}/late`, 'yes')
    await waitFor(async () => (await read(first, id, 'late')) === 'yes', 8000, 'a later change')
    await owner.stop() // the writer is gone

    const second = await peer()
    await readOnlyLink(first, second, id)
    await second.repo.open(id)
    await connect(second, first)
    await waitFor(async () => (await read(second, id, 'late')) === 'yes', 8000, 'from a reader')
    expect(await read(second, id, 'n0')).toBe(0)

    // the first reader restarts: the writer's signatures came back from its disk
    const storage = new MemoryStorageAdapter()
    const identity = generateIdentity()
    const third = await peer({ storage, identity })
    await readOnlyLink(first, third, id)
    await third.repo.open(id)
    await connect(third, second)
    await waitFor(async () => (await read(third, id, 'late')) === 'yes', 8000, 'second-hand')
    await third.repo.flushAll()
    await third.stop()
    const again = await peer({ storage, identity })
    await again.repo.open(id)
    const fourth = await peer()
    await readOnlyLink(first, fourth, id)
    await fourth.repo.open(id)
    await connect(fourth, again)
    await waitFor(async () => (await read(fourth, id, 'late')) === 'yes', 8000, 'after restart')
  })

  it('a link never changes the writer a profile knows, and a secret upgrades its reader', async () => {
    const [owner, reader] = [await peer(), await peer()]
    const id = (await owner.repo.create()).id
    await readOnlyLink(owner, reader, id)
    const other = writeKeyFromSecret(id, randomKey())
    await expect(reader.repo.setWriteKey(id, other)).rejects.toMatchObject({ code: 'WRONG_KEY' })
    await expect(reader.repo.setWriteKey(id, writeKeyFromPublic(other.pub))).rejects.toMatchObject({
      code: 'WRONG_KEY',
    })
    expect(reader.repo.keys.writeKey(id)?.secret).toBeUndefined()
    // an edit link of the same document makes the reader a writer
    await reader.repo.setWriteKey(id, owner.repo.keys.writeKey(id)!)
    expect(reader.repo.keys.writeKey(id)?.secret).toBeDefined()
    await reader.repo.open(id)
    await reader.state.set(`/${id}/now`, 'editing')
    await connect(reader, owner)
    await waitFor(async () => (await read(owner, id, 'now')) === 'editing', 8000, 'upgraded')
  })
})
