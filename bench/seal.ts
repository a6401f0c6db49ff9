/**
 * Sealing cost (`npx tsx bench/seal.ts`): sealing one 32-byte key to each of 100 members by
 * did:key (what a space does when it rotates its key), and opening one sealed box. Members are
 * fresh identities for every run, so nothing is cached between runs; making them is not timed.
 *
 * Prints the medians of 20 runs (after 3 warm-ups) and writes bench/results-seal.json.
 * Target: sealing to 100 members in <= 50 ms.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { utf8 } from '../src/core/bytes'
import { generateIdentity } from '../src/core/identity'
import { randomKey, sealTo, seedKeyStore } from '../src/core/keys'

const MEMBERS = 100
const RUNS = 20
const WARMUPS = 3
const TARGET_MS = 50
const CONTEXT = utf8('bench/space/epoch:1')

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

async function run(): Promise<{ sealMs: number; openMs: number }> {
  const members = Array.from({ length: MEMBERS }, () => generateIdentity())
  const dids = members.map((m) => m.id)
  const key = randomKey()

  const t0 = performance.now()
  const boxes: Uint8Array[] = []
  for (const did of dids) {
    const r = sealTo(did, key, CONTEXT)
    if (!r.ok) throw r.error
    boxes.push(r.value)
  }
  const sealMs = performance.now() - t0

  // the member's key store is made before timing: opening is what a member does per box
  const store = seedKeyStore(members[0] as (typeof members)[0])
  const box = boxes[0] as Uint8Array
  const t1 = performance.now()
  const opened = await store.unseal(box, CONTEXT)
  const openMs = performance.now() - t1
  if (!opened.ok || opened.value.length !== key.length) throw new Error('the box did not open')
  return { sealMs, openMs }
}

async function main(): Promise<void> {
  for (let i = 0; i < WARMUPS; i++) await run()
  const seals: number[] = []
  const opens: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const { sealMs, openMs } = await run()
    seals.push(sealMs)
    opens.push(openMs)
  }
  const sealTo100Ms = Math.round(median(seals) * 10) / 10
  const openOneMs = Math.round(median(opens) * 100) / 100
  console.log(
    `seal to ${MEMBERS} members: ${sealTo100Ms} ms (median of ${RUNS}); open one: ${openOneMs} ms` +
      (sealTo100Ms <= TARGET_MS ? '' : ` (over the ${TARGET_MS} ms target)`),
  )
  const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results-seal.json')
  const result = {
    date: new Date().toISOString(),
    sealTo100Ms,
    openOneMs,
    node: process.version,
  }
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
