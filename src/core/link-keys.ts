/**
 * What a share link carries beside a document's id, and applying it before the document opens:
 * the space's rules and the space document's read key (Spaces.follow), then the document's own
 * read key (see repo/doc-keys.ts), and for a free document its write key: the secret in an edit
 * link, only the writer's public key in a read-only one (keys/write-key.ts).
 */
import { equalBytes, fromBase64Url, toBase64Url } from './bytes'
import { CryptoError } from './errors'
import type { DocId } from './ids'
import type { Repo } from './repo/repo'
import type { Spaces } from './spaces/manager'
import { writeKeyFromPublic, writeKeyFromSecret } from './keys/write-key'

/** Keys as a link carries them: 32 bytes in canonical unpadded base64url. */
export interface LinkKeys {
  /** the document's read key */
  key?: string
  /** the document's space */
  space?: string
  /** the read key of the space's own document */
  spaceKey?: string
  /** the id of the space's member list on the mirror (mirror/roster.ts) */
  roster?: string
  /** a free document's write secret: an edit link */
  write?: string
  /** a free document's writer (public key): a read-only link */
  writer?: string
}

export interface LinkOptions {
  /** a link that lets its holder read but not change the document (a free document's) */
  readOnly?: boolean
}

/** A key from a link, or undefined when it is not one. */
export function linkKeyBytes(s: string | undefined): Uint8Array | undefined {
  if (s === undefined) return undefined
  const b = fromBase64Url(s)
  return b?.length === 32 && toBase64Url(b) === s ? b : undefined
}

/** The keys a link to one of this tab's documents carries (those this tab holds). */
export function linkKeysOf(
  repo: Repo,
  spaces: Spaces,
  docId: DocId,
  opts: LinkOptions = {},
): LinkKeys {
  const key = repo.keys.get(docId)
  const space = spaces.linkKeys(docId)
  const w = repo.keys.writeKey(docId)
  return {
    ...(key === undefined ? {} : { key: toBase64Url(key) }),
    ...(w === undefined
      ? {}
      : w.secret !== undefined && opts.readOnly !== true
        ? { write: toBase64Url(w.secret) }
        : { writer: toBase64Url(w.pub) }),
    ...(space === undefined || space.space === docId
      ? {}
      : {
          space: space.space,
          spaceKey: toBase64Url(space.spaceDocKey),
          ...(space.roster === undefined ? {} : { roster: toBase64Url(space.roster) }),
        }),
  }
}

/**
 * Applies a link's keys. A link whose key differs from the one this profile holds for the
 * document is refused (WRONG_KEY): the profile keeps its key.
 */
export function applyLinkKeys(
  repo: Repo,
  spaces: Spaces,
  docId: DocId,
  keys: LinkKeys,
): Promise<void> {
  const applying = applyKeys(repo, spaces, docId, keys)
  // A link naming a space: nothing opens the document, or the space's, before the space's rules
  // apply (they are decided when a document loads). Held at once, before anything awaits: a
  // caller that opens the document right after (the page's own code) finds it held.
  if (keys.space !== undefined) {
    repo.holdOpening(docId, applying)
    repo.holdOpening(keys.space, applying)
  }
  return applying
}

async function applyKeys(repo: Repo, spaces: Spaces, docId: DocId, keys: LinkKeys): Promise<void> {
  if (keys.space !== undefined)
    await spaces.follow(keys.space, docId, linkKeyBytes(keys.spaceKey), linkKeyBytes(keys.roster))
  const key = linkKeyBytes(keys.key)
  if (key === undefined) return
  const wrong = (): CryptoError =>
    new CryptoError(
      'WRONG_KEY',
      `this link's key is not the key of document ${docId} this browser holds; ask for a new link`,
    )
  const held = repo.keys.get(docId) // as far as the keys in storage have loaded
  if (held !== undefined && !equalBytes(held, key)) throw wrong()
  // the writer first: no change of a reader's is taken before the document is announced
  const secret = linkKeyBytes(keys.write)
  const writer = linkKeyBytes(keys.writer)
  if (secret !== undefined) await repo.setWriteKey(docId, writeKeyFromSecret(docId, secret))
  else if (writer !== undefined) await repo.setWriteKey(docId, writeKeyFromPublic(writer))
  await repo.setKey(docId, key) // in memory at once: the document is announced with it
  const kept = repo.keys.get(docId) // a key found in storage meanwhile wins
  if (kept !== undefined && !equalBytes(kept, key)) throw wrong()
}
