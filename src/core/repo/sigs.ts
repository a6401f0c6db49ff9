/**
 * Signatures of a document's changes: change hash → (author key, signature). They travel with
 * the changes to other peers, across as many hops as it takes, and are checked at every hop.
 * Only verified signatures are ever added. On disk they are 128-byte records kept by the
 * document's `DocStore` (`[docId, 'g', sha256]`), written in the same batch as the changes.
 */
import { bytesToHex, concatBytes } from '../bytes'
import type { ChangeSignature } from '../sync/messages'

/** hash (32) + author key (32) + signature (64) */
export const SIG_RECORD_BYTES = 128

/** The one encoding of signature records: on disk, between tabs and inside sync messages. */
export function encodeSigRecords(sigs: readonly ChangeSignature[]): Uint8Array {
  return concatBytes(sigs.flatMap((s) => [s.hash, s.author, s.signature]))
}

/** Records back into signatures; a trailing partial record is ignored. */
export function decodeSigRecords(bytes: Uint8Array): ChangeSignature[] {
  const out: ChangeSignature[] = []
  for (let at = 0; at + SIG_RECORD_BYTES <= bytes.length; at += SIG_RECORD_BYTES) {
    out.push({
      hash: bytes.slice(at, at + 32),
      author: bytes.slice(at + 32, at + 64),
      signature: bytes.slice(at + 64, at + SIG_RECORD_BYTES),
    })
  }
  return out
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

  /** Adds verified signatures; returns the ones it did not have (the caller stores those). */
  add(sigs: readonly ChangeSignature[]): ChangeSignature[] {
    const fresh: ChangeSignature[] = []
    for (const s of sigs) {
      const hex = bytesToHex(s.hash)
      if (this.sigs.has(hex)) continue
      this.sigs.set(hex, s)
      fresh.push(s)
    }
    return fresh
  }

  /** Every signature as records: what a snapshot stores in place of the older record chunks. */
  records(): Uint8Array {
    return encodeSigRecords(this.all())
  }
}
