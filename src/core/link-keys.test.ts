import { describe, expect, it } from 'vitest'
import { toBase64Url } from './bytes'
import { newDocId } from './ids'
import { randomKey } from './keys/aead'
import { applyLinkKeys, linkKeyBytes } from './link-keys'
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

  it('ignores what is not a key, and a link without one', async () => {
    const repo = new Repo({ storage: new MemoryStorageAdapter(), tabId: 't' })
    const doc = newDocId()
    await applyLinkKeys(repo, noSpaces, doc, {})
    expect(repo.keys.get(doc)).toBeUndefined()
    expect(linkKeyBytes('short')).toBeUndefined()
    expect(linkKeyBytes(`${toBase64Url(randomKey())}=`)).toBeUndefined()
  })
})
