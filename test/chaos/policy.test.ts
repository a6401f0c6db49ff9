/**
 * Issue 13: the space policy under fc.commands. 3–5 peers (p0 the creator, the others admins,
 * writers, readers or strangers) hold one real space document and one data document; members
 * invite, join (with valid, expired, used-up and forged tokens), change roles, remove each other,
 * try what only admins may, and keep writing after their removal; every change reaches a peer
 * through the real admit path (signatures checked, `replaySpaceChanges` / `mayWriteDoc`). See
 * policy-net.ts, policy-world.ts, policy-invariants.ts.
 *
 * Two properties: sequential schedules (everyone sees each action before the next), where a
 * small reference model predicts every outcome; and concurrent ones (deliveries, partitions,
 * heals, two admins acting at once), where the invariants and agreement after heal are checked.
 * A failure prints fast-check's seed, path and shrunk schedule, and the model's trace.
 *
 * Replay: POLICY_SEED=<seed> [POLICY_PATH=<path> POLICY_REPLAY_PATH=<commands' path>] npx vitest
 * run test/chaos/policy.test.ts -t sequential|concurrent (the failure prints the line).
 * Longer: POLICY_RUNS=500 (npm run chaos sets it and writes the "policy" entry of bench/chaos.json).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { policyCommands, type PolicyRun } from './policy-commands'
import { PolicyChecker, type SplitKind } from './policy-invariants'
import { PolicyNet, type NetFigures } from './policy-net'
import type { Role } from '../../src/core/spaces/model'
import { PolicyWorld } from './policy-world'

const runs = Number(process.env.POLICY_RUNS ?? 8)
const seed = Number(process.env.POLICY_SEED ?? Date.now() % 2 ** 31)
const path = process.env.POLICY_PATH
// fc.commands shrinks inside the schedule too; its own replay path is printed with the schedule
const replayPath = process.env.POLICY_REPLAY_PATH

interface Totals {
  schedules: number
  violations: number
  actions: number
  /** schedules whose peers split in a known way, by kind (see policy-invariants.ts) */
  splits: Record<SplitKind, number>
  nonAdminChangesChecked: number
  net: NetFigures
  examples: Partial<Record<SplitKind, string>>
}

const totals = (): Totals => ({
  schedules: 0,
  violations: 0,
  actions: 0,
  splits: { 'arrival-order': 0, data: 0 },
  nonAdminChangesChecked: 0,
  net: { offered: 0, admitted: 0, refused: 0, held: 0, codes: {} },
  examples: {},
})

function add(t: Totals, f: NetFigures): void {
  t.net.offered += f.offered
  t.net.admitted += f.admitted
  t.net.refused += f.refused
  t.net.held += f.held
  for (const [k, v] of Object.entries(f.codes)) t.net.codes[k] = (t.net.codes[k] ?? 0) + v
}

/** Set-up worlds by initial roles: each schedule starts from a copy (setting up costs joins). */
const templates = new Map<string, PolicyWorld>()
function setUp(roles: readonly string[]): PolicyWorld {
  const key = roles.join(',')
  let t = templates.get(key)
  if (t === undefined) {
    t = new PolicyWorld(new PolicyNet(1 + roles.length))
    t.setup(roles.map((r) => (r === 'none' ? undefined : (r as Role))))
    templates.set(key, t)
  }
  return t.copy()
}
afterAll(() => {
  for (const t of templates.values()) t.net.free()
})

async function schedules(sequential: boolean, t: Totals): Promise<void> {
  // the roles of p1… (p0 is the creator); 'none' is a stranger. A few line-ups, so that each is
  // set up once and copied (setting up costs every join's checks at every peer)
  const initial = fc.constantFrom(
    ['admin', 'writer'],
    ['admin', 'writer', 'reader', 'none'],
    ['writer', 'reader', 'none'],
    ['admin', 'admin', 'none', 'none'],
  )
  const property = fc.property(
    initial,
    // a sequential schedule exchanges everything after each action: shorter schedules
    fc.commands(policyCommands(5, !sequential), {
      maxCommands: sequential ? 20 : 30,
      size: 'medium',
      ...(replayPath === undefined ? {} : { replayPath }),
    }),
    (roles, cmds) => {
      const world = setUp(roles)
      const net = world.net
      const run: PolicyRun = { world, checker: new PolicyChecker(net), sequential, acted: 0 }
      try {
        fc.modelRun(() => ({ model: {}, real: run }), cmds)
        net.healAll()
        net.syncAll()
        const { split } = run.checker.final()
        t.schedules++
        t.actions += run.acted
        t.nonAdminChangesChecked += run.checker.figures.nonAdminChecked
        add(t, net.figures)
        if (split !== undefined) {
          t.splits[split.kind]++
          t.examples[split.kind] ??= split.example
        }
      } catch (e) {
        throw new Error(`${String(e)}\n  model trace: ${net.trace.slice(-15).join('; ')}`, {
          cause: e,
        })
      } finally {
        net.free()
      }
    },
  )
  const result = fc.check(property, {
    seed,
    numRuns: runs,
    ...(path === undefined ? {} : { path }),
  })
  if (result.failed) {
    t.violations++
    // replaying the shrunk schedule needs the seed, the path and the commands' own replay path
    const shrunk = /replayPath="([^"]*)"/.exec(fc.stringify(result.counterexample))?.[1]
    const replay = `POLICY_SEED=${result.seed} POLICY_PATH=${result.counterexamplePath}${shrunk === undefined ? '' : ` POLICY_REPLAY_PATH='${shrunk}'`}`
    throw new Error(
      `${fc.defaultReportMessage(result)}\n${String(result.errorInstance)}\nreplay: ${replay} npx vitest run test/chaos/policy.test.ts -t ${sequential ? 'sequential' : 'concurrent'}`,
    )
  }
}

/** Merges the figures into CHAOS_FIGURES (when set) under "policy", and prints them. */
function report(figures: Record<string, Totals>): void {
  const entry = { ...figures, seed, at: new Date().toISOString() }
  console.log(`chaos policy: ${JSON.stringify(entry)}`)
  const file = process.env.CHAOS_FIGURES
  if (file === undefined || file === '') return
  const all = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)
    : {}
  all.policy = entry
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n')
}

describe('chaos policy: the space policy under random schedules', () => {
  const figures = { sequential: totals(), concurrent: totals() }
  const timeout = Number(process.env.CHAOS_TIMEOUT_MS ?? 60_000)

  it(
    `sequential schedules match the reference model (${runs} runs, seed ${seed})`,
    async () => {
      try {
        await schedules(true, figures.sequential)
      } finally {
        if (process.env.POLICY_ONLY !== 'concurrent') report(figures)
      }
      expect(figures.sequential.schedules).toBe(runs)
      // nothing is concurrent: no split of any kind
      expect(figures.sequential.splits).toEqual({ 'arrival-order': 0, data: 0 })
      expect(figures.sequential.net.admitted).toBeGreaterThan(0)
      expect(figures.sequential.net.refused).toBeGreaterThan(0)
    },
    timeout,
  )

  it(
    `concurrent schedules keep the invariants (${runs} runs, seed ${seed})`,
    async () => {
      try {
        await schedules(false, figures.concurrent)
      } finally {
        report(figures)
      }
      expect(figures.concurrent.schedules).toBe(runs)
    },
    timeout,
  )
})
