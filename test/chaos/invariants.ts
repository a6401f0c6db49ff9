/**
 * What every chaos layer checks once the network is healed and quiet, over the peers that hold
 * the documents (honest ones; the outsider is not expected to agree):
 *
 * - convergence: the same heads and the same value of every document everywhere;
 * - the history of acknowledged writes: every `set` that resolved is present at every peer,
 *   except writes a SIGKILLed page had not `flush()`ed (status `maybe`: promised nothing);
 * - only member-signed changes: the outsider's keys never arrive, and every change of the
 *   governed document carries a stored signature by a member of its space.
 */
import { am } from '../../src/core/automerge'
import type { Identity } from '../../src/core/identity'
import type { DocId } from '../../src/core/ids'
import type { Repo } from '../../src/core/repo/repo'
import { newSpaceValue, readSpace, type SpaceState } from '../../src/core/spaces/model'
import type { StateApi } from '../../src/core/state'

export class ChaosViolation extends Error {
  readonly code = 'CHAOS_VIOLATION'
  constructor(message: string) {
    super(message)
    this.name = 'ChaosViolation'
  }
}

/** One acknowledged write to a key of its own (`/<doc>/w/<key>`, value = key). */
export interface Write {
  doc: DocId
  key: string
  writer: string
  /** acked: `set` resolved; durable: a `flush()` after it resolved; maybe: its page was killed first */
  status: 'acked' | 'durable' | 'maybe'
}

export interface Holder {
  label: string
  repo: Repo
  state: StateApi
}

export interface HistoryFigures {
  acked: number
  lost: number
  unpromisedLost: number
}

/** The space of the governed document: the first identity its admin, the others writers. */
export function chaosSpace(spaceId: string, admin: Identity, writers: Identity[]): SpaceState {
  const value = newSpaceValue('chaos', admin, 1_750_000_000_000)
  for (const w of writers) value.members[w.id] = { role: 'writer', addedBy: admin.id, addedAt: 1 }
  return readSpace(value, spaceId)
}

/** JSON with sorted keys (the same value read at two peers gives the same string). */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x !== null && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : x,
  )
}

/** The sorted heads of a document at each holder (the same string everywhere once converged). */
export function headsAt(holders: Holder[], doc: DocId): string[] {
  return holders.map((p) => [...(p.repo.get(doc)?.heads ?? [])].sort().join(','))
}

export async function checkInvariants(
  holders: Holder[],
  writes: Write[],
  docs: { free: DocId; governed: DocId },
  members: string[],
  figures: HistoryFigures,
): Promise<void> {
  for (const doc of [docs.free, docs.governed]) {
    const heads = headsAt(holders, doc)
    if (new Set(heads).size !== 1)
      throw new ChaosViolation(
        `no convergence on the ${doc === docs.free ? 'free' : 'governed'} document: ${holders.map((p, i) => `${p.label} ${heads[i]?.slice(0, 16)}`).join(' / ')}`,
      )
    const values = await Promise.all(
      holders.map(async (p) => canonical(await p.state.get(`/${doc}`))),
    )
    if (new Set(values).size !== 1)
      throw new ChaosViolation(`same heads, different values: ${values.join(' / ')}`)
  }
  const lost: string[] = []
  for (const p of holders) {
    for (const w of writes) {
      if (w.status === 'maybe' || (await p.state.get(`/${w.doc}/w/${w.key}`)) === w.key) continue
      lost.push(`${w.key} (${w.status}) at ${p.label}`)
    }
  }
  const first = holders[0] as Holder
  for (const w of writes)
    if (w.status === 'maybe' && (await first.state.get(`/${w.doc}/w/${w.key}`)) !== w.key)
      figures.unpromisedLost++
  figures.acked = writes.filter((w) => w.status !== 'maybe').length
  figures.lost = lost.length
  if (lost.length > 0)
    throw new ChaosViolation(`acknowledged writes lost: ${lost.slice(0, 10).join(', ')}`)
  for (const p of holders) {
    const h = p.repo.get(docs.governed)
    if (h === undefined) throw new ChaosViolation(`${p.label} lost the governed document`)
    if ((await p.state.get(`/${docs.governed}/x`)) !== undefined)
      throw new ChaosViolation(`${p.label} admitted the outsider's changes`)
    const signed = members.map((m) => h.actorsOf(m))
    const doc = am().load(h.save())
    try {
      for (const c of doc.getChangesMeta([])) {
        if (!signed.some((s) => (s[c.actor] ?? 0) >= c.seq))
          throw new ChaosViolation(
            `${p.label} holds change ${c.actor.slice(0, 8)}:${c.seq} without a member's signature`,
          )
      }
    } finally {
      doc.free()
    }
  }
}
