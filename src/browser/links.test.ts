import { describe, expect, it } from 'vitest'
import { newDocId } from '../core/ids'
import { toBase64Url } from '../core/bytes'
import { randomKey } from '../core/keys/aead'
import { appLinkHash, docLinkHash, parseAppLink, parseDocLink } from './links'

describe('document links', () => {
  const doc = newDocId()
  const space = newDocId()

  it('round-trips a document link, with and without its space', () => {
    expect(parseDocLink(docLinkHash(doc))).toEqual({ docId: doc })
    expect(parseDocLink(docLinkHash(doc, { space }))).toEqual({ docId: doc, space })
    const keys = { key: toBase64Url(randomKey()), space, spaceKey: toBase64Url(randomKey()) }
    expect(docLinkHash(doc, keys)).toBe(
      `#/doc/${doc}?k=${keys.key}&space=${space}&sk=${keys.spaceKey}`,
    )
    expect(parseDocLink(docLinkHash(doc, keys))).toEqual({ docId: doc, ...keys })
    expect(parseDocLink(docLinkHash(doc, { key: keys.key }))).toEqual({ docId: doc, key: keys.key })
  })

  it('round-trips edit and view-only links (w, wp); an edit link names no writer beside it', () => {
    const key = toBase64Url(randomKey())
    const write = toBase64Url(randomKey())
    const writer = toBase64Url(randomKey())
    expect(docLinkHash(doc, { key, write })).toBe(`#/doc/${doc}?k=${key}&w=${write}`)
    expect(parseDocLink(docLinkHash(doc, { key, write }))).toEqual({ docId: doc, key, write })
    expect(parseDocLink(docLinkHash(doc, { key, writer }))).toEqual({ docId: doc, key, writer })
    expect(parseDocLink(`#/doc/${doc}?k=${key}&w=${write}&wp=${writer}`)).toEqual({
      docId: doc,
      key,
      write,
    })
    expect(parseDocLink(`#/doc/${doc}?k=${key}&w=short&wp=${writer}`)).toEqual({
      docId: doc,
      key,
      writer,
    })
  })

  it('ignores what is not a key: too short, too long, padded, not base64url', () => {
    const key = toBase64Url(randomKey())
    for (const bad of [key.slice(1), key + 'A', key + '=', key.replace(/^./, '+'), ''])
      expect(parseDocLink(`#/doc/${doc}?k=${bad}`)).toEqual({ docId: doc })
    expect(parseDocLink(`#/doc/${doc}?sk=${key}`)).toEqual({ docId: doc }) // sk needs its space
  })

  it('refuses what is not a document link, and ignores a malformed space', () => {
    for (const bad of ['', '#/', `#/app/x/doc/${doc}`, '#/doc/not-an-id', `#/doc/${doc}/more`])
      expect(parseDocLink(bad)).toBeUndefined()
    expect(parseDocLink(`#/doc/${doc}?space=nonsense`)).toEqual({ docId: doc })
    expect(parseDocLink(`#/doc/${doc}?other=1&space=${space}`)).toEqual({ docId: doc, space })
  })

  it('round-trips an app link, with a document and its space', () => {
    const cid = 'bagaaiera'
    expect(parseAppLink(appLinkHash(cid))).toEqual({ cid })
    expect(parseAppLink(appLinkHash(cid, doc))).toEqual({ cid, docId: doc })
    expect(parseAppLink(appLinkHash(cid, doc, { space }))).toEqual({ cid, docId: doc, space })
    const key = toBase64Url(randomKey())
    expect(parseAppLink(appLinkHash(cid, doc, { key }))).toEqual({ cid, docId: doc, key })
    expect(appLinkHash(cid, '', { space })).toBe(`#/app/${cid}`)
    expect(parseAppLink(`#/app/${cid}?space=${space}`)).toEqual({ cid }) // a space needs a doc
    expect(parseAppLink(`#/app/${cid}/doc/bad-id`)).toEqual({ cid })
    for (const bad of ['#/app/', '#/app/UPPER', `#/doc/${doc}`])
      expect(parseAppLink(bad)).toBeUndefined()
  })
})
