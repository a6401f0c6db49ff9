import { describe, expect, it } from 'vitest'
import { newDocId } from '../core/ids'
import { docLinkHash, parseDocLink } from './links'

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
})
