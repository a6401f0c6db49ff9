/**
 * Sealing cost (`npx tsx bench/seal.ts`): sealing one 32-byte key to each of 100 members by
 * did:key (what a space does when it rotates its key), and opening one sealed box. Sealing is
 * timed two ways: one `sealTo` per member in turn (seal.ts, pure JS), and one `sealToMany` for
 * all of them (seal-many.ts: WebCrypto's X25519 where the platform has it, run concurrently).
 * Members are fresh identities for every run, so nothing is cached between runs; making them is
 * not timed. The two ways take turns in each run, so a change in load hits both alike.
 *
 * Prints the medians of 20 runs (after 3 warm-ups) and writes bench/results-seal.json.
 * Target: sealing to 100 members in <= 50 ms.
 */
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { utf8 } from '../src/core/bytes'
import { generateIdentity } from '../src/core/identity'
import { randomKey, sealTo, sealToMany, seedKeyStore } from '../src/core/keys'
import { hasNativeX25519 } from '../src/core/keys/seal-many'
import { median } from './stats'

const MEMBERS = 100
const RUNS = 20
const WARMUPS = 3
const TARGET_MS = 50
const CONTEXT = utf8('bench/space/epoch:1')

async function run(): Promise<{ sealMs: number; manyMs: number; openMs: number }> {
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

  const t2 = performance.now()
  const many = await sealToMany(dids, key, CONTEXT)
  const manyMs = performance.now() - t2
  for (const did of dids) {
    const r = many.get(did)
    if (r === undefined || !r.ok) throw r?.error ?? new Error(`no box for ${did}`)
  }

  // the member's key store is made before timing: opening is what a member does per box
  const store = seedKeyStore(members[0] as (typeof members)[0])
  const box = boxes[0] as Uint8Array
  const t1 = performance.now()
  const opened = await store.unseal(box, CONTEXT)
  const openMs = performance.now() - t1
  if (!opened.ok || opened.value.length !== key.length) throw new Error('the box did not open')
  const manyBox = many.get(dids[0] as string)
  const openedMany = manyBox?.ok === true ? await store.unseal(manyBox.value, CONTEXT) : undefined
  if (openedMany?.ok !== true) throw new Error('the sealToMany box did not open')
  return { sealMs, manyMs, openMs }
}

async function main(): Promise<void> {
  for (let i = 0; i < WARMUPS; i++) await run()
  const seals: number[] = []
  const manys: number[] = []
  const opens: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const { sealMs, manyMs, openMs } = await run()
    seals.push(sealMs)
    manys.push(manyMs)
    opens.push(openMs)
  }
  const native = await hasNativeX25519()
  const sealTo100Ms = Math.round(median(seals) * 10) / 10
  const sealToMany100Ms = Math.round(median(manys) * 10) / 10
  const openOneMs = Math.round(median(opens) * 100) / 100
  const over = (ms: number): string => (ms <= TARGET_MS ? '' : ` (over the ${TARGET_MS} ms target)`)
  console.log(
    `seal to ${MEMBERS} members, sealTo each: ${sealTo100Ms} ms${over(sealTo100Ms)}\n` +
      `seal to ${MEMBERS} members, sealToMany (${native ? 'WebCrypto X25519' : 'no WebCrypto X25519: pure JS'}): ` +
      `${sealToMany100Ms} ms${over(sealToMany100Ms)}\n` +
      `open one: ${openOneMs} ms (medians of ${RUNS})`,
  )
  const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'results-seal.json')
  const result = {
    date: new Date().toISOString(),
    sealTo100Ms,
    sealToMany100Ms,
    sealToManyNative: native,
    openOneMs,
    node: process.version,
  }
  writeFileSync(out, JSON.stringify(result, null, 2) + '\n')
}

main().catch((e: unknown) => {
  console.error(e)
  process.exitCode = 1
})
