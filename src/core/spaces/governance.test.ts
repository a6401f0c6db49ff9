/**
 * The space document's changes replayed in causal order: a member's change that depends on an
 * admin's change must be judged as its own author's, whatever order the two arrive in.
 */
import { describe, expect, it } from 'vitest'
import { am, type AutomergeDoc } from '../automerge'
import { bytesToHex, sha256 } from '../bytes'
import type { IncomingChange } from '../repo/governance'
import type { Identity } from '../identity'
import { replaySpaceChanges } from './governance'
import { SPACE, T0, HOUR, ada, rae, teamValue, wes } from './test-fixtures'

const NOW = T0 + HOUR

function spaceDoc(): AutomergeDoc {
  const doc = am().create({ actor: '01'.repeat(16) })
  for (const [k, x] of Object.entries(teamValue())) doc.putObject('_root', k, x as never)
  doc.commit()
  return doc
}

let actors = 0x20
/** `author` edits a fork of `base` and commits: the change and what the verifier is told of it. */
function change(
  base: AutomergeDoc,
  author: Identity,
  edit: (d: AutomergeDoc) => void,
): { bytes: Uint8Array; incoming: IncomingChange; fork: AutomergeDoc } {
  const fork = base.fork((actors++).toString(16).padStart(32, '0'))
  edit(fork)
  fork.commit()
  const bytes = fork.getLastLocalChange()
  if (bytes === null) throw new Error('no change')
  const { actor, seq } = am().decodeChange(bytes)
  const hash = bytesToHex(sha256(bytes.subarray(8)))
  return { bytes, fork, incoming: { hash, actor, seq, author: author.id } }
}

const memberMap = (d: AutomergeDoc, did: string): string => {
  const members = d.getWithType('_root', 'members') as [string, string]
  return (d.getWithType(members[1], did) as [string, string])[1]
}

/** ada (admin) renames the space; rae (reader), having seen it, makes herself admin. */
function escalation(doc: AutomergeDoc) {
  const admin = change(doc, ada, (d) => d.put('_root', 'name', 'Renamed'))
  const reader = change(admin.fork, rae, (d) => d.put(memberMap(d, rae.id), 'role', 'admin'))
  return { admin, reader }
}

describe('replaySpaceChanges', () => {
  it("judges a reader's change as the reader's even when it arrives before its dependency", () => {
    // regression: applied in arrival order, the reader's change was queued by Automerge (empty
    // patches, allowed) and then applied together with the admin's, judged as the admin's
    const doc = spaceDoc()
    const { admin, reader } = escalation(doc)
    const r = replaySpaceChanges(
      doc,
      [reader.incoming, admin.incoming],
      [reader.bytes, admin.bytes],
      SPACE,
      NOW,
    )
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('NOT_ALLOWED')
  })

  it('refuses (to retry later) a change whose dependency has not arrived', () => {
    const doc = spaceDoc()
    const { reader } = escalation(doc)
    const r = replaySpaceChanges(doc, [reader.incoming], [reader.bytes], SPACE, NOW)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe('MISSING_DEPS')
  })

  it('accepts honest changes in any arrival order', () => {
    const doc = spaceDoc()
    const admin = change(doc, ada, (d) => d.put('_root', 'name', 'Renamed'))
    const writer = change(admin.fork, wes, (d) => d.put(memberMap(d, wes.id), 'name', 'Wes'))
    const r = replaySpaceChanges(
      doc,
      [writer.incoming, admin.incoming],
      [writer.bytes, admin.bytes],
      SPACE,
      NOW,
    )
    expect(r).toEqual({ ok: true, value: undefined })
  })
})
