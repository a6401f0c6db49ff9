import { describe, expect, it } from 'vitest'
import { toBase64Url } from './bytes'
import { newDocId } from './ids'
import { randomKey } from './keys/aead'
import { applyLinkKeys, linkKeyBytes, linkKeysOf } from './link-keys'
import { Repo } from './repo/repo'
import type { Spaces } from './spaces/manager'
import { MemoryStorageAdapter } from './storage/memory'

const noSpaces = {} as Spaces // a link without a space never asks

describe('applyLinkKeys', () => {
  it("keeps a link's key, and refuses a link whose key is not the one held (WRONG_KEY)", async () => {
    const storage = new MemoryStorageAdapter()
    const repo = new Repo({ storage, tabId: 't' })
    const doc = newDocId()
    const key = toBase64Url(randomKey())
    await applyLinkKeys(repo, noSpaces, doc, { key })
    expect(toBase64Url(repo.keys.get(doc)!)).toBe(key)
    await applyLinkKeys(repo, noSpaces, doc, { key }) // the same link again: fine
    const other = toBase64Url(randomKey())
    await expect(applyLinkKeys(repo, noSpaces, doc, { key: other })).rejects.toMatchObject({
      code: 'WRONG_KEY',
    })
    expect(toBase64Url(repo.keys.get(doc)!)).toBe(key)
    // a fresh tab of the profile, while its keys load: the held key still wins
    const later = new Repo({ storage, tabId: 't2' })
    await expect(applyLinkKeys(later, noSpaces, doc, { key: other })).rejects.toMatchObject({
      code: 'WRONG_KEY',
    })
    expect(toBase64Url(later.keys.get(doc)!)).toBe(key)
  })

  it("keeps an edit link's write secret and a view-only link's writer; never trades one writer for another", async () => {
    const storage = new MemoryStorageAdapter()
    const owner = new Repo({ storage: new MemoryStorageAdapter(), tabId: 'o' })
    const doc = (await owner.create()).id
    const view = linkKeysOf(owner, { linkKeys: () => undefined } as unknown as Spaces, doc, {
      readOnly: true,
    })
    const edit = linkKeysOf(owner, { linkKeys: () => undefined } as unknown as Spaces, doc)
    expect(view.write).toBeUndefined()
    expect(view.writer).toBe(toBase64Url(owner.keys.writeKey(doc)!.pub))
    expect(edit.write).toBe(toBase64Url(owner.keys.writeKey(doc)!.secret!))
    const repo = new Repo({ storage, tabId: 't' })
    await applyLinkKeys(repo, noSpaces, doc, view)
    expect(repo.keys.writeKey(doc)?.secret).toBeUndefined()
    // a view-only link of the same document naming another writer is refused
    const other = toBase64Url(randomKey())
    await expect(
      applyLinkKeys(repo, noSpaces, doc, { key: view.key!, writer: other }),
    ).rejects.toMatchObject({ code: 'WRONG_KEY' })
    // a link without a writer leaves the writer in place (the document stays read-only here)
    await applyLinkKeys(repo, noSpaces, doc, { key: view.key! })
    expect(repo.keys.writeKey(doc)?.pub).toEqual(owner.keys.writeKey(doc)!.pub)
    // the edit link upgrades this profile, also for its next tab
    await applyLinkKeys(repo, noSpaces, doc, edit)
    expect(repo.keys.writeKey(doc)?.secret).toEqual(owner.keys.writeKey(doc)!.secret)
    const later = new Repo({ storage, tabId: 't2' })
    await later.keys.loaded
    expect(later.keys.writeKey(doc)?.secret).toEqual(owner.keys.writeKey(doc)!.secret)
  })

  it('ignores what is not a key, and a link without one', async () => {
    const repo = new Repo({ storage: new MemoryStorageAdapter(), tabId: 't' })
    const doc = newDocId()
    await applyLinkKeys(repo, noSpaces, doc, {})
    expect(repo.keys.get(doc)).toBeUndefined()
    expect(linkKeyBytes('short')).toBeUndefined()
    expect(linkKeyBytes(`${toBase64Url(randomKey())}=`)).toBeUndefined()
  })
})
