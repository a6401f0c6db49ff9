/**
 * The shell's links. A document link carries the document's read key (`k`), and for a document
 * of a space the space's id and the read key of the space's document (`space`, `sk`), so whoever
 * opens it finds the document, proves to its peers that they may have it, and checks its changes
 * against the space's members from the start (see Spaces.follow), and the id of the space's
 * member list on the mirror (`sr`), so the document is found there while every member sleeps
 * (spaces/space-rosters.ts). A free document's link carries
 * its write secret (`w`, an edit link) or only its writer's public key (`wp`, a read-only link).
 * Everything after `#` stays in the browser: no server ever sees a key.
 *
 *   #/doc/<docId>?k=<key>[&w=<secret>|&wp=<writer>][&space=<spaceId>&sk=<key>[&sr=<id>]]
 *   #/app/<cid>[/doc/<docId>?k=<key>[…as above]]
 *
 * Keys are 32 bytes in unpadded base64url; anything else in their place is ignored.
 */
import { parseDocId } from '../core/ids'
import { linkKeyBytes, type LinkKeys } from '../core/link-keys'

export type { LinkKeys }

export interface DocLink extends LinkKeys {
  docId: string
}

export interface AppLink extends LinkKeys {
  cid: string
  docId?: string
}

function parseKeys(query: string | undefined): LinkKeys {
  const q = new URLSearchParams(query ?? '')
  const keys: LinkKeys = {}
  const key = q.get('k') ?? undefined
  if (linkKeyBytes(key) !== undefined) keys.key = key
  const write = q.get('w') ?? undefined
  const writer = q.get('wp') ?? undefined
  if (linkKeyBytes(write) !== undefined) keys.write = write
  else if (linkKeyBytes(writer) !== undefined) keys.writer = writer
  const space = q.get('space')
  if (space !== null && parseDocId(space).ok) {
    keys.space = space
    const sk = q.get('sk') ?? undefined
    if (linkKeyBytes(sk) !== undefined) keys.spaceKey = sk
    const sr = q.get('sr') ?? undefined
    if (linkKeyBytes(sr) !== undefined) keys.roster = sr
  }
  return keys
}

function keysQuery(keys: LinkKeys): string {
  const q: string[] = []
  if (keys.key !== undefined) q.push(`k=${keys.key}`)
  if (keys.write !== undefined) q.push(`w=${keys.write}`)
  else if (keys.writer !== undefined) q.push(`wp=${keys.writer}`)
  if (keys.space !== undefined) {
    q.push(`space=${keys.space}`)
    if (keys.spaceKey !== undefined) q.push(`sk=${keys.spaceKey}`)
    if (keys.roster !== undefined) q.push(`sr=${keys.roster}`)
  }
  return q.length === 0 ? '' : `?${q.join('&')}`
}

/** The document (its keys, its space) a location hash names, or undefined. */
export function parseDocLink(hash: string): DocLink | undefined {
  const m = /^#\/doc\/([^/?#]+)(?:\?(.*))?$/.exec(hash)
  const docId = m?.[1]
  if (docId === undefined || !parseDocId(docId).ok) return undefined
  return { docId, ...parseKeys(m?.[2]) }
}

/** The hash of a document link. */
export function docLinkHash(docId: string, keys: LinkKeys = {}): string {
  return `#/doc/${docId}${keysQuery(keys)}`
}

export function parseAppLink(hash: string): AppLink | undefined {
  const m = /^#\/app\/([a-z0-9]+)(?:\/doc\/([^/?#]+))?(?:\?(.*))?$/.exec(hash)
  const cid = m?.[1]
  if (cid === undefined) return undefined
  const docId = m?.[2]
  if (docId === undefined || !parseDocId(docId).ok) return { cid }
  return { cid, docId, ...parseKeys(m?.[3]) }
}

export function appLinkHash(cid: string, docId?: string, keys: LinkKeys = {}): string {
  if (docId === undefined || docId === '') return `#/app/${cid}`
  return `#/app/${cid}/doc/${docId}${keysQuery(keys)}`
}
