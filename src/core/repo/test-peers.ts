/** For tests that play a remote peer against a Repo without a network. */
import { interestKey, interestTag, type DocId } from '../ids'
import { randomKey } from '../keys/aead'
import type { SyncPeer } from '../sync/peer'
import type { Repo } from './repo'

/**
 * Has `peer` show the repo that it holds `id`'s read key (its interest tag), as a session does
 * before any SYNC: the repo serves and accepts nothing of a document otherwise. Gives the repo a
 * key for the document first if it has none.
 */
export async function proveKey(repo: Repo, peer: SyncPeer, id: DocId): Promise<void> {
  await repo.keys.loaded
  if (!repo.keys.has(id)) await repo.setKey(id, randomKey())
  const key = repo.keys.get(id) as Uint8Array
  await repo.peerInterested(peer, [
    interestTag(interestKey(id, key), peer.remotePeer, peer.localPeer),
  ])
}
