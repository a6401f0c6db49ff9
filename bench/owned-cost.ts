/**
 * The extra cost of the owned-path rule (issue 13) per incoming change to a data document: 5,000
 * one-operation changes (a set, as W2 makes them) admitted by `OwnedPaths.admit` and then applied,
 * in batches of 1 and of 100, against the time Automerge takes to apply them alone:
 *
 *   plain   a document without any `~<did>` key (the rule scans the bytes, decodes nothing)
 *   owned   every change writes under its author's own `~<did>` key (decoded, owners cached)
 *   shared  an ordinary key, in a document that also has an owned key (decoded, cached)
 *
 *   npx tsx bench/owned-cost.ts
 */
import { loadAutomergeNode } from '../src/core/automerge-node'
import { am, type AutomergeDoc } from '../src/core/automerge'
import { bytesToHex, sha256 } from '../src/core/bytes'
import { identityFromSeed } from '../src/core/identity'
import { OwnedPaths, ownedKey, type ChangeBytes } from '../src/core/spaces/owned'

loadAutomergeNode()

const N = 5000
const wes = identityFromSeed(new Uint8Array(32).fill(2), 0)

function changes(kind: 'plain' | 'owned' | 'shared'): { base: Uint8Array; items: ChangeBytes[] } {
  const doc = am().create({ actor: '01'.repeat(16) })
  const target = kind === 'owned' ? ownedKey(wes.id) : 'shared'
  if (kind !== 'plain') doc.putObject('_root', ownedKey(wes.id), {})
  doc.putObject('_root', 'shared', {})
  doc.commit()
  const base = doc.save()
  const obj = (doc.getWithType('_root', target) as [string, string])[1]
  const items: ChangeBytes[] = []
  for (let i = 0; i < N; i++) {
    doc.put(obj, `k${i % 100}`, i)
    doc.commit()
    const bytes = doc.getLastLocalChange()!
    const { actor, seq } = am().decodeChange(bytes)
    const hash = bytesToHex(sha256(bytes.subarray(8)))
    items.push({ change: { hash, actor, seq, author: wes.id, bytes }, bytes })
  }
  doc.free()
  return { base, items }
}

/** Applies every change in batches; returns [ms applying, ms in the rule]. */
function run(base: Uint8Array, items: ChangeBytes[], batch: number): [number, number] {
  const doc: AutomergeDoc = am().load(base)
  const owned = new OwnedPaths()
  let applying = 0
  let judging = 0
  for (let i = 0; i < items.length; i += batch) {
    const part = items.slice(i, i + batch)
    const t0 = performance.now()
    const r = owned.admit(doc, part)
    if (!r.ok) throw r.error
    const t1 = performance.now()
    doc.applyChanges(part.map((p) => p.bytes))
    applying += performance.now() - t1
    judging += t1 - t0
  }
  doc.free()
  return [applying, judging]
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

for (const kind of ['plain', 'owned', 'shared'] as const) {
  const { base, items } = changes(kind)
  for (const batch of [1, 100]) {
    const apply: number[] = []
    const rule: number[] = []
    for (let round = 0; round < 5; round++) {
      const [a, r] = run(base, items, batch)
      apply.push(a)
      rule.push(r)
    }
    const a = median(apply)
    const r = median(rule)
    console.log(
      `${kind.padEnd(6)} batch ${String(batch).padStart(3)}: applying ${((a * 1000) / N).toFixed(1)} µs/change, ` +
        `the rule ${((r * 1000) / N).toFixed(2)} µs/change (${((r / a) * 100).toFixed(1)}% of applying)`,
    )
  }
}
