/**
 * The keys this profile holds for each space (issue 15): the read key of the space's own
 * document, and the keys of the space's epochs it has been given (epochs.ts). The space document's
 * key comes from the space's first epoch and never changes, so a member who was away during a
 * rotation still finds the space document, and in it their box of the new epoch. Every other
 * document of the space takes its read key from the current epoch (`spaceDataDocKey`), bound to
 * its id, so a share link for one document (its key, and the space document's, which a reader
 * needs for the members' list) gives nothing of the space's other documents.
 *
 * Kept in the profile (`['space-key', spaceId]`). A space made before keys existed has none: it
 * stays on this device, and inviting to it fails (NO_KEY).
 */
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes'
import { describeError } from '../errors'
import { docIdToBytes, parseDocId, type DocId } from '../ids'
import { deriveKey, equalBytes, KEY_BYTES } from '../keys/aead'
import { createLogger } from '../log'
import type { StorageAdapter } from '../storage/types'

const log = createLogger('spaces')

/** The read key of a space's own document, from the key of the space's first epoch. */
export function spaceDocKey(firstEpochKey: Uint8Array, spaceId: DocId): Uint8Array {
  return deriveKey(firstEpochKey, 'space-doc/v1', docIdToBytes(spaceId))
}

/** The read key of one document of a space, in an epoch. */
export function spaceDataDocKey(epochKey: Uint8Array, docId: DocId): Uint8Array {
  return deriveKey(epochKey, 'space-data-doc/v1', docIdToBytes(docId))
}

interface Held {
  doc: Uint8Array | undefined
  epochs: Uint8Array[]
}

const isKey = (k: Uint8Array | undefined): k is Uint8Array => k?.length === KEY_BYTES

export class SpaceKeys {
  private readonly held = new Map<string, Held>()

  constructor(private readonly storage: StorageAdapter) {}

  async load(): Promise<void> {
    try {
      for (const c of await this.storage.loadRange(['space-key'])) {
        const id = c.key[1] ?? ''
        try {
          const v = JSON.parse(fromUtf8(c.data)) as { doc?: unknown; epochs?: unknown }
          const doc = typeof v.doc === 'string' ? fromBase64Url(v.doc) : undefined
          const epochs = Array.isArray(v.epochs)
            ? v.epochs.map((e) => (typeof e === 'string' ? fromBase64Url(e) : undefined))
            : []
          if (!parseDocId(id).ok || !isKey(doc) || !epochs.every(isKey)) throw new Error('bad')
          this.held.set(id, { doc, epochs: epochs.filter(isKey) })
        } catch {
          log.warn(`ignoring unreadable space keys ${c.key.join('/')}`)
        }
      }
    } catch (e) {
      log.error(`could not read the spaces' keys: ${describeError(e)}`)
    }
  }

  /** The read key of the space's document, if held. */
  docKey(spaceId: string): Uint8Array | undefined {
    return this.held.get(spaceId)?.doc
  }

  /** The epoch keys held for the space (any order). */
  epochKeys(spaceId: string): readonly Uint8Array[] {
    return this.held.get(spaceId)?.epochs ?? []
  }

  /** Keeps keys of a space; resolves to whether anything was new (then stored). */
  async keep(spaceId: string, keys: { doc?: Uint8Array; epoch?: Uint8Array }): Promise<boolean> {
    for (const k of [keys.doc, keys.epoch])
      if (k !== undefined && !isKey(k)) throw new RangeError(`a space key is ${KEY_BYTES} bytes`)
    const held = this.held.get(spaceId) ?? { doc: undefined, epochs: [] }
    let changed = false
    if (keys.doc !== undefined && held.doc === undefined) {
      held.doc = keys.doc.slice()
      changed = true
    }
    const epoch = keys.epoch
    if (epoch !== undefined && !held.epochs.some((e) => equalBytes(e, epoch))) {
      held.epochs.push(epoch.slice())
      changed = true
    }
    if (!changed || held.doc === undefined) return false
    this.held.set(spaceId, held)
    const value = { doc: toBase64Url(held.doc), epochs: held.epochs.map(toBase64Url) }
    await this.storage.save(['space-key', spaceId], utf8(JSON.stringify(value)))
    return true
  }
}
