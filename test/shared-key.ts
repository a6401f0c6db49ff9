/**
 * One read key per document id that every test peer derives alike: for harnesses whose peers
 * open documents by id (as if each had been given the document's share link).
 */
import { sha256, utf8 } from '../src/core/bytes'
import type { DocId } from '../src/core/ids'
import type { DocHandle } from '../src/core/repo/doc-handle'
import type { Repo } from '../src/core/repo/repo'

export const sharedTestKey = (id: DocId): Uint8Array => sha256(utf8(`orrery/test-key:${id}`))

/** Opens a document with the key every test peer holds for it. */
export async function openShared(repo: Repo, id: DocId): Promise<DocHandle> {
  await repo.setKey(id, sharedTestKey(id))
  return repo.open(id)
}
