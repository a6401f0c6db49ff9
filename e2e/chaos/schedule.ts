/**
 * L3 schedules: a seeded, deterministic list of steps over 3 browser profiles (each with up to
 * two tabs) and the relay. The generator tracks which tabs are open and whether the relay is up,
 * so every step it emits can run; the same seed always gives the same schedule.
 */
import { mulberry32 } from '../../test/chaos/random'

export type DocName = 'free' | 'space'

export type Step =
  /** `n` awaited sets in one tab; `shared`: to keys every profile writes (last writer wins) */
  | { op: 'write'; p: number; tab: number; doc: DocName; n: number; shared: boolean }
  /** one awaited set, then `location.reload()` in the same task: no flush */
  | { op: 'writeReload'; p: number; tab: number; doc: DocName }
  /** awaited sets, then the tab is closed at once, while they are still syncing */
  | { op: 'writeClose'; p: number; tab: number; doc: DocName; n: number }
  | { op: 'open'; p: number }
  | { op: 'close'; p: number; tab: number }
  /** the profile goes offline: every tab of it closes (it reopens with `open`) */
  | { op: 'offline'; p: number }
  /** two tabs of one profile each write and close in turn; the profile ends offline */
  | { op: 'twoTabs'; p: number; doc: DocName }
  | { op: 'killRelay' }
  | { op: 'startRelay' }
  | { op: 'wait'; ms: number }

export const PROFILES = 3
export const MAX_TABS = 2

/** `length` steps from `seed`, starting with one tab per profile and the relay up. */
export function makeSchedule(seed: number, length: number): Step[] {
  const rand = mulberry32(seed)
  const int = (n: number): number => Math.floor(rand() * n)
  const doc = (): DocName => (rand() < 0.5 ? 'free' : 'space')
  const tabs = Array.from({ length: PROFILES }, () => 1)
  let relayUp = true
  const steps: Step[] = []
  while (steps.length < length) {
    const online = tabs.flatMap((t, p) => (t > 0 ? [p] : []))
    const pick = <T>(xs: T[]): T => xs[int(xs.length)] as T
    const candidates: [number, () => Step | undefined][] = [
      [
        6,
        () => {
          if (online.length === 0) return undefined
          const p = pick(online)
          return {
            op: 'write',
            p,
            tab: int(tabs[p]!),
            doc: doc(),
            n: 1 + int(6),
            shared: rand() < 0.3,
          }
        },
      ],
      [
        1,
        () => {
          if (online.length === 0) return undefined
          const p = pick(online)
          return { op: 'writeReload', p, tab: int(tabs[p]!), doc: doc() }
        },
      ],
      [
        1,
        () => {
          if (online.length === 0) return undefined
          const p = pick(online)
          tabs[p]!--
          return { op: 'writeClose', p, tab: int(tabs[p]! + 1), doc: doc(), n: 1 + int(10) }
        },
      ],
      [
        2,
        () => {
          const p = int(PROFILES)
          if (tabs[p]! >= MAX_TABS) return undefined
          tabs[p]!++
          return { op: 'open', p }
        },
      ],
      [
        1,
        () => {
          if (online.length === 0) return undefined
          const p = pick(online)
          tabs[p]!--
          return { op: 'close', p, tab: int(tabs[p]! + 1) }
        },
      ],
      [
        1,
        () => {
          if (online.length === 0) return undefined
          const p = pick(online)
          tabs[p] = 0
          return { op: 'offline', p }
        },
      ],
      [
        1,
        () => {
          const p = int(PROFILES)
          tabs[p] = 0
          return { op: 'twoTabs', p, doc: doc() }
        },
      ],
      [
        1,
        () => {
          relayUp = !relayUp
          return relayUp ? { op: 'startRelay' } : { op: 'killRelay' }
        },
      ],
      [1, () => ({ op: 'wait', ms: 50 + int(500) })],
    ]
    const total = candidates.reduce((n, [w]) => n + w, 0)
    let r = rand() * total
    for (const [w, make] of candidates) {
      r -= w
      if (r < 0) {
        const step = make()
        if (step !== undefined) steps.push(step)
        break
      }
    }
  }
  return steps
}

export function describeStep(s: Step): string {
  const { op, ...rest } = s
  const args = Object.entries(rest)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ')
  return args === '' ? op : `${op} ${args}`
}
