/**
 * The cost of judging a change to a space document by its operations (issue 12, hole 3), on the
 * hot path of every incoming space change: `changeOps` alone (resolving each operation's object
 * to a path as of the change's dependencies) and the whole `replaySpaceChanges`, for a writer's
 * change of 1 operation and of 100, in a space of `MEMBERS` members and `DOCS` documents.
 *
 *   npx tsx bench/judge-ops.ts            (MEMBERS=10 DOCS=10 for a small space)
 */
import { loadAutomergeNode } from '../src/core/automerge-node'
import { am, type AutomergeDoc } from '../src/core/automerge'
import { bytesToHex, sha256 } from '../src/core/bytes'
import { identityFromSeed } from '../src/core/identity'
import { toBase58 } from '../src/core/bytes'
import { changeOps } from '../src/core/spaces/change-ops'
import { replaySpaceChanges } from '../src/core/spaces/governance'
import { newSpaceValue } from '../src/core/spaces/model'

loadAutomergeNode()

const MEMBERS = Number(process.env.MEMBERS ?? 200)
const DOCS = Number(process.env.DOCS ?? 200)
const ROUNDS = 200
const T0 = 1_750_000_000_000

const admin = identityFromSeed(new Uint8Array(32).fill(1), 0)
const writer = identityFromSeed(new Uint8Array(32).fill(2), 0)
const space = toBase58(new Uint8Array(16).fill(7))
let n = 0
const docId = (): string => {
  const b = new Uint8Array(16)
  new DataView(b.buffer).setUint32(0, ++n)
  b[15] = 0x5a
  return toBase58(b)
}

function spaceDoc(): AutomergeDoc {
  const v = newSpaceValue('Bench', admin, T0)
  v.members[writer.id] = { role: 'writer', addedBy: admin.id, addedAt: T0 }
  for (let i = 0; i < MEMBERS; i++) {
    const who = identityFromSeed(new Uint8Array(32).fill(3), i + 1)
    v.members[who.id] = { role: 'reader', addedBy: admin.id, addedAt: T0 }
  }
  for (let i = 0; i < DOCS; i++) v.docs[docId()] = { addedBy: admin.id, addedAt: T0 }
  const doc = am().create({ actor: '01'.repeat(16) })
  for (const [k, x] of Object.entries(v)) doc.putObject('_root', k, x as never)
  doc.commit()
  return doc
}

/**
 * A writer's change of `ops` operations: a rename of themselves (1 operation), plus new document
 * entries (a map and two fields each) for the rest.
 */
function writerChange(base: AutomergeDoc, ops: number): Uint8Array {
  const fork = base.fork('02'.repeat(16))
  const at = (obj: string, key: string): string =>
    (fork.getWithType(obj, key) as [string, string])[1]
  fork.put(at(at('_root', 'members'), writer.id), 'name', 'Wes')
  const docs = at('_root', 'docs')
  for (let i = 0; i < Math.floor((ops - 1) / 3); i++)
    fork.putObject(docs, docId(), { addedBy: writer.id, addedAt: T0 })
  fork.commit()
  return fork.getLastLocalChange()!
}

function measure(ops: number): void {
  const doc = spaceDoc()
  const bytes = writerChange(doc, ops)
  const decoded = am().decodeChange(bytes)
  const incoming = {
    hash: bytesToHex(sha256(bytes.subarray(8))),
    actor: decoded.actor,
    seq: decoded.seq,
    author: writer.id,
  }
  const copy = doc.clone()
  copy.applyChanges([bytes])
  let t = performance.now()
  for (let i = 0; i < ROUNDS; i++) changeOps(copy, decoded)
  const opsMs = (performance.now() - t) / ROUNDS
  t = performance.now()
  for (let i = 0; i < ROUNDS; i++) {
    const r = replaySpaceChanges(doc, [incoming], [bytes], space, T0 + 1000)
    if (!r.ok) throw r.error
  }
  const allMs = (performance.now() - t) / ROUNDS
  console.log(
    `${String(decoded.ops.length).padStart(3)} op(s): changeOps ${(opsMs * 1000).toFixed(0)} µs, ` +
      `whole replaySpaceChanges ${allMs.toFixed(2)} ms (ops ${((opsMs / allMs) * 100).toFixed(1)}%)`,
  )
}

console.log(`space of ${MEMBERS + 2} members and ${DOCS} documents, ${ROUNDS} rounds each`)
measure(1)
measure(100)
