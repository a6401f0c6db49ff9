/**
 * Who may change a free document that has a write key (keys/write-key.ts): its writers. A peer
 * that showed it holds the write secret (its write tag) is a writer, and its changes pass as
 * they are: it could sign anything anyway. From anyone else (a reader passing on what it got) a
 * change passes only if the writer's signature vouches for it: a signature over that change or
 * over a later one that depends on it. Readers cannot tell writers' tags apart, so they take
 * every change this way; a writer signs its heads for each reader it sends changes to.
 */
import { am, type AutomergeDoc } from '../automerge'
import { err, IdentityError, ok, type Result } from '../errors'
import { didKeyFromPublicKey } from '../identity'
import { isWriterSignature, signHead, type WriteKey } from '../keys/write-key'
import type { SyncPeer } from '../sync/peer'
import type { ChangeSignature } from '../sync/signature-list'
import type { Judge } from './admission'
import { listNewChanges, type IncomingChange } from './governance'
import type { SigStore } from './sigs'

/** What the write judge needs of the repo: the key as it is now (a link's may come later). */
export interface WriteGate {
  /** the document's write key, if it has one (none: anyone with the read key writes) */
  key(): WriteKey | undefined
  /** the peer showed it holds the write secret */
  isWriter(peer: SyncPeer): boolean
}

/** vouched-for changes Automerge may still be holding for a missing dependency, at most */
const MAX_PENDING = 100_000

export function writeJudge(gate: WriteGate): Judge {
  /**
   * Changes vouched for but perhaps not applied yet (Automerge holds a change whose dependency
   * is missing; the next message brings the dependency, vouched for by them): hash → deps.
   */
  let pending = new Map<string, string[]>()
  return {
    trusts: (peer) => gate.isWriter(peer),
    admit: () => ok(undefined),
    check(entries, sigs, known): Result<IncomingChange[]> {
      const key = gate.key()
      if (key === undefined) return ok([]) // no write key (yet): anyone with the read key writes
      const listed = listNewChanges(entries, known)
      if (!listed.ok) return listed
      for (const h of pending.keys()) if (known(h)) pending.delete(h)
      const fresh = new Map(listed.value.map((c) => [c.hash, c.deps]))
      const depsOf = (h: string): string[] => fresh.get(h) ?? pending.get(h) ?? []
      const covered = new Set<string>()
      const cover = (from: string): void => {
        const stack = [from]
        for (let h = stack.pop(); h !== undefined; h = stack.pop()) {
          if (covered.has(h)) continue
          covered.add(h)
          for (const d of depsOf(h)) if (!covered.has(d)) stack.push(d)
        }
      }
      for (const h of pending.keys()) cover(h)
      const signed = new Set<string>()
      // dependents come after their dependencies: from the end, one signature covers the most
      for (let i = listed.value.length - 1; i >= 0; i--) {
        const { hash } = listed.value[i] as (typeof listed.value)[number]
        if (covered.has(hash)) continue
        const sig = sigs(hash)
        if (sig === undefined || !isWriterSignature(key, sig)) continue
        signed.add(hash)
        cover(hash)
      }
      const loose = listed.value.find((c) => !covered.has(c.hash))
      if (loose !== undefined)
        return err(
          new IdentityError(
            'BAD_SIGNATURE',
            `change ${loose.hash.slice(0, 12)} is not vouched for by the document's writer`,
          ),
        )
      if (pending.size > MAX_PENDING) pending = new Map()
      for (const c of listed.value) pending.set(c.hash, c.deps)
      const author = didKeyFromPublicKey(key.pub)
      return ok(
        listed.value.map(({ hash, actor, seq, bytes }) => ({
          hash,
          actor,
          seq,
          author,
          ...(bytes ? { bytes } : {}),
          ...(signed.has(hash) ? {} : { vouched: true as const }),
        })),
      )
    },
  }
}

/**
 * The writer's signatures over this document's heads, for a peer that is not a writer: made
 * here if this tab writes (once per head), else those it received and kept. They vouch for
 * everything before them, so they go with every message that carries changes.
 */
export function headSignatures(
  doc: AutomergeDoc,
  message: Uint8Array,
  key: WriteKey,
  store: SigStore,
): ChangeSignature[] {
  if (!carriesChanges(message)) return []
  const out: ChangeSignature[] = []
  for (const head of doc.getHeads()) {
    let sig = store.get(head)
    if (sig === undefined) {
      const made = signHead(key, head)
      if (made !== undefined) [sig] = store.add([made])
    }
    if (sig !== undefined) out.push(sig)
  }
  return out
}

function carriesChanges(message: Uint8Array): boolean {
  try {
    return am().decodeSyncMessage(message).changes.length > 0
  } catch {
    return false
  }
}
