/**
 * Chaos L1: ten honest peers and an outsider, full Orrery peers over `@libp2p/memory` with
 * latency (cluster.ts), under a seeded schedule of edits, partitions, heals, peers killed and
 * restarted mid-sync and slow disks. After healing: the invariants of invariants.ts, and no
 * honest peer struck by another's firewall. A failure prints the seed and the schedule.
 *
 * Replay: CHAOS_SEED=<seed> npx vitest run test/chaos/l1.test.ts (CHAOS_L1_RUNS schedules from
 * that seed on; npm run chaos runs 50).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { identityFromSeed } from '../../src/core/identity'
import { newDocId } from '../../src/core/ids'
import { waitFor } from '../peers'
import { ClusterPeer, mulberry32, type ClusterDocs } from './cluster'
import { report, summarize } from './figures'
import { chaosSpace, checkInvariants, headsAt, type Holder, type Write } from './invariants'
import { noFigures, type RunFigures } from './model'

const runs = Number(process.env.CHAOS_L1_RUNS ?? 1)
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31)
const HONEST = 10

let live: ClusterPeer[] = []
afterEach(async () => {
  await Promise.all(live.filter((p) => p.alive).map((p) => p.kill().catch(() => undefined)))
  live = []
})

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function runSchedule(runSeed: number, steps: number, log: string[]): Promise<RunFigures> {
  const rand = mulberry32(runSeed)
  const int = (n: number): number => Math.floor(rand() * n)
  const spaceId = newDocId()
  const ids = Array.from({ length: HONEST + 1 }, (_, i) =>
    identityFromSeed(new Uint8Array(32).fill(i + 1), 0),
  )
  const docs: ClusterDocs = {
    free: newDocId(),
    governed: newDocId(),
    spaceId,
    space: chaosSpace(spaceId, ids[0]!, ids.slice(1, HONEST)),
  }
  const peers = ids.map(
    (id, i) => new ClusterPeer(i < HONEST ? `p${i}` : 'x', id, i === HONEST, docs, 1 + int(15)),
  )
  live = peers
  const honest = peers.slice(0, HONEST)
  const outsider = peers[HONEST]!
  for (const p of peers) await p.boot()
  // a ring and a few chords: changes have to cross several hops
  for (let i = 0; i < peers.length; i++) {
    await peers[i]!.dial(peers[(i + 1) % peers.length]!)
    await peers[i]!.dial(peers[int(peers.length)]!)
  }
  const writes: Write[] = []
  const figures: RunFigures = noFigures()
  let n = 0
  for (let step = 0; step < steps; step++) {
    const r = rand()
    const p = honest[int(HONEST)]!
    const q = peers[int(peers.length)]!
    if (r < 0.45) {
      if (!p.alive) continue
      const doc = rand() < 0.5 ? docs.free : docs.governed
      const key = `${p.name}-${++n}`
      await p.peer.state.set(`/${doc}/w/${key}`, key)
      await p.peer.state.set(`/${doc}/s/k${int(4)}`, key)
      writes.push({ doc, key, writer: p.name, status: 'acked' })
      log.push(`${step}: ${p.name} writes ${key}`)
    } else if (r < 0.52) {
      await outsider.peer.state.set(`/${docs.governed}/x/${step}`, 'outsider')
      log.push(`${step}: the outsider writes`)
    } else if (r < 0.62) {
      if (p === q) continue
      await p.cut(q)
      log.push(`${step}: cut ${p.name} | ${q.name}`)
    } else if (r < 0.72) {
      p.blocked.delete(q.id)
      q.blocked.delete(p.id)
      await p.dial(q)
      log.push(`${step}: heal ${p.name} - ${q.name}`)
    } else if (r < 0.84) {
      // killed mid-sync: messages are in flight (latency); back as a new tab on the same disk
      const old = p.id
      await p.kill()
      for (const w of writes) if (w.writer === p.name && w.status === 'acked') w.status = 'maybe'
      figures.crashes++
      await p.boot()
      for (const o of peers) if (o.blocked.delete(old)) o.blocked.add(p.id)
      for (let i = 0; i < 3; i++) await p.dial(peers[int(peers.length)]!)
      log.push(`${step}: kill and restart ${p.name}`)
    } else if (r < 0.9) {
      const before = writes.filter((w) => w.writer === p.name && w.status === 'acked')
      const done = p.peer.state.flush()
      await p.port.release()
      await done
      for (const w of before) w.status = 'durable'
      log.push(`${step}: ${p.name} flush`)
    } else if (r < 0.95) {
      p.disk.hold = true
      log.push(`${step}: ${p.name} disk slow`)
    } else {
      log.push(`${step}: pause`)
    }
    if (rand() < 0.5) await sleep(int(25))
  }

  // heal: every disk catches up, every partition ends, everyone dials everyone
  for (const p of peers) {
    p.blocked.clear()
    await p.port.release()
  }
  const wall = performance.now()
  for (let i = 0; i < peers.length; i++)
    for (let j = i + 1; j < peers.length; j++) await peers[i]!.dial(peers[j]!)
  const holders: Holder[] = honest.map((p) => ({
    label: p.id.slice(-6) + `(${p.name})`,
    repo: p.peer.repo,
    state: p.peer.state,
  }))
  await waitFor(
    () =>
      new Set(headsAt(holders, docs.free)).size === 1 &&
      new Set(headsAt(holders, docs.governed)).size === 1,
    60_000,
    `convergence after heal (seed ${runSeed})`,
  ).catch(() => undefined) // checkInvariants names what differs
  figures.convergeWallMs = performance.now() - wall
  await checkInvariants(
    holders,
    writes,
    docs,
    honest.map((p) => p.identity.id),
    figures,
  )
  for (const p of honest) {
    for (const [who, s] of Object.entries(p.peer.firewall.stats())) {
      if (s.strikes > 0 && who !== outsider.id)
        throw new Error(`${p.name} struck ${who}: ${s.lastStrike}`)
    }
  }
  await Promise.all(peers.map((p) => p.kill()))
  live = []
  return figures
}

describe('chaos L1: ten peers over @libp2p/memory with latency, killed and restarted', () => {
  it(
    `keeps its invariants over ${runs} schedule(s) (seed ${seed})`,
    async () => {
      const all: RunFigures[] = []
      for (let i = 0; i < runs; i++) {
        const log: string[] = []
        try {
          all.push(await runSchedule(seed + i, 30, log))
        } catch (e) {
          throw new Error(
            `${String(e)}\nreplay: CHAOS_SEED=${seed + i} CHAOS_L1_RUNS=1 npx vitest run test/chaos/l1.test.ts\nschedule:\n${log.join('\n')}`,
            { cause: e },
          )
        }
      }
      const summary = summarize(all, runs, seed)
      report('L1', summary)
      expect(summary.converged).toBe(runs)
      expect(summary.acknowledgedLost).toBe(0)
    },
    Number(process.env.CHAOS_TIMEOUT_MS ?? 120_000),
  )
})
