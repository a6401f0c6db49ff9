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

/** An app's link: `#/app/<cid>`, `#/app/<cid>/doc/<docId>`, and `?space=<spaceId>` after either. */
export interface AppLink {
  cid: string
  docId?: string
  space?: string
}

export function parseAppLink(hash: string): AppLink | undefined {
  const m = /^#\/app\/([a-z0-9]+)(?:\/doc\/([^/?#]+))?(?:\?(.*))?$/.exec(hash)
  const cid = m?.[1]
  if (cid === undefined) return undefined
  const link: AppLink = { cid }
  const docId = m?.[2]
  if (docId !== undefined && parseDocId(docId).ok) link.docId = docId
  const space = new URLSearchParams(m?.[3] ?? '').get('space')
  if (link.docId !== undefined && space !== null && parseDocId(space).ok) link.space = space
  return link
}

export function appLinkHash(cid: string, docId?: string, space?: string): string {
  if (docId === undefined || docId === '') return `#/app/${cid}`
  return `#/app/${cid}/doc/${docId}${space === undefined ? '' : `?space=${space}`}`
}
