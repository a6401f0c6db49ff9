/**
 * What goes into a document's envelopes for the mirror, and what comes out of them for the
 * repo. Pure: Automerge and signatures, no network.
 *
 * Up: the changes the mirror does not hold yet (`have` are heads whose history it holds), in
 * Automerge's order (dependencies first), cut into envelopes of at most ENVELOPE_PLAINTEXT bytes.
 * Each change takes the signature this tab keeps for it: its author's in a space's document, the
 * writer's over a head in a free one. A writer signs the heads of each envelope itself, so every
 * envelope is vouched for on its own; a reader passes on the writer's signatures it received.
 *
 * Snapshot: the whole document (Automerge's saved form, one compressed chunk), with every
 * signature this tab keeps for its changes, and its heads: what a writer uploads to replace a
 * long log (compaction, mirror-sync.ts).
 *
 * Down: an opened envelope becomes what a peer's sync message would carry (its changes and their
 * signatures), so the document's own rules (admission.ts) judge what the mirror gave.
 */
import type { AutomergeDoc } from '../automerge'
import { changeHash, changeHeader } from '../chunks'
import { bytesToHex, hexToBytes } from '../bytes'
import type { ReceivedSyncMessage } from '../sync/messages'
import { SignatureList, type ChangeSignature } from '../sync/signature-list'
import { signHead, type WriteKey } from '../keys/write-key'
import type { SigStore } from '../repo/sigs'
import type { EnvelopeChange, OpenedEnvelope } from './envelope'

/** plaintext bytes of changes per envelope, about (a single larger change gets one of its own) */
export const ENVELOPE_PLAINTEXT = 1024 * 1024

export interface MirrorUpload {
  /** one entry per envelope, in order (none: nothing to upload) */
  envelopes: EnvelopeChange[][]
  /** the hashes of the changes in them */
  hashes: string[]
  /** the document's heads now */
  heads: string[]
  /** changes the mirror lacks that these envelopes leave out (others' changes, `ownOnly`) */
  rest: number
}

/** Which of the changes the mirror lacks go up. */
export interface UploadFilter {
  /** changes already uploaded since `have` was last moved (hashes) */
  sent?: ReadonlySet<string>
  /** only changes by this actor (hex): this tab's own; others' authors upload theirs */
  ownActor?: string
}

export interface BatchRules {
  sigs: SigStore | undefined
  /** a free document's write key (its seed when this tab writes) */
  writeKey: WriteKey | undefined
}

/**
 * The changes of `doc` not in the history of `have` (hashes the document does not hold are left
 * out of `have`) and not `sent`, as envelopes: all of them, or only `ownActor`'s.
 */
export function changesForMirror(
  doc: AutomergeDoc,
  have: readonly string[],
  rules: BatchRules,
  filter: UploadFilter = {},
): MirrorUpload {
  const missing = new Set(have.length === 0 ? [] : doc.getMissingDeps([...have]))
  const known = have.filter((h) => !missing.has(h))
  const heads = doc.getHeads()
  const changes: Uint8Array[] = []
  const hashes: string[] = []
  let rest = 0
  for (const c of doc.getChanges(known)) {
    // others' changes first, by the actor in the header: only the changes kept are hashed
    if (filter.ownActor !== undefined && changeHeader(c)?.actor !== filter.ownActor) {
      rest++
      continue
    }
    const hash = changeHash(c)
    if (hash === undefined || filter.sent?.has(hash) === true) continue
    changes.push(c)
    hashes.push(hash)
  }
  if (changes.length === 0) return { envelopes: [], hashes, heads, rest }
  const chunks: Uint8Array[][] = []
  let current: Uint8Array[] = []
  let bytes = 0
  for (const c of changes) {
    if (current.length > 0 && bytes + c.length > ENVELOPE_PLAINTEXT) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(c)
    bytes += c.length
  }
  chunks.push(current)
  const signing = rules.writeKey?.seed !== undefined
  let at = 0
  const envelopes = chunks.map((chunk) => {
    const ofChunk = hashes.slice(at, (at += chunk.length))
    const tips = signing && rules.sigs !== undefined ? chunkHeads(chunk, ofChunk) : new Set()
    return chunk.map((change, i): EnvelopeChange => {
      const hash = ofChunk[i] as string
      let sig = rules.sigs?.get(hash)
      if (sig === undefined && tips.has(hash) && rules.writeKey !== undefined) {
        const made = signHead(rules.writeKey, hash)
        if (made !== undefined) [sig] = rules.sigs?.add([made]) ?? [made]
      }
      return sig === undefined
        ? { change }
        : { change, author: sig.author, signature: sig.signature }
    })
  })
  return { envelopes, hashes, heads, rest }
}

/** The changes of a chunk that no other change of it depends on. */
function chunkHeads(chunk: readonly Uint8Array[], hashes: readonly string[]): Set<string> {
  const depended = new Set<string>()
  for (const c of chunk) for (const d of changeHeader(c)?.deps ?? []) depended.add(d)
  return new Set(hashes.filter((h) => !depended.has(h)))
}

/**
 * What the mirror holds after a pull, as `have` is kept: hashes whose whole history is on the
 * mirror. Those of `have` stay; a pulled change (in `accepted`: handed to the document and not
 * refused) joins only when every change it depends on does (a snapshot's heads always do). An
 * uploader sends its own changes without those of others they depend on (the others' authors
 * upload those), so a pulled change may sit on a history the mirror lacks when its uploader left
 * before its next full run; counting it would make this tab's next full upload skip that history
 * too, and every reader of the log would wait forever for it.
 */
export function mirrorHolds(
  doc: AutomergeDoc,
  have: readonly string[],
  opened: readonly OpenedEnvelope[],
  accepted: ReadonlySet<string>,
): string[] {
  const complete = new Set<string>()
  const pending = new Map<string, string[]>()
  for (const e of opened) {
    if (e.snapshot !== undefined) {
      for (const hex of e.snapshot.heads.map((h) => bytesToHex(h)))
        if (accepted.has(hex)) complete.add(hex)
      continue
    }
    for (const c of e.changes) {
      const hash = changeHash(c.change)
      if (hash !== undefined && accepted.has(hash))
        pending.set(hash, changeHeader(c.change)?.deps ?? [])
    }
  }
  if (pending.size > 0) {
    // a change of the document is in `have`'s history unless it came after it
    const missing = new Set(have.length === 0 ? [] : doc.getMissingDeps([...have]))
    const known = have.filter((h) => !missing.has(h))
    const after =
      known.length === 0 ? undefined : new Set(doc.getChangesMeta(known).map((m) => m.hash))
    const inHave = (d: string): boolean =>
      after !== undefined && !after.has(d) && doc.getChangeMetaByHash(d) !== null
    for (let grew = true; grew;) {
      grew = false
      for (const [hash, deps] of pending)
        if (deps.every((d) => complete.has(d) || inHave(d))) {
          complete.add(hash)
          pending.delete(hash)
          grew = true
        }
    }
  }
  return [...new Set([...have, ...complete])]
}

/** A document as a snapshot carries it. */
export interface MirrorSnapshot {
  /** `save()`: one whole-document chunk */
  doc: Uint8Array
  signatures: ChangeSignature[]
  /** hex */
  heads: string[]
}

export function snapshotOf(doc: AutomergeDoc, sigs: SigStore | undefined): MirrorSnapshot {
  return { doc: doc.save(), signatures: sigs?.all() ?? [], heads: doc.getHeads() }
}

/**
 * Opened envelopes as one sync message's worth of changes with their signatures: heads, need
 * and have empty (the mirror is no peer with a sync state; it only brings changes). The hashes
 * are those of the changes (a snapshot's: its heads, whose history it holds).
 */
export function fromEnvelopes(opened: readonly OpenedEnvelope[]): {
  message: ReceivedSyncMessage
  sigs: SignatureList
  hashes: string[]
} {
  const changes: Uint8Array[] = []
  const sigs: ChangeSignature[] = []
  const hashes: string[] = []
  // one change may be in several envelopes (its author's, and a full upload of another member's
  // that did not know the mirror had it): the batch carries it once
  const taken = new Set<string>()
  for (const e of opened) {
    if (e.snapshot !== undefined) {
      sigs.push(...e.snapshot.signatures)
      hashes.push(...e.snapshot.heads.map((h) => bytesToHex(h)))
      changes.push(...e.changes.map((c) => c.change))
      continue
    }
    for (const c of e.changes) {
      const hash = changeHash(c.change)
      if (hash !== undefined && taken.has(hash)) continue
      if (hash !== undefined) taken.add(hash)
      changes.push(c.change)
      if (hash !== undefined) hashes.push(hash)
      if (hash !== undefined && c.author !== undefined && c.signature !== undefined)
        sigs.push({ hash: hexToBytes(hash), author: c.author, signature: c.signature })
    }
  }
  return {
    message: { heads: [], need: [], have: [], changes },
    sigs: SignatureList.of(sigs),
    hashes,
  }
}
