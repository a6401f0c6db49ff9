/**
 * First sight from the mirror: a link opened in a fresh browser names its document and keys,
 * which is all a read of the document's log needs, so the page asks for it at once (over HTTP,
 * http.ts) while Automerge, the profile and libp2p are still loading. The document's mirror
 * seat (mirror-sync.ts) then takes that answer as its first pull instead of asking again over
 * libp2p. Only a first read from the start is answered this way, once; a prefetch that failed
 * or is not claimed within PREFETCH_KEEP_MS is forgotten, and the seat reads as it always does.
 */
import { bytesToHex } from '../bytes'
import type { Result } from '../errors'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import { mirrorDocTag, NO_ROSTER } from './envelope'
import type { MirrorTransport } from './mirror-sync'
import type { PageEntry } from './protocol'

const log = createLogger('mirror-prefetch')

/** an answer nobody claimed is dropped after this (ms): a page of envelopes can be large */
export const PREFETCH_KEEP_MS = 60_000

type Reader = Pick<MirrorTransport, 'sinceAll'>

export class MirrorPrefetch {
  private readonly early = new Map<string, Promise<Result<PageEntry[]>>>()

  constructor(private readonly reader: Reader) {}

  /** Starts reading the log of `docId` (under `readKey`, in `roster`'s log when of a space). */
  start(docId: DocId, readKey: Uint8Array, roster: Uint8Array = NO_ROSTER): void {
    let tag: Uint8Array
    try {
      tag = mirrorDocTag(docId, readKey)
    } catch (e) {
      log.debug(`no prefetch of ${docId.slice(0, 6)}…: ${String(e)}`)
      return
    }
    const key = keyOf(tag, roster)
    if (this.early.has(key)) return
    this.early.set(key, this.reader.sinceAll(tag, 0, roster))
    const forget = setTimeout(() => this.early.delete(key), PREFETCH_KEEP_MS)
    ;(forget as { unref?: () => void }).unref?.()
  }

  /**
   * `fallback` (the mirror over libp2p), with a log's first read from the start answered by its
   * prefetch when that succeeded. Uploads and admissions go to `fallback`.
   */
  over(fallback: MirrorTransport): MirrorTransport {
    return {
      put: (envelope) => fallback.put(envelope),
      admit: (admission) => fallback.admit(admission),
      putRoster: (roster) => fallback.putRoster(roster),
      sinceAll: async (docTag, after, roster = NO_ROSTER) => {
        const early = after === 0 ? this.take(docTag, roster) : undefined
        if (early !== undefined) {
          const got = await early
          if (got.ok) return got
          log.info(`the early read failed (${got.error.code}): reading over libp2p`)
        }
        return fallback.sinceAll(docTag, after, roster)
      },
    }
  }

  private take(docTag: Uint8Array, roster: Uint8Array): Promise<Result<PageEntry[]>> | undefined {
    const key = keyOf(docTag, roster)
    const early = this.early.get(key)
    this.early.delete(key)
    return early
  }
}

const keyOf = (tag: Uint8Array, roster: Uint8Array): string => bytesToHex(roster) + bytesToHex(tag)
