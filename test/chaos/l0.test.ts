/**
 * Chaos L0: random schedules of edits, deliveries, drops, duplicates, reorders, partitions,
 * heals, crashes, reloads without flush, restarts, slow disks and an outsider's writes, over the
 * real core (see model.ts). A failure prints fast-check's seed, path and shrunk schedule.
 *
 * Replay: CHAOS_SEED=<seed> [CHAOS_PATH=<path> CHAOS_REPLAY_PATH=<commands' path>] npx vitest run test/chaos/l0.test.ts
 * Longer: CHAOS_RUNS=1000 (npm run chaos does that and writes bench/chaos.json).
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { commandArbs } from './commands'
import { report, summarize } from './figures'
import { ModelNet, type RunFigures } from './model'

const runs = Number(process.env.CHAOS_RUNS ?? 10)
const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31)
const path = process.env.CHAOS_PATH
// fc.commands shrinks inside the schedule too; its own replay path is printed with the schedule
const replayPath = process.env.CHAOS_REPLAY_PATH

describe('chaos L0: the in-memory network model over the real core', () => {
  it(
    `keeps its invariants over ${runs} random schedules (seed ${seed})`,
    async () => {
      const figures: RunFigures[] = []
      const property = fc.asyncProperty(
        fc.commands(commandArbs(), {
          maxCommands: 40,
          size: 'medium',
          ...(replayPath === undefined ? {} : { replayPath }),
        }),
        async (cmds) => {
          const net = await ModelNet.create({ honest: 3, intruder: true })
          try {
            await fc.asyncModelRun(() => ({ model: {}, real: net }), cmds)
            await net.healAndSettle()
            await net.check()
            figures.push({ ...net.figures })
          } catch (e) {
            // the schedule that failed, in the words of the model (fast-check prints the commands)
            throw new Error(`${String(e)}\n  model trace: ${net.trace.slice(-20).join('; ')}`, {
              cause: e,
            })
          } finally {
            net.dispose()
          }
        },
      )
      const result = await fc.check(property, {
        seed,
        numRuns: runs,
        ...(path === undefined ? {} : { path }),
        endOnFailure: process.env.CHAOS_SHRINK === '0',
      })
      if (result.failed) {
        // fast-check's own report: seed, path, the shrunk schedule, the error; replaying the shrunk
        // schedule needs the seed, the path and the commands' own replay path
        const shrunk = /replayPath="([^"]*)"/.exec(fc.stringify(result.counterexample))?.[1]
        const replay = `CHAOS_SEED=${result.seed} CHAOS_PATH=${result.counterexamplePath}${shrunk === undefined ? '' : ` CHAOS_REPLAY_PATH='${shrunk}'`}`
        throw new Error(
          `${fc.defaultReportMessage(result)}\n${String(result.errorInstance)}\nreplay: ${replay} npx vitest run test/chaos/l0.test.ts`,
        )
      }
      const summary = summarize(figures, runs, seed)
      report('L0', summary)
      expect(summary.converged).toBe(runs)
      expect(summary.acknowledgedLost).toBe(0)
    },
    Number(process.env.CHAOS_TIMEOUT_MS ?? 120_000),
  )
})
