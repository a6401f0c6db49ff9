/**
 * Schedules the chaos suite once failed on, kept as they were shrunk (each names the bug).
 */
import { afterEach, describe, it } from 'vitest'
import { ModelNet } from './model'

let net: ModelNet | undefined
afterEach(() => {
  net?.dispose()
  net = undefined
})

describe('chaos L0 regressions', () => {
  it('an outsider whose changes are parked does not keep a member answering empty messages', async () => {
    // cut down from [outsider writes ×44, p0 burst governed ×41, outsider writes ×56, …]: each
    // member answered the outsider's later (empty) messages, asking for the parked changes, and
    // the outsider, having sent them, answered with nothing new: no end while they stayed parked
    net = await ModelNet.create({ honest: 3, intruder: true })
    await net.intrude(1)
    await net.edit(net.honest[0]!, true, 1, 0, false)
    await net.settle()
    await net.intrude(1)
    await net.healAndSettle(1_500)
    await net.check()
  })

  it('an outsider flooding while members edit: the budget holds and members converge', async () => {
    net = await ModelNet.create({ honest: 3, intruder: true })
    await net.intrude(60)
    await net.burst(net.honest[0]!, true, 10)
    net.flood(100)
    await net.deliver(0, 40)
    net.wait(1_500)
    await net.healAndSettle(3_000)
    await net.check()
  })

  // OPEN (found after merging main, not fixed): shrunk from seed 12, schedule 224 of
  // `npm run chaos -- --schedules 300 --seed 12` ([p0 burst free ×15, p4 burst free ×14,
  // deliver 1 from #12, reorder #7, p5 crash]; it fails without the reorder too). In about one
  // run in five the network goes quiet with p0's changes missing at p1, every session attached;
  // replacing the p0–p1 connection does not always help. Skipped so that it is seen, not hidden.
  it.skip('OPEN: two bursts, one delivery and a third peer crashing still converge', async () => {
    for (let i = 0; i < 10; i++) {
      net = await ModelNet.create({ honest: 3, intruder: true })
      await net.burst(net.honest[0]!, false, 15)
      await net.burst(net.honest[1]!, false, 14)
      await net.deliver(12, 1)
      await net.crash(net.honest[2]!)
      await net.healAndSettle()
      await net.check()
      net.dispose()
      net = undefined
    }
  }, 120_000)
})
