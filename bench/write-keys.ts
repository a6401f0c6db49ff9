/**
 * What write keys cost a view-only reader and the writer who serves it (`npx tsx bench/write-keys.ts`).
 * Between two writers nothing is signed or verified (the W1/W2 bench measures that path); a
 * reader takes changes vouched for by the writer's signature over heads:
 *  - sign: the writer signs its head for a message to a reader (`headSignatures`);
 *  - one change: a reader judges a live message of one change (decode, one verification);
 *  - first sync: a reader judges a whole document of 5,000 changes (one chunk, one verification).
 *
 * Prints medians of 20 runs (after 3 warm-ups) and writes bench/results-write-keys.json.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { am } from '../src/core/automerge'
import { loadAutomergeNode } from '../src/core/automerge-node'
import { newDocId } from '../src/core/ids'
import { randomKey } from '../src/core/keys/aead'
import { signHead, writeKeyFromPublic, writeKeyFromSecret } from '../src/core/keys/write-key'
import { SigStore } from '../src/core/repo/sigs'
import { headSignatures, writeJudge } from '../src/core/repo/write-judge'
import { median } from './stats'

const RUNS = 20
const WARMUPS = 3
const CHANGES = 5_000

const time = (f: () => void): number => {
  const t = performance.now()
  f()
  return performance.now() - t
}

async function main(): Promise<void> {
  loadAutomergeNode()
  const id = newDocId()
  const writer = writeKeyFromSecret(id, randomKey())
  const gate = { key: () => writeKeyFromPublic(writer.pub), isWriter: () => false }
  const doc = am().create()
  for (let i = 0; i < CHANGES; i++) {
    doc.put('_root', `k${i % 100}`, i)
    doc.commit()
  }
  const whole = doc.save()
  const head = doc.getHeads()[0] as string
  const headSig = signHead(writer, head)!
  const last = doc.getLastLocalChange()!
  const message = am().encodeSyncMessage({ heads: [head], need: [], have: [], changes: [last] })
  const all = { sign: [] as number[], one: [] as number[], first: [] as number[] }
  for (let run = 0; run < WARMUPS + RUNS; run++) {
    const sign = time(() => headSignatures(doc, message, writer, new SigStore()))
    const one = time(() => {
      const r = writeJudge(gate).check(
        [last],
        () => headSig,
        (h) => h !== head,
      )
      if (!r.ok) throw r.error
    })
    const first = time(() => {
      const r = writeJudge(gate).check(
        [whole],
        (h) => (h === head ? headSig : undefined),
        () => false,
      )
      if (!r.ok || r.value.length !== CHANGES) throw new Error('the whole document was refused')
    })
    if (run < WARMUPS) continue
    all.sign.push(sign)
    all.one.push(one)
    all.first.push(first)
  }
  const round = (x: number): number => Math.round(x * 100) / 100
  const results = {
    at: new Date().toISOString(),
    signHeadMs: round(median(all.sign)),
    judgeOneChangeMs: round(median(all.one)),
    judgeFirstSync5000Ms: round(median(all.first)),
  }
  console.log(`writer signs its head for a reader: ${results.signHeadMs} ms`)
  console.log(`reader judges a one-change message: ${results.judgeOneChangeMs} ms`)
  console.log(
    `reader judges a first sync of ${CHANGES} changes: ${results.judgeFirstSync5000Ms} ms`,
  )
  writeFileSync(
    path.join(import.meta.dirname, 'results-write-keys.json'),
    JSON.stringify(results, null, 2) + '\n',
  )
}

await main()
