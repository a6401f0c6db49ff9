/**
 * PWA and offline workloads (issue 5). A returning user: a persistent Chromium profile (service
 * worker installed, PWA_DOCS documents on disk) that is started again for each measurement.
 *
 *   P1  online cold start: the browser starts anew on the profile and opens the shell; navigation
 *       start -> the shell's document list shows every document. Then the same after a reload in
 *       the running browser.
 *   P2  offline cold start: the same with the relay stopped and the browser context offline.
 *   P3  A and B share a document; A reloads with its context offline (no relay, no peer), makes
 *       OFFLINE_EDITS edits, each its own change, then the network comes back: reconnection ->
 *       B has every edit, and -> A's status reports 0 changes waiting.
 *
 * Needs online/offline events in the page (netns.ts gives the namespace an interface for that).
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { within, type BenchPeer, type Lab } from './lab'
import { arm, armed } from './page'
import { linkHash, syncedDoc } from './workloads'

export const PWA_DOCS = 5
export const OFFLINE_EDITS = 1_000

export interface ColdStart {
  /** navigation start -> the document list shows every document (the browser started anew) */
  ms: number
  /** the same after page.reload() in the running browser */
  reloadMs: number
  /** the cold start's navigation and paint timing (ms since navigation start) */
  nav: Record<string, number>
  /** window.orrery.timings() when the list was complete (cold start) */
  timings: Record<string, number>
  /** whether the service worker controlled the page */
  controlled: boolean
}

export interface P3Result {
  /** reconnection -> B has all OFFLINE_EDITS edits */
  peerMs: number
  /** reconnection -> A's orrery.status() reports 0 changes waiting */
  syncedMs: number
  /** A's status().unsynced just before the reconnection */
  waiting: number
  /** the offline edits took (ms, on A) */
  editsMs: number
  /** whether the page saw an 'online' event (else reconnection = when the context went online) */
  onlineEvent: boolean
  /** A's first-time milestones after the reconnection (ms since it) */
  after: Record<string, number>
}

export interface Returning {
  profile: string
  docs: string[]
  chromium: string
}

interface ListProbe {
  shown?: number
  nav?: Record<string, number>
  timings?: Record<string, number>
  controlled?: boolean
}

interface Reconnect {
  online?: number
  onlinePerf?: number
  synced?: number
  timings?: Record<string, number>
}

declare global {
  interface Window {
    __list?: ListProbe
    __p3?: Reconnect
  }
}

/** Makes the returning user's profile: service worker installed, PWA_DOCS documents saved. */
export async function returningUser(lab: Lab): Promise<Returning> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-bench-profile-'))
  const a = await lab.returningPeer('A', profile)
  try {
    await lab.goto(a, '/')
    const docs = await within(
      a.page.evaluate(async (n) => {
        await navigator.serviceWorker.ready
        const out: string[] = []
        for (let i = 0; i < n; i++) {
          const d = await window.orrery.docs.create()
          await window.orrery.state.set(`/${d}/title`, `document ${i}`)
          await window.orrery.state.set(`/${d}/body`, 'x'.repeat(2000))
          out.push(d)
        }
        await window.orrery.state.flush()
        return out
      }, PWA_DOCS),
      30_000,
      'A makes its documents',
    )
    if (!(await a.page.evaluate(() => navigator.serviceWorker.controller !== null)))
      throw new Error('the service worker does not control the page')
    return { profile, docs, chromium: a.browser.version() }
  } finally {
    await lab.closePeer(a)
  }
}

/** Init script: every 4 ms, whether the shell's document list shows all of `docs`. */
function listProbe({ docs }: { docs: string[] }): void {
  const probe: ListProbe = {}
  window.__list = probe
  const tick = (): void => {
    const list = document
      .querySelector('orrery-app')
      ?.shadowRoot?.querySelector('orrery-docs-list')
      ?.shadowRoot?.querySelector('[data-testid="doc-list"]')
    const text = list?.textContent ?? ''
    if (list === null || list === undefined || !docs.every((d) => text.includes(d))) {
      setTimeout(tick, 4)
      return
    }
    probe.shown = performance.now()
    probe.timings = window.orrery.timings()
    probe.controlled = navigator.serviceWorker?.controller !== null
    const n = performance.getEntriesByType('navigation')[0] as
      PerformanceNavigationTiming | undefined
    const fcp = performance.getEntriesByName('first-contentful-paint')[0]
    const res = performance.getEntriesByType('resource') as PerformanceResourceTiming[]
    const wasm = res.find((r) => r.name.endsWith('.wasm'))
    probe.nav = {
      workerStart: n?.workerStart ?? NaN,
      responseEnd: n?.responseEnd ?? NaN,
      domInteractive: n?.domInteractive ?? NaN,
      firstContentfulPaint: fcp?.startTime ?? NaN,
      // the last script of the shell's bundle received, and the Automerge wasm
      scriptsEnd: Math.max(...res.filter((r) => r.name.endsWith('.js')).map((r) => r.responseEnd)),
      wasmStart: wasm?.startTime ?? NaN,
      wasmEnd: wasm?.responseEnd ?? NaN,
    }
  }
  tick()
}

async function listed(page: Page): Promise<Required<ListProbe>> {
  const handle = await page
    .waitForFunction(() => (window.__list?.shown !== undefined ? window.__list : null), undefined, {
      timeout: 30_000,
      polling: 50,
    })
    .catch(async (e: unknown) => {
      const shown = await page
        .evaluate(() => document.body?.innerText.slice(0, 300))
        .catch((e2: unknown) => String(e2))
      throw new Error(`documents not shown (${String(e).split('\n')[0]}); page: ${shown}`)
    })
  return (await handle.jsonValue()) as Required<ListProbe>
}

/** P1 (online) / P2 (offline: relay stopped, context offline): cold start, then a reload. */
export async function coldStart(lab: Lab, user: Returning, offline: boolean): Promise<ColdStart> {
  if (offline) await lab.stopRelay()
  let a: BenchPeer | undefined
  try {
    a = await lab.returningPeer(offline ? 'A offline' : 'A', user.profile, offline)
    await a.page.addInitScript(listProbe, { docs: user.docs })
    await within(a.page.goto(lab.url('/')), 30_000, 'A opens the shell')
    const cold = await listed(a.page)
    await within(a.page.reload(), 30_000, 'A reloads')
    const warm = await listed(a.page)
    return {
      ms: cold.shown,
      reloadMs: warm.shown,
      nav: cold.nav,
      timings: cold.timings,
      controlled: cold.controlled && warm.controlled,
    }
  } finally {
    if (a !== undefined) await lab.closePeer(a)
    if (offline) await lab.startRelay()
  }
}

/** Runs in A's page: from the 'online' event (or now), until status() reports 0 waiting. */
function reconnectWatch(): void {
  const w: Reconnect = {}
  window.__p3 = w
  addEventListener(
    'online',
    () => {
      w.onlinePerf = performance.now()
      w.online = performance.timeOrigin + w.onlinePerf
    },
    { once: true },
  )
  const poll = (): void => {
    if (window.orrery.status().unsynced > 0) {
      setTimeout(poll, 5)
      return
    }
    w.synced = performance.timeOrigin + performance.now()
    w.timings = window.orrery.timings()
  }
  poll()
}

/** P3: A edits offline, then reconnects; until B has every edit and A reports all synced. */
export async function offlineEdits(lab: Lab, user: Returning): Promise<P3Result> {
  const a = await lab.returningPeer('A', user.profile)
  const b = await lab.peer('B')
  try {
    await lab.goto(a, '/')
    const doc = await syncedDoc({ shell: false, nested: false })(lab, a, b)
    // offline, A reloads on the document: its connections end and cannot be made again
    await a.page.evaluate((h) => (location.hash = h), linkHash(doc))
    await a.page.context().setOffline(true)
    await within(a.page.reload(), 30_000, 'A reloads offline')
    await within(
      a.page.evaluate(() => window.orrery.ready),
      30_000,
      'A ready offline',
    )
    const conns = await a.page.evaluate(() => window.orrery.connections())
    if (conns.length > 0) throw new Error(`A is offline yet connected: ${JSON.stringify(conns)}`)
    const at = `/${doc}/p3`
    const editsMs = await within(
      a.page.evaluate(
        async ({ at, n }) => {
          const { port1, port2 } = new MessageChannel()
          const nextTask = (): Promise<void> =>
            new Promise((r) => ((port1.onmessage = () => r()), port2.postMessage(0)))
          const t0 = performance.now()
          for (let i = 0; i < n; i++) {
            await window.orrery.state.set(`${at}/k${i}`, i)
            await nextTask() // each edit its own change, as a user's edits are
          }
          await window.orrery.state.flush()
          return performance.now() - t0
        },
        { at, n: OFFLINE_EDITS },
      ),
      120_000,
      'A edits offline',
    )
    const waiting = await a.page.evaluate(() => window.orrery.status().unsynced)
    await arm(b.page, 'p3', at, OFFLINE_EDITS)
    await a.page.evaluate(reconnectWatch)
    const back = Date.now()
    await a.page.context().setOffline(false)
    const peerAt = await armed(b.page, 'p3', at, 60_000)
    const w = (await (
      await a.page.waitForFunction(
        () => (window.__p3?.synced !== undefined ? window.__p3 : null),
        undefined,
        { timeout: 60_000, polling: 50 },
      )
    ).jsonValue()) as Reconnect
    const from = w.online ?? back
    const since = w.onlinePerf ?? NaN
    const after = Object.fromEntries(
      Object.entries(w.timings ?? {})
        .filter(([, t]) => t > since)
        .map(([k, t]) => [k, Math.round((t - since) * 10) / 10]),
    )
    return {
      peerMs: peerAt - from,
      syncedMs: (w.synced ?? NaN) - from,
      waiting,
      editsMs,
      onlineEvent: w.online !== undefined,
      after,
    }
  } finally {
    await Promise.all([lab.closePeer(a), lab.closePeer(b)])
  }
}
