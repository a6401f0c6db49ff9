/**
 * Signed writes. A governed document (one that belongs to a space) carries a signature for every
 * change: the author's Ed25519 key over the change hash. Before anything from a peer is applied,
 * stored or forwarded, every new change in it is matched with a signature, the signature is
 * checked, and the document's governance (the space's rules) decides whether that author may
 * make that change. A change that fails is never applied, so it is never stored or forwarded.
 */
import { am, type AutomergeDoc } from '../automerge'
import { bytesToHex, hexToBytes } from '../bytes'
import { changeHash, DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { IdentityError, OrreryError, type Result, err, ok } from '../errors'
import { didKeyFromPublicKey, sign, verify, type Identity } from '../identity'
import type { ChangeSignature } from '../sync/messages'
import type { Signer } from '../signer'

export interface IncomingChange {
  hash: string
  actor: string
  seq: number
  /** the author's did:key, from a verified signature */
  author: string
  /** the change's bytes when it came as a change chunk (absent inside a whole-document chunk) */
  bytes?: Uint8Array
  /**
   * vouched for by a signature over a later change, not its own (a free document's writer signs
   * heads): any signature sent for it was not checked, and is not kept
   */
  vouched?: true
}

export interface Governance {
  /**
   * whether this tab's user may change the document now (checked before a local write);
   * `rootKeys`, when given, are the document's top-level keys the write changes (at or below)
   */
  mayWriteLocally(rootKeys?: readonly string[]): Result<void>
  /** decides about new, signature-checked changes before they are applied */
  admit(doc: AutomergeDoc, changes: IncomingChange[], entries: Uint8Array[]): Result<void>
  /**
   * whether this tab may merge concurrently created maps (conflicts.ts), writing and signing the
   * copied entries as its own change; when absent, whenever `mayWriteLocally` allows
   */
  mayRepair?(): boolean
  /** what signs this tab's changes with its user's identity */
  signer(): Signer | undefined
  /** the rules changed (a member joined): changes refused for lack of membership are tried again */
  onChange?(cb: () => void): () => void
}

/**
 * Refusals that may be temporary: a new member's first changes can arrive before the change to
 * the space that admits them, a change to the space before a change it depends on. Those are held and tried again when the space changes; only if
 * they are still refused after PARK_MS is the peer that sent them cut off.
 */
export const PARKABLE = new Set(['NOT_A_MEMBER', 'NOT_ALLOWED', 'MISSING_DEPS'])
export const PARK_MS = 30_000

/** A change's signature by an identity held in memory (tests and tools; tabs use a Signer). */
export function signChange(identity: Identity, hashHex: string): ChangeSignature {
  const hash = hexToBytes(hashHex)
  return { hash, author: identity.publicKey, signature: sign(identity, hash) }
}

/**
 * Lists the changes in sync-message entries that `known` does not already have, each with its
 * checked author. Fails on the first unsigned change or signature that does not verify.
 */
export function checkSignatures(
  entries: Uint8Array[],
  sigs: (hashHex: string) => ChangeSignature | undefined,
  known: (hashHex: string) => boolean,
): Result<IncomingChange[]> {
  const listed = listNewChanges(entries, known)
  if (!listed.ok) return listed
  const out: IncomingChange[] = []
  for (const { hash, actor, seq, bytes } of listed.value) {
    const sig = sigs(hash)
    if (sig === undefined)
      return err(new IdentityError('BAD_SIGNATURE', `change ${hash.slice(0, 12)} is not signed`))
    if (bytesToHex(sig.hash) !== hash || !verify(sig.author, sig.hash, sig.signature)) {
      return err(
        new IdentityError(
          'BAD_SIGNATURE',
          `the signature of change ${hash.slice(0, 12)} does not verify`,
        ),
      )
    }
    out.push({
      hash,
      actor,
      seq,
      author: didKeyFromPublicKey(sig.author),
      ...(bytes ? { bytes } : {}),
    })
  }
  return ok(out)
}

/** A change in sync-message entries, as `listNewChanges` finds it. */
export interface ListedChange {
  hash: string
  actor: string
  seq: number
  deps: string[]
  /** the change's bytes when it came as a change chunk (absent inside a whole-document chunk) */
  bytes?: Uint8Array
}

/**
 * The changes in sync-message entries that `known` does not already have (each once), in the
 * order they came. Fails on a chunk that does not decode, and on a compressed change chunk.
 */
export function listNewChanges(
  entries: Uint8Array[],
  known: (hashHex: string) => boolean,
): Result<ListedChange[]> {
  const out: ListedChange[] = []
  const seen = new Set<string>()
  const add = (c: ListedChange): void => {
    if (seen.has(c.hash) || known(c.hash)) return
    seen.add(c.hash)
    out.push(c)
  }
  for (const entry of entries) {
    const chunks = splitChunks(entry, false)
    if (!chunks.ok) return err(chunks.error)
    for (const c of chunks.value) {
      try {
        if (c[8] === DOCUMENT_CHUNK) {
          const tmp = am().load(c)
          try {
            for (const m of tmp.getChangesMeta([]))
              add({ hash: m.hash, actor: m.actor, seq: m.seq, deps: m.deps })
          } finally {
            tmp.free()
          }
        } else {
          // Only uncompressed change chunks: a compressed one would inflate in `decodeChange`
          // before any signature is looked up, and its hash is not the hash of its bytes (the
          // session refuses them; this keeps any other way in from filing a signature under the
          // wrong hash).
          const hash = changeHash(c)
          if (hash === undefined)
            return err(new OrreryError('MALFORMED_MESSAGE', `change chunk of type ${c[8]}`))
          const d = am().decodeChange(c)
          add({ hash, actor: d.actor, seq: d.seq, deps: d.deps, bytes: c })
        }
      } catch (e) {
        return err(new OrreryError('MALFORMED_MESSAGE', `a change did not decode: ${String(e)}`))
      }
    }
  }
  return ok(out)
}

/** The signatures to send along a sync message: those of its changes (all of them for a whole document). */
export function signaturesFor(
  message: Uint8Array,
  sigs: (hashHex: string) => ChangeSignature | undefined,
  all: () => ChangeSignature[],
): ChangeSignature[] {
  const out = new Map<string, ChangeSignature>()
  let decoded
  try {
    decoded = am().decodeSyncMessage(message)
  } catch {
    return []
  }
  for (const entry of decoded.changes) {
    const chunks = splitChunks(entry, false)
    if (!chunks.ok) continue
    for (const c of chunks.value) {
      if (c[8] === DOCUMENT_CHUNK) return all()
      // our own message: a compressed chunk (Automerge does not send them) is hashed inflated
      let hash = changeHash(c)
      if (hash === undefined) {
        try {
          hash = am().decodeChange(c).hash
        } catch {
          continue
        }
      }
      const s = sigs(hash)
      if (s !== undefined) out.set(hash, s)
    }
  }
  return [...out.values()]
}
