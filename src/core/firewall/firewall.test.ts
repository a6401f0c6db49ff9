/**
 * The firewall on a fake clock: waits are asserted exactly (the fake `sleep` records every wait
 * the firewall asks for), and a wait is over only when the test moves the clock.
 */
import { describe, expect, it } from 'vitest'
import { ProtocolError } from '../errors'
import { TokenBucket } from './bucket'
import { DEFAULT_FIREWALL, Firewall, FirewallError, systemClock, type Clock } from './firewall'

const MiB = 1024 * 1024
const A = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const B = '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'
const C = '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC'
const ALICE = 'did:key:z6MkAliceAliceAliceAliceAliceAliceAliceAlice'
const MALLORY = 'did:key:z6MkMalloryMalloryMalloryMalloryMalloryMall'

/**
 * A fake clock. `auto` (the default) makes every sleep pass at once by moving the clock forward
 * by exactly the wait: what a reader that awaits each admit before the next sees. Otherwise a
 * sleep only ends when `advance` reaches it.
 */
class FakeClock implements Clock {
  t = 1_000_000
  readonly slept: number[] = []
  private timers: { at: number; resolve: () => void }[] = []
  constructor(private readonly auto = true) {}
  now = (): number => this.t
  sleep = (ms: number): Promise<void> => {
    this.slept.push(ms)
    if (this.auto) {
      this.t += ms
      return Promise.resolve()
    }
    return new Promise((resolve) => this.timers.push({ at: this.t + ms, resolve }))
  }
  advance(ms: number): void {
    this.t += ms
    const due = this.timers.filter((x) => x.at <= this.t)
    this.timers = this.timers.filter((x) => x.at > this.t)
    for (const x of due) x.resolve()
  }
}

/** Whether a promise has settled, after letting pending microtasks run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(
    () => (done = true),
    () => (done = true),
  )
  for (let i = 0; i < 10; i++) await Promise.resolve()
  return done
}

const one = { writes: 1, bytes: 100 }

describe('Firewall rates', () => {
  it('has the documented defaults', () => {
    expect(new Firewall({}, new FakeClock()).config).toEqual({
      writesPerSecond: 200,
      burstWrites: 400,
      bytesPerMinute: 64 * MiB,
      maxMessageBytes: 64 * MiB,
      maxInflatedBytes: 64 * MiB,
      maxReassemblyBytes: 24 * MiB,
      partialIdleMs: 30_000,
      partialMinBytesPerSecond: 64 * 1024,
      deny: [],
      strikesBeforeBan: 5,
      banMs: 600_000,
      forgetAfterMs: 60_000,
    })
    expect(DEFAULT_FIREWALL.maxMessageBytes).toBe(64 * MiB)
  })

  it('does not delay a peer within its limits: the burst at once, then the sustained rate', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({}, clock)
    for (let i = 0; i < 400; i++) await fw.admit(A, one)
    // at exactly 200 writes per second (one every 5 ms) the bucket never runs dry
    for (let i = 0; i < 1000; i++) {
      clock.t += 5
      await fw.admit(A, one)
    }
    expect(clock.slept).toEqual([])
    expect(fw.stats()[A]).toEqual({
      writes: 1400,
      bytes: 140_000,
      throttled: 0,
      throttledMs: 0,
      strikes: 0,
      bans: 0,
    })
  })

  it('delays writes beyond the rate by exactly the refill time', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({}, clock)
    for (let i = 0; i < 400; i++) await fw.admit(A, one)
    expect(clock.slept).toEqual([])
    await fw.admit(A, one) // one write short: 1 / 200 per second
    await fw.admit(A, one)
    await fw.admit(A, { writes: 10, bytes: 0 }) // 10 writes short
    expect(clock.slept).toEqual([5, 5, 50])
    // a quiet second refills 200 writes: the next 200 pass at once
    clock.t += 1000
    for (let i = 0; i < 200; i++) await fw.admit(A, one)
    expect(clock.slept).toEqual([5, 5, 50])
    await fw.admit(A, one)
    expect(clock.slept).toEqual([5, 5, 50, 5])
    expect(fw.stats()[A]).toMatchObject({ writes: 613, throttled: 4, throttledMs: 65 })
  })

  it('a message bigger than the burst waits for all of its writes', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({ writesPerSecond: 100, burstWrites: 10 }, clock)
    await fw.admit(A, { writes: 30, bytes: 0 }) // 20 beyond the burst at 100/s
    expect(clock.slept).toEqual([200])
    await fw.admit(A, { writes: 1, bytes: 0 })
    expect(clock.slept).toEqual([200, 10])
  })

  it('keeps a byte budget per minute', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({}, clock)
    await fw.admit(A, { writes: 1, bytes: 64 * MiB }) // a whole minute's worth at once
    expect(clock.slept).toEqual([])
    await fw.admit(A, { writes: 1, bytes: MiB }) // 1/64 of a minute
    expect(clock.slept).toEqual([937.5])
    clock.t += 30_000 // half a minute: 32 MiB back
    await fw.admit(A, { writes: 1, bytes: 32 * MiB })
    expect(clock.slept).toEqual([937.5])
    await fw.admit(A, { writes: 1, bytes: 4 * MiB })
    expect(clock.slept).toEqual([937.5, 3750])
    expect(fw.stats()[A]).toMatchObject({ bytes: 101 * MiB, throttled: 2, throttledMs: 4687.5 })
  })

  it('waits for whichever bucket needs longer', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({ writesPerSecond: 10, burstWrites: 1, bytesPerMinute: 60_000 }, clock)
    await fw.admit(A, { writes: 1, bytes: 60_000 })
    await fw.admit(A, { writes: 1, bytes: 1000 }) // writes: 100 ms, bytes: 1000 ms
    // the 1000 ms wait refilled the write bucket to its burst (1): 4 writes short, 400 ms
    await fw.admit(A, { writes: 5, bytes: 10 }) // bytes: 10 ms
    expect(clock.slept).toEqual([1000, 400])
  })

  it('refuses (and strikes) a message over maxMessageBytes without charging the buckets', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({ maxMessageBytes: 1000 }, clock)
    const e = await fw.admit(A, { writes: 1, bytes: 1001 }).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(ProtocolError)
    expect((e as ProtocolError).code).toBe('MESSAGE_TOO_LARGE')
    await fw.admit(A, { writes: 1, bytes: 1000 })
    expect(fw.stats()[A]).toMatchObject({ writes: 1, bytes: 1000, strikes: 1 })
    expect(() => void fw.admit(A, { writes: -1, bytes: 0 })).toThrow(RangeError)
    expect(() => void fw.admit(A, { writes: 1, bytes: NaN })).toThrow(RangeError)
  })

  it('charges a message its inflated size when that is larger (whole documents)', async () => {
    const clock = new FakeClock()
    // 600 bytes a minute: 10 bytes a second
    const fw = new Firewall({ bytesPerMinute: 600, maxMessageBytes: 100 }, clock)
    await fw.admit(A, { writes: 1, bytes: 50, inflated: 600 }) // the whole minute's worth
    await fw.admit(A, { writes: 1, bytes: 30, inflated: 10 }) // smaller: the wire size counts
    expect(clock.slept).toEqual([3000])
    expect(fw.stats()[A]).toMatchObject({ writes: 2, bytes: 630, strikes: 0 })
    expect(() => void fw.admit(A, { writes: 1, bytes: 1, inflated: -1 })).toThrow(RangeError)
  })

  it('throttles a noisy peer without delaying a quiet one at all', async () => {
    const clock = new FakeClock(false)
    const fw = new Firewall({}, clock)
    for (let i = 0; i < 400; i++) expect(await settled(fw.admit(A, one))).toBe(true)
    const noisy = fw.admit(A, one)
    expect(await settled(noisy)).toBe(false)
    // B, in the same firewall at the same moment, passes at once, its whole burst included
    for (let i = 0; i < 400; i++) expect(await settled(fw.admit(B, one))).toBe(true)
    expect(clock.slept).toEqual([5])
    clock.advance(4)
    expect(await settled(noisy)).toBe(false)
    clock.advance(1)
    expect(await settled(noisy)).toBe(true)
    const stats = fw.stats()
    expect(stats[A]).toMatchObject({ writes: 401, throttled: 1, throttledMs: 5 })
    expect(stats[B]).toMatchObject({ writes: 400, throttled: 0, throttledMs: 0 })
  })

  it('queues concurrent admits of one peer behind each other', async () => {
    const clock = new FakeClock(false)
    const fw = new Firewall({ writesPerSecond: 1000, burstWrites: 1 }, clock)
    const first = fw.admit(A, one)
    const second = fw.admit(A, one)
    const third = fw.admit(A, one)
    expect(await settled(first)).toBe(true)
    expect(clock.slept).toEqual([1, 2])
    clock.advance(1)
    expect([await settled(second), await settled(third)]).toEqual([true, false])
    clock.advance(1)
    expect(await settled(third)).toBe(true)
  })

  it('turns a limit off with Infinity', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({ writesPerSecond: Infinity, bytesPerMinute: Infinity }, clock)
    for (let i = 0; i < 10_000; i++) await fw.admit(A, { writes: 100, bytes: MiB })
    expect(clock.slept).toEqual([])
  })

  it('applies new limits to peers it already tracks', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({}, clock)
    await fw.admit(A, { writes: 400, bytes: 0 })
    fw.configure({ writesPerSecond: 1000, burstWrites: 10 })
    await fw.admit(A, one)
    expect(clock.slept).toEqual([1])
    expect(fw.config.writesPerSecond).toBe(1000)
  })

  it('refuses nonsense limits', () => {
    for (const bad of [
      { writesPerSecond: 0 },
      { burstWrites: -1 },
      { bytesPerMinute: NaN },
      { maxMessageBytes: 0 },
      { strikesBeforeBan: 1.5 },
      { banMs: -5 },
    ]) {
      expect(() => new Firewall(bad)).toThrow(RangeError)
    }
  })

  it('sleeps on the real clock by default', async () => {
    const fw = new Firewall({ writesPerSecond: 50, burstWrites: 1 })
    expect(systemClock.now()).toBeCloseTo(Date.now(), -2)
    const t0 = performance.now()
    await fw.admit(A, one)
    await fw.admit(A, one) // 20 ms
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19)
    expect(fw.stats()[A]?.throttled).toBe(1)
  })
})

describe('Firewall lists', () => {
  it('denies by identity and by peer id', () => {
    const fw = new Firewall({ deny: [MALLORY, C] }, new FakeClock())
    expect(fw.permits(A).ok).toBe(true)
    expect(fw.permits(A, ALICE).ok).toBe(true)
    const byIdentity = fw.permits(B, MALLORY)
    expect(byIdentity.ok).toBe(false)
    if (!byIdentity.ok) {
      expect(byIdentity.error).toBeInstanceOf(FirewallError)
      expect(byIdentity.error.code).toBe('FORBIDDEN')
      expect(byIdentity.error.message).toContain('denied')
    }
    expect(fw.permits(C).ok).toBe(false) // by peer id, before any HELLO
    expect(fw.permits(C, ALICE).ok).toBe(false) // a denied tab of an honest identity
    fw.configure({ deny: [] })
    expect(fw.permits(B, MALLORY).ok).toBe(true)
  })

  it('in allow-list mode lets only the listed identities and peers sync', () => {
    const fw = new Firewall({ allow: [ALICE, C] }, new FakeClock())
    expect(fw.permits(A, ALICE).ok).toBe(true)
    expect(fw.permits(B, MALLORY).ok).toBe(false)
    expect(fw.permits(C).ok).toBe(true) // listed peer id
    expect(fw.permits(C, MALLORY).ok).toBe(true)
    const unknown = fw.permits(A) // the identity is not known before HELLO
    expect(unknown.ok).toBe(false)
    if (!unknown.ok) expect(unknown.error.message).toContain('not known yet')
    expect(new Firewall({ allow: [] }, new FakeClock()).permits(A, ALICE).ok).toBe(false)
    // the deny list wins over the allow list
    expect(new Firewall({ allow: [ALICE], deny: [A] }, new FakeClock()).permits(A, ALICE).ok).toBe(
      false,
    )
    fw.configure({ allow: undefined })
    expect(fw.permits(B, MALLORY).ok).toBe(true)
    expect(fw.config.allow).toBeUndefined()
  })
})

describe('Firewall strikes and bans', () => {
  it('bans a peer (and its identity) after N strikes until the ban expires', () => {
    const clock = new FakeClock()
    const fw = new Firewall({ strikesBeforeBan: 3, banMs: 60_000 }, clock)
    expect(fw.permits(A, MALLORY).ok).toBe(true)
    expect(fw.strike(A, 'garbage').ok).toBe(true)
    expect(fw.strike(A, 'garbage').ok).toBe(true)
    expect(fw.permits(A, MALLORY).ok).toBe(true)
    const banned = fw.strike(A, 'second hello')
    expect(banned.ok).toBe(false)
    const start = clock.t
    expect(fw.stats()[A]).toMatchObject({
      identity: MALLORY,
      strikes: 3,
      lastStrike: 'second hello',
      bans: 1,
      bannedUntil: start + 60_000,
    })
    const refused = fw.permits(A)
    expect(refused.ok).toBe(false)
    if (!refused.ok) expect(refused.error.message).toMatch(/banned for 60 s/)
    // a fresh tab key of the same identity is refused once its HELLO names the identity
    expect(fw.permits(B).ok).toBe(true)
    expect(fw.permits(B, MALLORY).ok).toBe(false)
    // other peers are untouched
    expect(fw.permits(C, ALICE).ok).toBe(true)
    // more strikes while banned neither lift nor extend the ban
    expect(fw.strike(A, 'more').ok).toBe(false)
    expect(fw.stats()[A]?.bannedUntil).toBe(start + 60_000)
    clock.t = start + 59_999
    expect(fw.permits(A).ok).toBe(false)
    clock.t = start + 60_000
    expect(fw.permits(A).ok).toBe(true)
    expect(fw.permits(B, MALLORY).ok).toBe(true)
    expect(fw.stats()[A]).toMatchObject({ strikes: 0, bans: 1 })
    expect(fw.stats()[A]?.bannedUntil).toBeUndefined()
    // and a fresh count of strikes before the next ban
    expect(fw.strike(A, 'x').ok).toBe(true)
    expect(fw.strike(A, 'x').ok).toBe(true)
    expect(fw.strike(A, 'x').ok).toBe(false)
    expect(fw.stats()[A]).toMatchObject({ bans: 2, bannedUntil: start + 120_000 })
  })

  it('bans after the default five strikes for ten minutes', () => {
    const clock = new FakeClock()
    const fw = new Firewall({}, clock)
    for (let i = 0; i < 4; i++) expect(fw.strike(A, 'x').ok).toBe(true)
    expect(fw.strike(A, 'x').ok).toBe(false)
    expect(fw.stats()[A]?.bannedUntil).toBe(clock.t + 600_000)
  })

  it('forgets an idle peer but keeps a ban until it expires', async () => {
    const clock = new FakeClock()
    const fw = new Firewall({ strikesBeforeBan: 1, banMs: 1000 }, clock)
    await fw.admit(A, one)
    fw.strike(B, 'x')
    fw.forget(A)
    fw.forget(B)
    expect(Object.keys(fw.stats())).toEqual([B])
    expect(fw.permits(B).ok).toBe(false)
    clock.t += 1000
    fw.forget(B)
    expect(fw.stats()).toEqual({})
    expect(fw.permits(B).ok).toBe(true)
  })
})

describe('TokenBucket', () => {
  it('refuses without taking anything, and refills over time', () => {
    const b = new TokenBucket(50, 1000, 200, 0)
    expect(b.tryTake(200, 0)).toBe(true)
    expect(b.tryTake(1, 0)).toBe(false)
    expect(b.available(0)).toBe(0)
    expect(b.tryTake(1, 19)).toBe(false) // 0.95 tokens
    expect(b.tryTake(1, 20)).toBe(true)
    expect(b.isFull(20)).toBe(false)
    expect(b.isFull(4020)).toBe(true)
    expect(b.available(1_000_000)).toBe(200) // never beyond the burst
  })

  it('goes into debt on reserve and tells how long it lasts', () => {
    const b = new TokenBucket(200, 1000, 400, 0)
    expect(b.reserve(400, 0)).toBe(0)
    expect(b.reserve(1, 0)).toBe(5)
    expect(b.reserve(1, 0)).toBe(10)
    expect(b.available(10)).toBe(0)
  })

  it('does not freeze when the clock goes backwards', () => {
    const b = new TokenBucket(1, 1, 10, 100)
    expect(b.tryTake(10, 100)).toBe(true)
    expect(b.tryTake(1, 50)).toBe(false)
    expect(b.tryTake(1, 51)).toBe(true)
  })
})
