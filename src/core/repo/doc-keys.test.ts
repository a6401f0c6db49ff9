import { describe, expect, it } from 'vitest'
import { utf8 } from '../bytes'
import { docTopic, interestKey, interestTag, newDocId } from '../ids'
import { randomKey } from '../keys/aead'
import { MemoryStorageAdapter } from '../storage/memory'
import { writeKeyFromPublic, writeKeyFromSecret } from '../keys/write-key'
import { DocKeys } from './doc-keys'
import { Repo } from './repo'

describe('DocKeys', () => {
  it('keeps keys across loads, says when one is new or replaced, and ignores damaged records', async () => {
    const storage = new MemoryStorageAdapter()
    const seen: [string, boolean][] = []
    const keys = new DocKeys(storage, (id, replaced) => seen.push([id, replaced]))
    await keys.loaded
    const [a, b] = [newDocId(), newDocId()]
    const [ka, kb, kb2] = [randomKey(), randomKey(), randomKey()]
    expect(await keys.set(a, ka)).toBe(true)
    expect(await keys.set(a, ka)).toBe(false) // the same key: nothing new
    await keys.set(b, kb)
    await keys.set(b, kb2)
    expect(seen).toEqual([
      [a, false],
      [b, false],
      [b, true],
    ])
    expect(keys.topic(a)).toEqual(docTopic(a, ka))
    expect(keys.interestTag(a, 'p1', 'p2')).toEqual(interestTag(interestKey(a, ka), 'p1', 'p2'))
    expect(keys.interestTag(a, 'p2', 'p1')).not.toEqual(keys.interestTag(a, 'p1', 'p2'))
    await expect(keys.set(a, new Uint8Array(16))).rejects.toThrow(RangeError)

    await storage.save(['doc-key', 'not-an-id'], utf8('AAAA'))
    await storage.save(['doc-key', newDocId()], utf8('too short'))
    const again = new DocKeys(storage, () => undefined)
    await again.loaded
    expect(again.get(a)).toEqual(ka)
    expect(again.get(b)).toEqual(kb2)
    expect(again.topic(newDocId())).toBeUndefined()
  })

  it('derives unrelated topics for two documents under one key, and for one document under two', () => {
    const [x, y] = [newDocId(), newDocId()]
    const k = randomKey()
    expect(docTopic(x, k)).not.toEqual(docTopic(y, k))
    expect(docTopic(x, k)).not.toEqual(docTopic(x, randomKey()))
    expect(docTopic(x, k)).not.toEqual(interestKey(x, k))
  })
})

describe('DocKeys.set while the stored keys load', () => {
  it('announces a new key at once, and a key the profile already held wins over it', async () => {
    const storage = new MemoryStorageAdapter()
    const [held, fresh] = [newDocId(), newDocId()]
    const [kHeld, kLink, kFresh] = [randomKey(), randomKey(), randomKey()]
    await new DocKeys(storage, () => undefined).set(held, kHeld)
    const keys = new DocKeys(storage, () => undefined) // loading now
    const a = keys.set(held, kLink)
    const b = keys.set(fresh, kFresh)
    expect(keys.get(fresh)).toEqual(kFresh) // in memory before the load ends
    expect(await a).toBe(false) // the stored key won: nothing stored
    expect(await b).toBe(true)
    expect(keys.get(held)).toEqual(kHeld)
    const reloaded = new DocKeys(storage, () => undefined)
    await reloaded.loaded
    expect(reloaded.get(held)).toEqual(kHeld)
    expect(reloaded.get(fresh)).toEqual(kFresh)
  })
})

describe('DocKeys.reload (another tab kept a key)', () => {
  it('does not undo a key set here that is not stored yet', async () => {
    const storage = new MemoryStorageAdapter()
    const doc = newDocId()
    const [old, next] = [randomKey(), randomKey()]
    const keys = new DocKeys(storage, () => undefined)
    await keys.set(doc, old)
    const setting = keys.set(doc, next) // a new epoch's key, say
    keys.reload() // another tab's news arrives before it is stored
    expect(await setting).toBe(true)
    await keys.loaded
    expect(keys.get(doc)).toEqual(next)
    const fresh = new DocKeys(storage, () => undefined)
    await fresh.loaded
    expect(fresh.get(doc)).toEqual(next)
  })
})

describe('a free document made before documents had keys', () => {
  it('gets a key when its maker opens it; one that came from elsewhere does not', async () => {
    const storage = new MemoryStorageAdapter()
    const [mine, theirs] = [newDocId(), newDocId()]
    const record = (id: string, created: boolean): Uint8Array =>
      utf8(JSON.stringify({ id, createdAt: 1, openedAt: 1, ...(created ? { created } : {}) }))
    await storage.save(['meta', mine], record(mine, true))
    await storage.save(['meta', theirs], record(theirs, false))
    const repo = new Repo({ storage, tabId: 't' })
    await repo.open(mine)
    await repo.open(theirs)
    expect(repo.keys.get(mine)?.length).toBe(32)
    expect(repo.keys.get(theirs)).toBeUndefined() // locked: only a new link opens it to peers
  })
})

describe('DocKeys write keys', () => {
  it('keeps a secret stored across loads; a view-only link while the keys load never replaces it', async () => {
    const storage = new MemoryStorageAdapter()
    const id = newDocId()
    const secret = writeKeyFromSecret(id, randomKey())
    const first = new DocKeys(storage, () => undefined)
    expect(await first.setWriteKey(id, secret)).toBe(true)
    expect(await first.setWriteKey(id, writeKeyFromPublic(secret.pub))).toBe(false)
    expect(first.writeKey(id)?.secret).toEqual(secret.secret)

    const loading = new DocKeys(storage, () => undefined) // the owner opens its own view link
    const viewed = loading.setWriteKey(id, writeKeyFromPublic(secret.pub))
    expect(loading.writeKey(id)?.secret).toBeUndefined() // in memory at once: a reader for now
    expect(await viewed).toBe(false)
    expect(loading.writeKey(id)?.secret).toEqual(secret.secret) // storage's secret stays
    const later = new DocKeys(storage, () => undefined)
    await later.loaded
    expect(later.writeKey(id)?.secret).toEqual(secret.secret)
  })

  it('refuses another writer, also one that differs only from what storage holds', async () => {
    const storage = new MemoryStorageAdapter()
    const id = newDocId()
    const writer = writeKeyFromPublic(writeKeyFromSecret(id, randomKey()).pub)
    const other = writeKeyFromSecret(id, randomKey())
    await new DocKeys(storage, () => undefined).setWriteKey(id, writer)
    const loading = new DocKeys(storage, () => undefined)
    await expect(loading.setWriteKey(id, other)).rejects.toMatchObject({ code: 'WRONG_KEY' })
    expect(loading.writeKey(id)?.pub).toEqual(writer.pub)
    await expect(loading.setWriteKey(id, other)).rejects.toMatchObject({ code: 'WRONG_KEY' })
    await storage.save(['doc-writer', newDocId()], utf8('x:nonsense'))
    const again = new DocKeys(storage, () => undefined)
    await again.loaded
    expect(again.writeKey(id)?.pub).toEqual(writer.pub)
  })
})
