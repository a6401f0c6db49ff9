/**
 * A space's key epochs (issue 15). Each epoch is a random 256-bit key, sealed to every member's
 * identity in the space document, under `/keys/<epochId>`:
 *
 *   { n, at, by, check, sealed: { <did>: box } }
 *
 * `n` counts epochs (0 at the space's creation, then one more than the epoch it replaces);
 * `check` lets whoever holds a key (from an invite) tell which epoch it is without unsealing;
 * each box is `seal(member, key)` bound to the space and the epoch. Only admins write `/keys`
 * (the space policy refuses everyone else's changes there).
 *
 * The current epoch is the one with the highest (n, id): two admins rotating at once make two
 * epochs with the same n, and every peer picks the same one. Removing a member starts a new
 * epoch sealed to the others; a current epoch still sealed to someone who is no longer a member
 * (two concurrent removals, each sealed to the other's removed member) is replaced by the next
 * admin who sees it, so the rotations converge on an epoch that no removed member holds. A member
 * without a box in the current epoch (joined with an invite made before it) gets one from the next
 * admin who sees that. Old epochs' keys stay with those who had them.
 *
 * The documents of the space take their read keys from the current epoch (space-keys.ts), so a
 * removed member, who never gets the new key, can neither find nor be served what is written
 * after the removal. The space's own document keeps the read key derived from its first epoch.
 */
import { fromBase64Url, toBase64Url, utf8 } from '../bytes'
import { type Result } from '../errors'
import { randomKey, deriveKey } from '../keys/aead'
import { sealToMany } from '../keys/seal-many'
import { roleOf, type SpaceState } from './model'

export interface Epoch {
  id: string
  n: number
  at: number
  by: string
  check: string
  /** each member's box of the epoch key, by did */
  sealed: Map<string, string>
}

const CHECK_BYTES = 12
const MAX_SEALED = 10_000
const MAX_BOX_CHARS = 512
const isRecord = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v)

/** The epochs in a space document's value (malformed entries are skipped). */
export function readEpochs(value: unknown): Map<string, Epoch> {
  const out = new Map<string, Epoch>()
  const keys = isRecord(value) ? value.keys : undefined
  if (!isRecord(keys)) return out
  for (const [id, v] of Object.entries(keys)) {
    if (!isRecord(v) || !/^[A-Za-z0-9_-]{22}$/.test(id)) continue
    const { n, at, by, check, sealed } = v
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) continue
    if (typeof at !== 'number' || typeof by !== 'string' || typeof check !== 'string') continue
    if (fromBase64Url(check)?.length !== CHECK_BYTES || !isRecord(sealed)) continue
    const boxes = new Map<string, string>()
    for (const [did, box] of Object.entries(sealed).slice(0, MAX_SEALED))
      if (typeof box === 'string' && box.length <= MAX_BOX_CHARS) boxes.set(did, box)
    out.set(id, { id, n, at, by, check, sealed: boxes })
  }
  return out
}

/** The epoch in force: the highest n, ties broken by id (every peer agrees). */
export function currentEpoch(epochs: ReadonlyMap<string, Epoch>): Epoch | undefined {
  let best: Epoch | undefined
  for (const e of epochs.values())
    if (best === undefined || e.n > best.n || (e.n === best.n && e.id > best.id)) best = e
  return best
}

/** What an epoch record says of its key (a hash: it does not give the key away). */
export function epochCheck(key: Uint8Array, spaceId: string, epochId: string): string {
  const check = deriveKey(key, 'space-epoch-check/v1', utf8(`${spaceId}:${epochId}`))
  return toBase64Url(check.subarray(0, CHECK_BYTES))
}

/** What a member's box of an epoch key is bound to. */
export const sealingContext = (spaceId: string, epochId: string): Uint8Array =>
  utf8(`orrery/space-epoch/v1:${spaceId}:${epochId}`)

/** Which of `keys` is the key of `epoch`, if any. */
export function keyOfEpoch(
  keys: readonly Uint8Array[],
  spaceId: string,
  epoch: Epoch,
): Uint8Array | undefined {
  return keys.find((k) => epochCheck(k, spaceId, epoch.id) === epoch.check)
}

/** Who should hold the current epoch and does not, and who holds it and should not. */
export function sealDrift(state: SpaceState, epoch: Epoch): { missing: string[]; stale: string[] } {
  const members = [...state.members.keys()].filter((did) => roleOf(state, did) !== undefined)
  return {
    missing: members.filter((did) => !epoch.sealed.has(did)),
    stale: [...epoch.sealed.keys()].filter((did) => roleOf(state, did) === undefined),
  }
}

/** Boxes of `key` for these members (those whose did is not a usable key are left out). */
export async function sealEpochKey(
  spaceId: string,
  epochId: string,
  key: Uint8Array,
  dids: readonly string[],
): Promise<Record<string, string>> {
  const boxes: Map<string, Result<Uint8Array>> = await sealToMany(
    dids,
    key,
    sealingContext(spaceId, epochId),
  )
  const out: Record<string, string> = {}
  for (const [did, box] of boxes) if (box.ok) out[did] = toBase64Url(box.value)
  return out
}

/** A new epoch after `previous` (or the first), sealed to `dids`: its key and its record. */
export async function newEpoch(
  spaceId: string,
  previous: Epoch | undefined,
  dids: readonly string[],
  by: string,
  now: number,
  key: Uint8Array = randomKey(),
): Promise<{ id: string; key: Uint8Array; value: Record<string, unknown> }> {
  const id = toBase64Url(randomKey().subarray(0, 16))
  return {
    id,
    key,
    value: {
      n: previous === undefined ? 0 : previous.n + 1,
      at: now,
      by,
      check: epochCheck(key, spaceId, id),
      sealed: await sealEpochKey(spaceId, id, key, dids),
    },
  }
}
