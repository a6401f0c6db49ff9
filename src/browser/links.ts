/**
 * The document link of the shell: `#/doc/<docId>`, or `#/doc/<docId>?space=<spaceId>` for a
 * document of a space, so that whoever opens the link checks the document's changes against
 * the space's members from the start (see Spaces.follow).
 */
import { parseDocId } from '../core/ids'

export interface DocLink {
  docId: string
  space?: string
}

/** The document (and space) a location hash names, or undefined. */
export function parseDocLink(hash: string): DocLink | undefined {
  const m = /^#\/doc\/([^/?#]+)(?:\?(.*))?$/.exec(hash)
  const docId = m?.[1]
  if (docId === undefined || !parseDocId(docId).ok) return undefined
  const space = new URLSearchParams(m?.[2] ?? '').get('space')
  return space !== null && parseDocId(space).ok ? { docId, space } : { docId }
}

/** The hash of a document link. */
export function docLinkHash(docId: string, space?: string): string {
  return space === undefined ? `#/doc/${docId}` : `#/doc/${docId}?space=${space}`
}
