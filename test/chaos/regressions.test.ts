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

  // shrunk from seed 12, schedule 224 of `npm run chaos -- --schedules 300 --seed 12` (after
  // merging main): a bug of the model, not the core. A session may now take real turns of the
  // event loop over a message (a whole document inflated and counted) without waiting for the
  // firewall's clock; the model took the network for quiet meanwhile (about one run in five).
  it('two bursts, one delivery and a third peer crashing: the model waits for busy sessions', async () => {
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
