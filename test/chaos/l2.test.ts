/**
 * Chaos L2: the real relay and four honest Node peers of the core plus an outsider, each a
 * process in its own network namespace (l2/netns.ts, l2/procs.ts, l2/peer-main.ts), under a
 * seeded schedule of writes, flushes and faults: nftables random loss and partitions, tbf rate
 * limits, SIGKILL + restart of peers (from their file logs) and of the relay, SIGSTOP/SIGCONT of
 * peers and of the relay. After healing: convergence, then every peer stopped and its disk read
 * back in this process for the invariants of invariants.ts (every acknowledged write present,
 * nothing unsigned admitted).
 *
 * Skips, saying why, where it cannot make namespaces (not root, no iproute2 or nftables).
 * Replay: CHAOS_SEED=<seed> CHAOS_L2_RUNS=1 npx vitest run test/chaos/l2.test.ts (inside
 * `unshare -n`; npm run chaos runs CHAOS_L2_RUNS schedules).
 */
import { openShared } from '../shared-key'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { identityFromSeed } from '../../src/core/identity'
import { newDocId, type DocId } from '../../src/core/ids'
import type { Governance } from '../../src/core/repo/governance'
import { Repo } from '../../src/core/repo/repo'
import { docGovernance } from '../../src/core/spaces/governance'
import { StateApi } from '../../src/core/state'
import { mulberry32 } from './cluster'
import { report, summarize } from './figures'
import { chaosSpace, checkInvariants, ChaosViolation, type Holder, type Write } from './invariants'
import { noFigures, type RunFigures } from './model'
import { FileLogStorage } from './l2/file-storage'
import { ChaosNet, cannotRun } from './l2/netns'
import { bundlePeer, killAll, PeerProc, RelayProc, removeBundle } from './l2/procs'
import { identitySeed } from './l2/protocol'

const runs = Number(process.env.CHAOS_L2_RUNS ?? 1)
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31)
const HONEST = 4
const STEPS = Number(process.env.CHAOS_L2_STEPS ?? 24)
const HEAL_MS = 90_000

const why = cannotRun()
if (why !== undefined) console.log(`chaos L2 skipped: ${why}`)

let net: ChaosNet | undefined
const dirs: string[] = []
beforeAll(async () => {
  if (why === undefined) await bundlePeer()
})
afterAll(() => {
  killAll()
  removeBundle()
  net?.cleanup()
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

type Summary = ReturnType<typeof summarize>

/** L2's figures beyond the shared ones: the faults each schedule injected. */
interface Faults {
  loss: number
  partitions: number
  rateLimits: number
  peerKills: number
  peerStops: number
  relayKills: number
  relayStops: number
}

async function runSchedule(runSeed: number, lines: string[], faults: Faults): Promise<RunFigures> {
  const t0 = performance.now()
  const log = {
    push: (line: string): number =>
      lines.push(`${((performance.now() - t0) / 1000).toFixed(1)}s ${line}`),
  }
  const rand = mulberry32(runSeed)
  const int = (n: number): number => Math.floor(rand() * n)
  const dir = mkdtempSync(path.join(tmpdir(), 'chaos-l2-'))
  dirs.push(dir)
  const docs = { free: newDocId(), governed: newDocId() }
  const spaceId = newDocId()
  const names = [...Array.from({ length: HONEST }, (_, i) => `p${i}`), 'x']
  net = new ChaosNet()
  net.setup(['relay', ...names])
  const relay = new RelayProc(net, 'relay', path.join(dir, 'relay'))
  const peers = names.map(
    (name, i) =>
      new PeerProc(net as ChaosNet, name, {
        name,
        index: i,
        honest: HONEST,
        intruder: i === HONEST,
        free: docs.free,
        governed: docs.governed,
        spaceId,
        file: path.join(dir, name, 'log'),
      }),
  )
  const honest = peers.slice(0, HONEST)
  const outsider = peers[HONEST] as PeerProc
  await relay.start()
  await Promise.all(peers.map((p) => p.start(relay)))
  log.push(`booted relay and ${names.join(', ')}`)

  const writes: Write[] = []
  const figures: RunFigures = noFigures()
  const hosts = ['relay', ...names]
  /** A killed peer back on its log: every write it flushed must be there before any sync. */
  const restart = async (p: PeerProc): Promise<void> => {
    const flushed = writes
      .filter((w) => w.writer === p.name && w.status === 'durable')
      .map((w) => ({
        doc: w.doc === docs.free ? ('free' as const) : ('governed' as const),
        key: w.key,
      }))
    const missing = await p.start(relay, flushed)
    if (missing.length > 0)
      throw new ChaosViolation(`${p.name} restarted without flushed writes ${missing.join(', ')}`)
  }
  let n = 0
  for (let step = 0; step < STEPS; step++) {
    const r = rand()
    const p = honest[int(HONEST)] as PeerProc
    if (r < 0.4) {
      if (!p.running) continue
      for (let k = 1 + int(3); k > 0; k--) {
        const doc = rand() < 0.5 ? 'free' : 'governed'
        const key = `${p.name}-${++n}`
        await p.request({ op: 'write', doc, key, slot: int(4) })
        writes.push({ doc: docs[doc], key, writer: p.name, status: 'acked' })
        log.push(`${step}: ${p.name} writes ${key} (${doc})`)
      }
    } else if (r < 0.45) {
      if (!outsider.running) continue
      await outsider.request({ op: 'outsider', key: String(step) })
      log.push(`${step}: the outsider writes`)
    } else if (r < 0.55) {
      if (!p.running) continue
      const before = writes.filter((w) => w.writer === p.name && w.status === 'acked')
      await p.request({ op: 'flush' })
      for (const w of before) w.status = 'durable'
      log.push(`${step}: ${p.name} flush`)
    } else if (r < 0.62) {
      const h = hosts[int(hosts.length)] as string
      const pct = 5 + int(26)
      net.loss(h, pct)
      faults.loss++
      log.push(`${step}: ${h} loses ${pct}%`)
    } else if (r < 0.7) {
      const a = hosts[int(hosts.length)] as string
      const b = hosts[int(hosts.length)] as string
      if (a === b) continue
      net.partition(a, b)
      faults.partitions++
      log.push(`${step}: partition ${a} | ${b}`)
    } else if (r < 0.74) {
      const h = hosts[int(hosts.length)] as string
      const kbit = 64 << int(4)
      net.rate(h, kbit)
      faults.rateLimits++
      figures.throttled++
      log.push(`${step}: ${h} limited to ${kbit} kbit/s`)
    } else if (r < 0.78) {
      net.heal()
      log.push(`${step}: network healed`)
    } else if (r < 0.86) {
      if (!p.alive) continue
      await p.kill()
      for (const w of writes) if (w.writer === p.name && w.status === 'acked') w.status = 'maybe'
      figures.crashes++
      faults.peerKills++
      if (rand() < 0.7) {
        await restart(p)
        figures.restarts++
        log.push(`${step}: SIGKILL ${p.name}, restarted`)
      } else log.push(`${step}: SIGKILL ${p.name} (down)`)
    } else if (r < 0.9) {
      if (!p.alive) continue
      p.signal(p.stopped ? 'SIGCONT' : 'SIGSTOP')
      if (p.stopped) faults.peerStops++
      log.push(`${step}: ${p.stopped ? 'SIGSTOP' : 'SIGCONT'} ${p.name}`)
    } else if (r < 0.94) {
      if (!relay.alive) continue
      relay.signal(relay.stopped ? 'SIGCONT' : 'SIGSTOP')
      if (relay.stopped) faults.relayStops++
      log.push(`${step}: ${relay.stopped ? 'SIGSTOP' : 'SIGCONT'} the relay`)
    } else if (r < 0.97) {
      await relay.kill()
      faults.relayKills++
      await relay.start()
      log.push(`${step}: SIGKILL the relay, restarted`)
    } else {
      log.push(`${step}: pause`)
    }
    await sleep(100 + int(600))
  }

  // heal: no rules, no rate limits, everyone running (the dead restarted from their logs)
  net.heal()
  if (relay.stopped) relay.signal('SIGCONT')
  if (!relay.alive) await relay.start()
  for (const p of peers) {
    if (p.stopped) p.signal('SIGCONT')
    if (!p.alive) {
      await restart(p)
      figures.restarts++
    }
  }
  log.push('heal')
  const wall = performance.now()
  for (;;) {
    const statuses = await Promise.all(honest.map((p) => p.request({ op: 'status' })))
    const heads = statuses.map((s) => (s.heads ?? []).join('|'))
    if (new Set(heads).size === 1) break
    if (performance.now() - wall > HEAL_MS)
      throw new ChaosViolation(
        `no convergence ${HEAL_MS / 1000} s after heal: ${statuses.map((s, i) => `${names[i]} ${s.heads?.map((h) => h.slice(0, 8)).join('/')} peers ${s.peers} relay ${s.relay}`).join('; ')}`,
      )
    await sleep(200)
  }
  figures.convergeWallMs = performance.now() - wall
  for (const p of honest) {
    const s = await p.request({ op: 'status' })
    const struck = (s.strikes ?? []).filter((x) => !x.startsWith(outsider.peerId))
    if (struck.length > 0) throw new ChaosViolation(`${p.name} struck: ${struck.join('; ')}`)
  }
  await Promise.all(peers.map((p) => p.stop()))
  await relay.kill()

  // every honest peer's disk, read back here: what a restart would load
  const ids = Array.from({ length: HONEST }, (_, i) => identityFromSeed(identitySeed(i), 0))
  const space = chaosSpace(spaceId, ids[0]!, ids.slice(1))
  const holders: Holder[] = []
  const opened: FileLogStorage[] = []
  for (const [i, p] of honest.entries()) {
    const disk = await FileLogStorage.open(path.join(dir, p.name, 'log'))
    opened.push(disk)
    const governance = (id: DocId): Governance | undefined =>
      id !== docs.governed
        ? undefined
        : docGovernance(id, { spaceId, state: () => space, identity: () => ids[i] })
    const repo = new Repo({ storage: disk, tabId: `check-${p.name}`, governance })
    await openShared(repo, docs.free)
    await openShared(repo, docs.governed)
    holders.push({ label: p.name, repo, state: new StateApi(repo) })
  }
  try {
    await checkInvariants(
      holders,
      writes,
      docs,
      ids.map((x) => x.id),
      figures,
    )
  } finally {
    for (const h of holders) await h.repo.shutdown()
    for (const d of opened) await d.close()
    net.cleanup()
    net = undefined
  }
  return figures
}

/** Whether a TCP connection from `from`'s namespace to ip:port gets its byte within 1.5 s. */
function connects(n: ChaosNet, from: string, ip: string, port: number): boolean {
  const [cmd, ...args] = n.wrap(from, [
    process.execPath,
    '-e',
    `const s = require('net').connect(${port}, '${ip}'); s.on('data', () => process.exit(0));` +
      ` s.on('error', () => process.exit(1)); setTimeout(() => process.exit(1), 1500)`,
  ])
  return spawnSync(cmd as string, args).status === 0
}

describe.skipIf(why !== undefined)(
  'chaos L2: the real relay and Node peers in network namespaces',
  () => {
    it('injects real faults: a partition and 99% loss stop TCP, healing lets it through', async () => {
      const n = new ChaosNet()
      net = n
      n.setup(['a', 'b'])
      const b = n.host('b')
      const [cmd, ...args] = n.wrap('b', [
        process.execPath,
        '-e',
        `require('net').createServer((s) => s.end('x')).listen(7000, '${b.ip}', () => console.log('up'))`,
      ])
      const server = spawn(cmd as string, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      try {
        await new Promise((r) => server.stdout.once('data', r))
        expect(connects(n, 'a', b.ip, 7000)).toBe(true)
        n.partition('a', 'b')
        expect(connects(n, 'a', b.ip, 7000)).toBe(false)
        n.heal()
        expect(connects(n, 'a', b.ip, 7000)).toBe(true)
        n.loss('b', 99)
        expect(connects(n, 'a', b.ip, 7000)).toBe(false)
        n.heal()
        n.rate('a', 64)
        expect(connects(n, 'a', b.ip, 7000)).toBe(true)
        expect(n.qdisc('a')).toContain('tbf')
      } finally {
        server.kill('SIGKILL')
        n.cleanup()
        net = undefined
      }
    })

    it('a peer process SIGKILLed and restarted has every write it flushed', async () => {
      const n = new ChaosNet()
      net = n
      n.setup(['p0'])
      const dir = mkdtempSync(path.join(tmpdir(), 'chaos-l2-'))
      dirs.push(dir)
      const docs = { free: newDocId(), governed: newDocId() }
      const p = new PeerProc(n, 'p0', {
        name: 'p0',
        index: 1,
        honest: HONEST,
        intruder: false,
        ...docs,
        spaceId: newDocId(),
        file: path.join(dir, 'p0', 'log'),
      })
      // no relay: the peer's RelayLink keeps retrying, which changes nothing here
      const nowhere = {
        addr: '/ip4/10.66.0.99/tcp/8080/ws/p2p/12D3KooWSK5ogGodELEw1iWXjxXkNPwKtTfbBRRxJeLsJ4UdPR91',
        peerId: '12D3KooWSK5ogGodELEw1iWXjxXkNPwKtTfbBRRxJeLsJ4UdPR91',
      }
      try {
        expect(await p.start(nowhere)).toEqual([])
        for (const [i, doc] of (['free', 'governed', 'free'] as const).entries())
          await p.request({ op: 'write', doc, key: `k${i}`, slot: 0 })
        await p.request({ op: 'flush' })
        await p.request({ op: 'write', doc: 'free', key: 'unflushed', slot: 1 })
        await p.kill()
        const flushed = [
          { doc: 'free' as const, key: 'k0' },
          { doc: 'governed' as const, key: 'k1' },
          { doc: 'free' as const, key: 'k2' },
        ]
        expect(await p.start(nowhere, flushed)).toEqual([])
        // the check itself: a key never written is reported missing
        await p.kill()
        expect(await p.start(nowhere, [...flushed, { doc: 'free', key: 'never' }])).toEqual([
          'never',
        ])
      } finally {
        killAll()
        n.cleanup()
        net = undefined
      }
    })

    it(
      `keeps its invariants over ${runs} schedule(s) (seed ${seed})`,
      async () => {
        const all: RunFigures[] = []
        const faults: Faults = {
          loss: 0,
          partitions: 0,
          rateLimits: 0,
          peerKills: 0,
          peerStops: 0,
          relayKills: 0,
          relayStops: 0,
        }
        for (let i = 0; i < runs; i++) {
          const log: string[] = []
          try {
            all.push(await runSchedule(seed + i, log, faults))
            if (process.env.CHAOS_L2_VERBOSE === '1') console.log(log.join('\n'))
            // the long run's figures so far (a run stopped early still leaves them)
            if (i < runs - 1) report('L2', { ...summarize(all, i + 1, seed), faults } as Summary)
          } catch (e) {
            throw new Error(
              `${String(e)}\nreplay: CHAOS_SEED=${seed + i} CHAOS_L2_RUNS=1 npx vitest run test/chaos/l2.test.ts\nschedule:\n${log.join('\n')}`,
              { cause: e },
            )
          } finally {
            killAll()
            net?.cleanup()
            net = undefined
          }
        }
        const summary = summarize(all, runs, seed)
        report('L2', { ...summary, faults } as Summary)
        expect(summary.converged).toBe(runs)
        expect(summary.acknowledgedLost).toBe(0)
      },
      Number(process.env.CHAOS_TIMEOUT_MS ?? 240_000),
    )
  },
)
