/**
 * Equivocation: two different signed changes for one (actor, seq) of a governed document. An
 * actor's changes are numbered 1, 2, 3… and each depends on the one before, so a document that
 * holds seq n of an actor holds every seq up to n; a new change for a seq it already holds is a
 * second branch of that actor's history. Automerge cannot hold both (it refuses the second as a
 * duplicate sequence number), so the replicas that took one branch can never take the other.
 *
 * The author who signed both is the culprit, not the peer that forwards the second one: that
 * peer may have received the other branch first and be perfectly honest. So when Automerge
 * refuses a batch for a duplicate seq (`duplicateSeq`), the batch is set aside (not applied, its
 * sender not struck unless the sender is the author itself: `DocHandle.setAsideEquivocation`),
 * and the evidence, both changes with both signatures, is logged and kept (`EquivocationLog`),
 * where an admin can read it and remove the author. A change reusing another author's actor id
 * shows up the same way, with two different authors in the evidence.
 */
import { am, type AutomergeDoc } from '../automerge'
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes'
import { DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { describeError } from '../errors'
import { didKeyFromPublicKey } from '../identity'
import { createLogger } from '../log'
import type { StorageAdapter } from '../storage/types'
import type { ChangeSignature } from '../sync/messages'

const log = createLogger('equivocation')

/** One change of an equivocation, with what proves who made it. */
export interface SignedChange {
  hash: string
  /** the change's bytes (base64url) */
  bytes: string
  /** the author's did:key, from the signature */
  author: string
  /** the Ed25519 signature over the change hash (base64url) */
  signature: string
}

export interface Equivocation {
  docId: string
  actor: string
  seq: number
  /** the change this peer had (or took first), then the one that contradicts it */
  changes: [SignedChange, SignedChange]
  /** the remote peer id that sent the second change */
  from: string
  /** when it was detected (ms since the epoch) */
  at: number
}

/**
 * The (actor, seq) of Automerge's refusal of a second change for a seq it holds ("duplicate seq
 * N found for actor X"), or undefined for any other error. Automerge finds it for free while
 * applying; an index of our own would cost a pass over the whole history (~18 µs a change).
 */
export function duplicateSeq(error: unknown): { actor: string; seq: number } | undefined {
  const m = /duplicate seq (\d+) found for actor ([0-9a-f]+)/.exec(String(error))
  if (m === null) return undefined
  const seq = Number(m[1])
  return Number.isSafeInteger(seq) ? { actor: m[2] as string, seq } : undefined
}

/** The bytes of change `hash` in sync-message entries (from a change chunk or a whole document). */
export function changeBytesIn(entries: Uint8Array[], hash: string): Uint8Array | undefined {
  for (const entry of entries) {
    const chunks = splitChunks(entry, false)
    if (!chunks.ok) continue
    for (const c of chunks.value) {
      try {
        if (c[8] !== DOCUMENT_CHUNK) {
          if (am().decodeChange(c).hash === hash) return c
          continue
        }
        const tmp = am().load(c)
        try {
          const bytes = tmp.getChangeByHash(hash)
          if (bytes !== null) return bytes
        } finally {
          tmp.free()
        }
      } catch {
        // a chunk that does not decode holds nothing to cite
      }
    }
  }
  return undefined
}

/** The known change of `actor` with `seq` (a scan of the history: only when equivocation is found). */
export function changeAt(doc: AutomergeDoc, actor: string, seq: number): string | undefined {
  return doc.getChangesMeta([]).find((m) => m.actor === actor && m.seq === seq)?.hash
}

export function signedChange(hash: string, bytes: Uint8Array, sig: ChangeSignature): SignedChange {
  return {
    hash,
    bytes: toBase64Url(bytes),
    author: didKeyFromPublicKey(sig.author),
    signature: toBase64Url(sig.signature),
  }
}

/** At most this many records are kept per document (a flood of them proves nothing more). */
export const MAX_RECORDS_PER_DOC = 32

/**
 * The equivocations found, kept in storage under ['equivocation', docId, actor, seq] so they
 * survive a reload, and readable with `list()`.
 */
export class EquivocationLog {
  private readonly records = new Map<string, Equivocation>()
  private readonly loaded: Promise<void>

  constructor(private readonly storage: StorageAdapter) {
    this.loaded = this.load()
  }

  private async load(): Promise<void> {
    try {
      for (const c of await this.storage.loadRange(['equivocation'])) {
        try {
          const e = JSON.parse(fromUtf8(c.data)) as Equivocation
          if (
            typeof e.docId === 'string' &&
            typeof e.actor === 'string' &&
            Array.isArray(e.changes)
          )
            this.records.set(keyOf(e.docId, e.actor, e.seq), e)
        } catch {
          log.warn(`ignoring an unreadable equivocation record ${c.key.join('/')}`)
        }
      }
    } catch (e) {
      log.error(`could not read the equivocation records: ${describeError(e)}`)
    }
  }

  /** Whether this (document, actor, seq) is already on record. */
  has(docId: string, actor: string, seq: number): boolean {
    return this.records.has(keyOf(docId, actor, seq))
  }

  /** Whether another record may be kept for this document. */
  roomFor(docId: string): boolean {
    let n = 0
    for (const e of this.records.values()) if (e.docId === docId) n++
    return n < MAX_RECORDS_PER_DOC
  }

  /** Records an equivocation (once per document, actor and seq); logs it. */
  add(e: Equivocation): void {
    const key = keyOf(e.docId, e.actor, e.seq)
    if (this.records.has(key) || !this.roomFor(e.docId)) return
    this.records.set(key, e)
    const [a, b] = e.changes
    log.warn(
      `equivocation in ${e.docId}: actor ${e.actor.slice(0, 12)} seq ${e.seq} signed twice ` +
        `(${a.hash.slice(0, 12)} by ${a.author.slice(-8)}, ${b.hash.slice(0, 12)} by ${b.author.slice(-8)}), ` +
        `the second from peer ${e.from.slice(-8)}`,
    )
    this.storage
      .save(['equivocation', e.docId, e.actor, String(e.seq)], utf8(JSON.stringify(e)))
      .catch((err: unknown) => log.warn(`could not store the evidence: ${describeError(err)}`))
  }

  /** Every equivocation on record (those of earlier sessions once loaded), oldest first. */
  async list(docId?: string): Promise<Equivocation[]> {
    await this.loaded
    return [...this.records.values()]
      .filter((e) => docId === undefined || e.docId === docId)
      .sort((a, b) => a.at - b.at)
  }
}

const keyOf = (docId: string, actor: string, seq: number): string => `${docId}/${actor}/${seq}`

/** The change's bytes from a record (for checking the evidence again). */
export function evidenceBytes(c: SignedChange): Uint8Array | undefined {
  return fromBase64Url(c.bytes)
}
