/**
 * Signatures of a document's changes: change hash → (author key, signature). They travel with
 * the changes to other peers, across as many hops as it takes, and are checked at every hop.
 * Only verified signatures are ever added. On disk they are 128-byte records kept by the
 * document's `DocStore` (`[docId, 'g', sha256]`), written in the same batch as the changes.
 */
import type { AutomergeDoc } from '../automerge'
import { bytesToHex } from '../bytes'
import { didKeyFromPublicKey } from '../identity'
import { own, SignatureList, type ChangeSignature } from '../sync/signature-list'

/** The one encoding of signature records: on disk, between tabs and inside sync messages. */
export function encodeSigRecords(sigs: readonly ChangeSignature[]): Uint8Array {
  return SignatureList.of(sigs).bytes
}

/** Records back into signatures (a copy); a trailing partial record is ignored. */
export function decodeSigRecords(bytes: Uint8Array): SignatureList {
  return SignatureList.copyOf(bytes)
}

export class SigStore {
  private readonly sigs = new Map<string, ChangeSignature>()

  get size(): number {
    return this.sigs.size
  }

  get(hashHex: string): ChangeSignature | undefined {
    return this.sigs.get(hashHex)
  }

  has(hashHex: string): boolean {
    return this.sigs.has(hashHex)
  }

  all(): ChangeSignature[] {
    return [...this.sigs.values()]
  }

  /**
   * Adds verified signatures, each copied into a record of its own (one kept from a sync frame's
   * list must not keep the whole list alive); returns the ones it did not have (the caller
   * stores those).
   */
  add(sigs: Iterable<ChangeSignature>): ChangeSignature[] {
    const fresh: ChangeSignature[] = []
    for (const s of sigs) {
      const hex = bytesToHex(s.hash)
      if (this.sigs.has(hex)) continue
      const kept = own(s)
      this.sigs.set(hex, kept)
      fresh.push(kept)
    }
    return fresh
  }

  /** Every signature as records: what a snapshot stores in place of the older record chunks. */
  records(): Uint8Array {
    return encodeSigRecords(this.all())
  }
}

/**
 * The signatures that came with one peer's messages, kept as the lists they arrived in (no
 * object per signature until one is looked up). By change hash the latest wins, as in a map
 * filled in order of arrival.
 */
export class ReceivedSigs {
  private readonly lists: SignatureList[] = []

  add(list: SignatureList): void {
    if (list.length > 0) this.lists.push(list)
  }

  /** another batch's signatures, as if they arrived after these */
  append(later: ReceivedSigs): void {
    this.lists.push(...later.lists)
  }

  get(hashHex: string): ChangeSignature | undefined {
    for (let i = this.lists.length - 1; i >= 0; i--) {
      const s = (this.lists[i] as SignatureList).get(hashHex)
      if (s !== undefined) return s
    }
    return undefined
  }
}

/** The highest sequence number of each actor whose changes `did` signed (removing a member). */
export function actorsSignedBy(
  doc: AutomergeDoc,
  store: SigStore,
  did: string,
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const m of doc.getChangesMeta([])) {
    const sig = store.get(m.hash)
    if (sig !== undefined && didKeyFromPublicKey(sig.author) === did)
      out[m.actor] = Math.max(out[m.actor] ?? 0, m.seq)
  }
  return out
}
