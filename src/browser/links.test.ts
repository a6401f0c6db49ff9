import { describe, expect, it } from 'vitest'
import { newDocId } from '../core/ids'
import { appLinkHash, docLinkHash, parseAppLink, parseDocLink } from './links'

describe('document links', () => {
  const doc = newDocId()
  const space = newDocId()

  it('round-trips a document link, with and without its space', () => {
    expect(parseDocLink(docLinkHash(doc))).toEqual({ docId: doc })
    expect(parseDocLink(docLinkHash(doc, space))).toEqual({ docId: doc, space })
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
    expect(parseAppLink(appLinkHash(cid, doc, space))).toEqual({ cid, docId: doc, space })
    expect(appLinkHash(cid, '', space)).toBe(`#/app/${cid}`)
    expect(parseAppLink(`#/app/${cid}?space=${space}`)).toEqual({ cid }) // a space needs a doc
    expect(parseAppLink(`#/app/${cid}/doc/bad-id`)).toEqual({ cid })
    for (const bad of ['#/app/', '#/app/UPPER', `#/doc/${doc}`])
      expect(parseAppLink(bad)).toBeUndefined()
  })
})
