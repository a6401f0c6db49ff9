/**
 * After a schedule: heal (relay up, every profile has a tab open), then poll every tab until the
 * invariants hold or the time is up:
 *  - every acknowledged write is present, with its value, at every tab (each holds both docs);
 *  - all tabs hold the same value per key, and a shared key's value is one that was written;
 *  - the sync state does not claim "synced" before it is: a tab whose document says `synced`
 *    with a confirmation made during the heal must have every unique key it held then present
 *    at a tab of the confirming peer (checked against the next poll, which is later: documents
 *    only grow while nothing closes, so a key missing there was never confirmed).
 */
import type { Page } from '@playwright/test'
import type { L3Cluster, Tab } from './cluster'

interface DocSnapshot {
  value: Record<string, unknown>
  state: string
  confirmed?: { with: string; at: number }
}

/** a claim of `synced` by one tab, to check against the next poll */
interface Claim {
  tab: Tab
  doc: string
  keys: string[]
  by: string
}

export interface HealResult {
  converged: boolean
  /** ms from healed (relay up, every profile's tab open) to every invariant holding */
  ms: number
  /** acknowledged writes missing at some tab when the time was up (0 when converged) */
  lost: number
  statusClaims: number
  problems: string[]
  /** tabs whose top bar said "all synced" within a while after converging, of all tabs */
  settled: number
  tabs: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function snapshot(page: Page, docs: string[]): Promise<DocSnapshot[]> {
  return page.evaluate(async (ids) => {
    const out: DocSnapshot[] = []
    for (const id of ids) {
      // the value first: a `synced` read after it covers at least this value
      const value = ((await window.orrery.state.get(`/${id}`)) ?? {}) as Record<string, unknown>
      const s = await window.orrery.docs.state(id)
      out.push({ value, state: s.state, ...(s.confirmed ? { confirmed: s.confirmed } : {}) })
    }
    return out
  }, docs)
}

/** JSON with sorted keys, to compare documents */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v)
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  const o = v as Record<string, unknown>
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`
}

/** What is wrong with one poll (empty: every invariant holds), and the lost-write count. */
function judge(c: L3Cluster, docs: string[], snaps: Map<Tab, DocSnapshot[]>) {
  const problems: string[] = []
  let lost = 0
  for (const a of c.acked.values()) {
    const i = docs.indexOf(a.doc)
    const missing = [...snaps].filter(([, s]) => s[i]?.value[a.key] !== a.value)
    if (missing.length > 0) {
      lost++
      if (problems.length < 20)
        problems.push(
          `acked ${a.key}=${a.value} missing at ${missing.map(([t]) => t.peer.slice(-6)).join(',')}`,
        )
    }
  }
  docs.forEach((d, i) => {
    const values = new Set([...snaps.values()].map((s) => canonical(s[i]?.value)))
    if (values.size > 1) problems.push(`${d}: ${values.size} different values across tabs`)
    const any = [...snaps.values()][0]?.[i]?.value ?? {}
    for (const [k, v] of Object.entries(any)) {
      const written = c.sharedValues.get(`${d}/${k}`)
      if (written !== undefined && !written.has(String(v)))
        problems.push(`${d}/${k}=${String(v)} was never written`)
    }
  })
  return { problems, lost }
}

export async function heal(c: L3Cluster, timeoutMs: number): Promise<HealResult> {
  const healStart = Date.now()
  await c.startRelay()
  for (let p = 0; p < c.profiles.length; p++) if (c.profiles[p]!.tabs.length === 0) await c.open(p)
  const healed = Date.now()
  const docs = [c.docs.free, c.docs.space]
  const statusProblems: string[] = []
  let claims: Claim[] = []
  let checked = 0
  let last = { problems: ['never polled'], lost: 0 }
  while (Date.now() - healed < timeoutMs) {
    const snaps = new Map<Tab, DocSnapshot[]>()
    for (const t of c.tabs) snaps.set(t, await snapshot(t.page, docs))
    // last poll's claims, against this later poll
    for (const claim of claims) {
      checked++
      const i = docs.indexOf(claim.doc)
      const confirmers = c.profiles
        .flatMap((p) => p.tabs.map((t) => ({ t, identity: p.identity })))
        .filter(
          ({ t, identity }) => t !== claim.tab && (identity === claim.by || t.peer === claim.by),
        )
      const ok = confirmers.some(({ t }) => {
        const v = snaps.get(t)?.[i]?.value ?? {}
        return claim.keys.every((k) => k in v)
      })
      if (!ok)
        statusProblems.push(
          `${claim.tab.peer.slice(-6)} said ${claim.doc} synced (with ${claim.by.slice(-8)}) but no tab of it has all of ${claim.keys.length} keys`,
        )
    }
    claims = []
    for (const [tab, s] of snaps)
      s.forEach((d, i) => {
        if (d.state === 'synced' && d.confirmed !== undefined && d.confirmed.at >= healStart)
          claims.push({
            tab,
            doc: docs[i]!,
            keys: Object.keys(d.value).filter((k) => k.startsWith('w')),
            by: d.confirmed.with,
          })
      })
    last = judge(c, docs, snaps)
    if (last.problems.length === 0 && statusProblems.length === 0) break
    if (statusProblems.length > 0) break
    await sleep(250)
  }
  const ms = Date.now() - healed
  const converged = last.problems.length === 0 && statusProblems.length === 0
  let settled = 0
  if (converged) settled = await settle(c)
  return {
    converged,
    ms,
    lost: last.lost,
    statusClaims: checked,
    problems: [...statusProblems, ...last.problems],
    settled,
    tabs: c.tabs.length,
  }
}

/** How many tabs' top bars say "all synced" within 15 s of converging (a figure, not asserted). */
async function settle(c: L3Cluster): Promise<number> {
  const until = Date.now() + 15_000
  const done = new Set<Tab>()
  while (Date.now() < until && done.size < c.tabs.length) {
    for (const t of c.tabs) {
      if (done.has(t)) continue
      const text = await t.page
        .getByTestId('sync-state')
        .textContent({ timeout: 2000 })
        .catch(() => '')
      if (text?.trim() === 'all synced') done.add(t)
    }
    await sleep(250)
  }
  return done.size
}
