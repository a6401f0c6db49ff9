/**
 * A space's key: the secret its members share (issue 15). From it come the read key of the space
 * document (`spaceDocKey`) and of every document of the space (`spaceDataDocKey`), each bound to
 * its id, so a share link for one document (its read key, and the space document's, which a
 * reader needs for the members' list) gives nothing of the space's other documents.
 *
 * Kept in the profile (`['space-key', spaceId]`). Invites carry it in their link's fragment.
 * A space made before keys existed has none: it stays local, and inviting to it fails (NO_KEY).
 */
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes'
import { describeError } from '../errors'
import { docIdToBytes, parseDocId, type DocId } from '../ids'
import { deriveKey, KEY_BYTES } from '../keys/aead'
import { createLogger } from '../log'
import type { StorageAdapter } from '../storage/types'

const log = createLogger('spaces')

/** The read key of a space's own document (the members' list, its documents' ids, invites). */
export function spaceDocKey(spaceKey: Uint8Array, spaceId: DocId): Uint8Array {
  return deriveKey(spaceKey, 'space-doc/v1', docIdToBytes(spaceId))
}

/** The read key of one document of a space. */
export function spaceDataDocKey(spaceKey: Uint8Array, docId: DocId): Uint8Array {
  return deriveKey(spaceKey, 'space-data-doc/v1', docIdToBytes(docId))
}

export class SpaceKeys {
  private readonly keys = new Map<string, Uint8Array>()

  constructor(private readonly storage: StorageAdapter) {}

  async load(): Promise<void> {
    try {
      for (const c of await this.storage.loadRange(['space-key'])) {
        const id = c.key[1] ?? ''
        const key = fromBase64Url(fromUtf8(c.data))
        if (parseDocId(id).ok && key?.length === KEY_BYTES) this.keys.set(id, key)
        else log.warn(`ignoring an unreadable space key ${c.key.join('/')}`)
      }
    } catch (e) {
      log.error(`could not read the spaces' keys: ${describeError(e)}`)
    }
  }

  get(spaceId: string): Uint8Array | undefined {
    return this.keys.get(spaceId)
  }

  async set(spaceId: string, key: Uint8Array): Promise<void> {
    if (key.length !== KEY_BYTES) throw new RangeError(`a space key is ${KEY_BYTES} bytes`)
    this.keys.set(spaceId, key.slice())
    await this.storage.save(['space-key', spaceId], utf8(toBase64Url(key)))
  }
}
