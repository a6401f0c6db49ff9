/**
 * Compaction of a document's log on the mirror: once SNAPSHOT_AFTER_ENVELOPES envelopes, or
 * SNAPSHOT_AFTER_BYTES of them, came after the log's last snapshot, a writer's tab that has read
 * the whole log uploads a snapshot (envelope.ts: the whole document, the signatures of its changes,
 * its heads) covering the last index it read, and the mirror drops the envelopes it replaces.
 * What the document's rules refused on the way (a forgery, a removed member's late change) is in
 * no snapshot: compaction also sweeps the log.
 *
 * Only a space's documents are compacted (the mirror can tell a space's writers by its member
 * list; a document of no space has nobody it could trust to replace its log).
 */
import type { OrreryError, Result } from '../errors'
import type { Identity } from '../identity'
import type { DocId } from '../ids'
import type { DocHandle } from '../repo/doc-handle'
import { hexToBytes } from '../bytes'
import type { PutAnswer } from './client'
import { sealEnvelope, type OpenedEnvelope } from './envelope'
import type { PageEntry } from './protocol'

export const SNAPSHOT_AFTER_ENVELOPES = 1000
export const SNAPSHOT_AFTER_BYTES = 4 * 1024 * 1024

/** What a log holds after its last snapshot, as far as this tab has read it. */
export interface LogTally {
  envelopes: number
  bytes: number
}

export interface SnapshotLimits {
  envelopes: number
  bytes: number
}

export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = {
  envelopes: SNAPSHOT_AFTER_ENVELOPES,
  bytes: SNAPSHOT_AFTER_BYTES,
}

/** The tally after reading `entries` (opened[i]: entries[i] opened, or undefined). */
export function tally(
  before: LogTally | undefined,
  entries: readonly PageEntry[],
  opened: readonly (OpenedEnvelope | undefined)[],
): LogTally {
  let t = before ?? { envelopes: 0, bytes: 0 }
  entries.forEach((e, i) => {
    if (opened[i]?.snapshot !== undefined) t = { envelopes: 0, bytes: 0 }
    else t = { envelopes: t.envelopes + 1, bytes: t.bytes + e.envelope.length }
  })
  return t
}

export function due(t: LogTally | undefined, limits: SnapshotLimits): boolean {
  return t !== undefined && (t.envelopes >= limits.envelopes || t.bytes >= limits.bytes)
}

export interface SnapshotInput {
  handle: DocHandle
  docId: DocId
  readKey: Uint8Array
  roster: Uint8Array
  epoch: number
  uploader: Identity
  seq: number
  /** the last index of the log this tab has read (and applied) */
  covers: number
  put: (envelope: Uint8Array) => Promise<Result<PutAnswer>>
}

/**
 * Uploads a snapshot of the document covering the log up to `covers`. 'skipped' when there is
 * nothing to make one of yet (a change still being signed) or the document is too large for one
 * envelope (MESSAGE_TOO_LARGE: its log then stays as it is).
 */
export async function uploadSnapshot(
  s: SnapshotInput,
): Promise<Result<'done' | 'skipped', OrreryError>> {
  const snap = s.handle.snapshotForMirror()
  if (snap === undefined || snap === 'signing') return { ok: true, value: 'skipped' }
  let envelope: Uint8Array
  try {
    envelope = sealEnvelope({
      docId: s.docId,
      readKey: s.readKey,
      roster: s.roster,
      epoch: s.epoch,
      uploader: s.uploader,
      seq: s.seq,
      changes: [{ change: snap.doc }],
      snapshot: {
        covers: s.covers,
        signatures: snap.signatures,
        heads: snap.heads.map((h) => hexToBytes(h)),
      },
    })
  } catch {
    return { ok: true, value: 'skipped' } // larger than an envelope: the log stays
  }
  const put = await s.put(envelope)
  return put.ok ? { ok: true, value: 'done' } : put
}
