/**
 * The L3 cluster: the real relay (killed with SIGKILL and restarted on its port and data
 * directory), and 3 browser profiles (one context each, up to two tabs each) holding a space's
 * governed document and a free document. Every write acknowledged by `state.set` is recorded
 * (the page reports it through a binding as soon as `set` resolved, so a write acknowledged just
 * before its page reloads or closes is recorded too). See heal.ts for the checks after healing.
 */
import type { LinkKeys } from '../../src/core/link-keys'
import type { Browser, BrowserContext, Page } from '@playwright/test'
import { contextOptions } from '../chromium'
import { RelayProcess, untilReady } from '../fixtures'
import { MAX_TABS, PROFILES, type DocName } from './schedule'

export interface Tab {
  page: Page
  /** the tab's libp2p peer id */
  peer: string
}

export interface Profile {
  context: BrowserContext
  /** the profile's identity (did:key), shared by its tabs */
  identity: string
  tabs: Tab[]
}

export interface Ack {
  doc: string
  key: string
  value: string
}

export interface Counts {
  writes: number
  refused: number
  relayKills: number
  reloads: number
  opened: number
  closed: number
  offline: number
}

type AckWindow = Window & { chaosAck: (doc: string, key: string, value: string) => void }

/** keys every profile writes (last writer wins): only convergence is checked on them */
export const SHARED_KEYS = 3

export class L3Cluster {
  relay: RelayProcess | undefined
  readonly profiles: Profile[] = []
  docs: Record<DocName, string> = { free: '', space: '' }
  /** what the free document's share link carries (members have the space's document's keys) */
  private freeKeys: LinkKeys = {}
  /** acknowledged writes to unique keys, by `${doc}/${key}` */
  readonly acked = new Map<string, Ack>()
  /** every value written (or attempted) to a shared key, by `${doc}/${key}` */
  readonly sharedValues = new Map<string, Set<string>>()
  readonly counts: Counts = {
    writes: 0,
    refused: 0,
    relayKills: 0,
    reloads: 0,
    opened: 0,
    closed: 0,
    offline: 0,
  }
  private seq = 0
  private port = ''
  private dataDir = ''

  constructor(
    private readonly browser: Browser,
    readonly note: (line: string) => void,
  ) {}

  get relayDir(): string {
    return this.dataDir
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  get tabs(): Tab[] {
    return this.profiles.flatMap((p) => p.tabs)
  }

  /** The relay, 3 profiles with one tab each, a space all of them belong to, two documents. */
  async start(): Promise<void> {
    this.relay = await RelayProcess.start()
    this.port = this.relay.port
    this.dataDir = this.relay.dataDir
    for (let p = 0; p < PROFILES; p++) {
      const context = await this.browser.newContext(contextOptions)
      await context.exposeBinding('chaosAck', (_source, doc: string, key: string, value: string) =>
        this.ack(doc, key, value),
      )
      this.profiles.push({ context, identity: '', tabs: [] })
    }
    const first = await this.bareTab(0)
    const made = await first.page.evaluate(async () => {
      const space = await window.orrery.spaces.create('chaos')
      const doc = await window.orrery.spaces.createDoc(space)
      const free = await window.orrery.docs.create()
      await window.orrery.state.set(`/${doc}/init`, 1)
      await window.orrery.state.set(`/${free}/init`, 1)
      return { space, doc, free }
    })
    this.docs = { free: made.free, space: made.doc }
    this.freeKeys = await first.page.evaluate((d) => window.orrery.docs.linkKeys(d), made.free)
    this.note(`  setup: profile 0 up, space and documents made`)
    await openDocs(first.page, this.docs, this.freeKeys)
    // the other profiles join the space (at once: each waits for discovery)
    const join = async (p: number): Promise<void> => {
      const link = await first.page.evaluate(
        (s) => window.orrery.spaces.invite(s, 'writer'),
        made.space,
      )
      const tab = await this.bareTab(p)
      await tab.page.evaluate(
        ({ link, name }) => window.orrery.spaces.join(link, name, { timeoutMs: 30_000 }),
        { link, name: `profile ${p}` },
      )
      await openDocs(tab.page, this.docs, this.freeKeys)
      this.note(`  setup: profile ${p} joined`)
    }
    await Promise.all(Array.from({ length: PROFILES - 1 }, (_, i) => join(i + 1)))
    // the service worker, so that a tab opens while the relay is down
    for (const t of this.tabs) await t.page.evaluate(() => navigator.serviceWorker.ready)
  }

  private ack(doc: string, key: string, value: string): void {
    if (key.startsWith('w')) this.acked.set(`${doc}/${key}`, { doc, key, value })
  }

  /** A tab of profile `p` at the shell's home, up, but with no document opened by the test. */
  private async bareTab(p: number, hash = ''): Promise<Tab> {
    const profile = this.profiles[p]!
    if (profile.tabs.length >= MAX_TABS) throw new Error(`profile ${p} has ${MAX_TABS} tabs`)
    const page = await profile.context.newPage()
    page.on('pageerror', (e) => this.note(`  [page error p${p}] ${e.message}`))
    page.on('console', (m) => {
      if (m.type() === 'error') this.note(`  [console p${p}] ${m.text().slice(0, 300)}`)
    })
    const response = await page.goto(`${this.url}/${hash}`)
    const up = await page
      .waitForFunction(() => 'orrery' in window, undefined, { timeout: 15_000 })
      .then(() => true)
      .catch(() => false)
    if (!up) {
      const body = (await page.content().catch(() => '')).replace(/\s+/g, ' ').slice(0, 400)
      await page.close()
      throw new Error(
        `profile ${p}: the page has no window.orrery (relay ${this.relay ? 'up' : 'down'}, HTTP ${response?.status() ?? 'none'}, from service worker ${response?.fromServiceWorker() ?? false}): ${body}`,
      )
    }
    await untilReady(page)
    const peer = await page.evaluate(() => window.orrery.id)
    profile.identity = await page.evaluate(() => window.orrery.identity.id())
    const tab = { page, peer }
    profile.tabs.push(tab)
    this.counts.opened++
    return tab
  }

  /** A new tab of profile `p` showing the space's document, with both documents open. */
  async open(p: number): Promise<Tab> {
    const tab = await this.bareTab(p, `#/doc/${this.docs.space}`)
    await openDocs(tab.page, this.docs, this.freeKeys)
    return tab
  }

  async close(p: number, tab: number): Promise<void> {
    const t = this.profiles[p]!.tabs.splice(tab, 1)[0]
    if (t === undefined) throw new Error(`profile ${p} has no tab ${tab}`)
    await t.page.close()
    this.counts.closed++
  }

  async offline(p: number): Promise<void> {
    while (this.profiles[p]!.tabs.length > 0) await this.close(p, 0)
    this.counts.offline++
  }

  private items(p: number, tab: number, doc: DocName, n: number, shared: boolean): string[][] {
    const d = this.docs[doc]
    return Array.from({ length: n }, () => {
      const seq = this.seq++
      const value = `p${p}.${tab}#${seq}`
      if (!shared) return [`w${seq}`, value]
      const key = `s${seq % SHARED_KEYS}`
      const all = this.sharedValues.get(`${d}/${key}`) ?? new Set<string>()
      all.add(value)
      this.sharedValues.set(`${d}/${key}`, all)
      return [key, value]
    })
  }

  /** `n` awaited sets in tab `tab` of profile `p`; `then` ends the page in the same task. */
  async write(
    p: number,
    tab: number,
    doc: DocName,
    n: number,
    shared = false,
    then: 'reload' | 'none' = 'none',
  ): Promise<void> {
    const t = this.profiles[p]!.tabs[tab]
    if (t === undefined) throw new Error(`profile ${p} has no tab ${tab}`)
    const items = this.items(p, tab, doc, n, shared)
    this.counts.writes += n
    const run = t.page.evaluate(
      async ({ d, items, then }) => {
        const refused: string[] = []
        for (const [k, v] of items) {
          try {
            await window.orrery.state.set(`/${d}/${k}`, v)
            ;(window as unknown as AckWindow).chaosAck(d, k!, v!)
          } catch (e) {
            refused.push(`${k}: ${(e as { code?: string }).code ?? String(e)}`)
          }
        }
        if (then === 'reload') location.reload()
        return refused
      },
      { d: this.docs[doc], items, then },
    )
    if (then === 'reload') {
      const loaded = t.page.waitForEvent('load')
      await run.catch(() => []) // the page went away under the evaluation
      await loaded
      // the reloaded page's script may not have run yet: wait for it, across navigations
      await t.page.waitForFunction(() => 'orrery' in window, undefined, { timeout: 15_000 })
      await untilReady(t.page)
      await openDocs(t.page, this.docs, this.freeKeys)
      this.counts.reloads++
      return
    }
    const refused = await run
    this.counts.refused += refused.length
    if (refused.length > 0) this.note(`  refused: ${refused.join(', ')}`)
  }

  async killRelay(): Promise<void> {
    await this.relay?.kill('SIGKILL')
    this.relay = undefined
    this.counts.relayKills++
  }

  async startRelay(): Promise<void> {
    if (this.relay !== undefined) return
    this.relay = await RelayProcess.start(this.dataDir, [], { PORT: this.port })
  }

  async stop(): Promise<void> {
    for (const p of this.profiles) await p.context.close().catch(() => undefined)
    await this.relay?.kill('SIGTERM')
  }
}

async function openDocs(
  page: Page,
  docs: Record<DocName, string>,
  freeKeys: LinkKeys,
): Promise<void> {
  await page.evaluate(
    async ({ docs, freeKeys }) => {
      await window.orrery.docs.open(docs.free, freeKeys)
      await window.orrery.docs.open(docs.space)
    },
    { docs, freeKeys },
  )
}
