/**
 * The benchmark's lab: one relay (fresh data directory) and headless peers, each its own Chromium
 * process with one fresh context. Everything started here is stopped by `close()`, and every lab
 * still open is closed when the process is interrupted.
 */
import fs from 'node:fs'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { contextOptions, launchOptions } from '../e2e/chromium'
import { RelayProcess } from '../e2e/fixtures'

export interface BenchPeer {
  name: string
  browser: Browser
  page: Page
  closing?: boolean
  /** a peer on a persistent profile (Lab.returningPeer) is closed through its context */
  persistent?: BrowserContext
}

/** Rejects when `p` has not settled after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

// tsx (esbuild keepNames) wraps named inner functions in `__name(...)`; functions handed to
// page.evaluate carry those calls into the page, so give the page a no-op `__name`.
const NAME_SHIM = 'globalThis.__name = globalThis.__name || ((f) => f)'

const open = new Set<Lab>()
let stopping = false

/** Whether SIGINT/SIGTERM arrived: results are then incomplete and not written. */
export const interrupted = (): boolean => stopping

export class Lab {
  readonly peers: BenchPeer[] = []
  /** page errors, console errors and warnings, relay stderr: printed when a workload fails */
  readonly log: string[] = []

  /** the relay process's largest resident set seen so far (MiB; sampled every 250 ms) */
  relayRssPeakMiB = 0
  private readonly rssTimer: ReturnType<typeof setInterval>

  private constructor(
    private current: RelayProcess,
    private readonly relayArgs: string[],
    private readonly relayEnv: Record<string, string>,
  ) {
    this.watch(current)
    this.rssTimer = setInterval(() => {
      const rss = rssMiB(this.current.proc.pid)
      if (rss !== undefined) this.relayRssPeakMiB = Math.max(this.relayRssPeakMiB, rss)
    }, 250)
  }

  /**
   * Starts a relay on a fresh data directory, or on `dataDir` when given (removed by `close`),
   * with `args` and `env` (kept for restarts).
   */
  static async start(
    dataDir?: string,
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<Lab> {
    const lab = new Lab(await RelayProcess.start(dataDir, args, env), args, env)
    open.add(lab)
    return lab
  }

  get relay(): RelayProcess {
    return this.current
  }

  private watch(relay: RelayProcess): void {
    relay.proc.stderr?.on('data', (d: Buffer) => this.note(`[relay] ${d.toString().trimEnd()}`))
  }

  /** Stops the relay and starts it again on the same port and data directory, `env` added. */
  async restartRelay(env: Record<string, string>): Promise<void> {
    await this.stopRelay()
    await this.startRelay(env)
  }

  /** Starts the relay again on the same port and data directory (after `stopRelay`). */
  async startRelay(env: Record<string, string> = {}): Promise<void> {
    const { port, dataDir } = this.current
    this.current = await RelayProcess.start(dataDir, this.relayArgs, {
      ...this.relayEnv,
      PORT: port,
      ...env,
    })
    this.watch(this.current)
  }

  async stopRelay(): Promise<void> {
    const exited = await within(this.current.kill('SIGTERM'), 5_000, 'relay exit').then(
      () => true,
      () => false,
    )
    if (!exited) await this.current.kill('SIGKILL')
  }

  /** `path` (with its `#/...` fragment) on the relay's origin. */
  url(path = '/'): string {
    return new URL(path, this.relay.url).toString()
  }

  note(line: string): void {
    this.log.push(line)
  }

  /** Launches a peer's Chromium; navigates and waits for `window.orrery.ready` when `at` given. */
  async peer(name: string, at?: string): Promise<BenchPeer> {
    const browser = await chromium.launch(launchOptions)
    const peer: BenchPeer = { name, browser, page: undefined as unknown as Page }
    this.peers.push(peer)
    await this.wire(peer, await browser.newContext(contextOptions))
    if (at !== undefined) await this.goto(peer, at)
    return peer
  }

  /**
   * A peer on the persistent profile in `profileDir` (its IndexedDB, caches and service worker
   * survive `closePeer`): a fresh Chromium process each time, as when a user starts the browser
   * again. `offline` starts it with the network emulated away. Not navigated.
   */
  async returningPeer(name: string, profileDir: string, offline = false): Promise<BenchPeer> {
    const context = await chromium.launchPersistentContext(profileDir, {
      ...launchOptions,
      ...contextOptions,
      offline,
    })
    const browser = context.browser()
    if (browser === null) throw new Error('a persistent context without a browser')
    const peer: BenchPeer = { name, browser, page: undefined as unknown as Page }
    peer.persistent = context
    this.peers.push(peer)
    await this.wire(peer, context)
    return peer
  }

  private async wire(peer: BenchPeer, context: BrowserContext): Promise<void> {
    peer.page = await this.watchedPage(peer.name, context)
    peer.browser.on('disconnected', () => {
      if (peer.closing !== true) this.note(`[${peer.name}] browser disconnected`)
    })
  }

  /**
   * A fresh context (its own storage and network state) in a peer's running Chromium, with its
   * page's errors noted like a peer's: a new tab that never met anyone, without a new process.
   * The caller closes it.
   */
  async freshContext(
    peer: BenchPeer,
    name: string,
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await peer.browser.newContext(contextOptions)
    return { context, page: await this.watchedPage(name, context) }
  }

  private async watchedPage(name: string, context: BrowserContext): Promise<Page> {
    await context.addInitScript({ content: NAME_SHIM })
    const page = context.pages()[0] ?? (await context.newPage())
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning')
        this.note(`[${name} console.${m.type()}] ${m.text()}`)
    })
    page.on('pageerror', (e) => this.note(`[${name} pageerror] ${e.stack ?? e.message}`))
    page.on('crash', () => this.note(`[${name}] page crashed`))
    return page
  }

  async goto(peer: BenchPeer, at: string): Promise<void> {
    await within(peer.page.goto(this.url(at)), 30_000, `${peer.name} loads ${at}`)
    await within(
      peer.page.evaluate(() => window.orrery.ready),
      30_000,
      `${peer.name}: window.orrery.ready`,
    )
  }

  async closePeer(peer: BenchPeer): Promise<void> {
    peer.closing = true
    const i = this.peers.indexOf(peer)
    if (i >= 0) this.peers.splice(i, 1)
    const closed = peer.persistent !== undefined ? peer.persistent.close() : peer.browser.close()
    await within(closed, 10_000, `closing ${peer.name}`).catch((e: unknown) =>
      this.note(`[${peer.name}] close: ${String(e)}`),
    )
  }

  async close(): Promise<void> {
    open.delete(this)
    clearInterval(this.rssTimer)
    await Promise.all([...this.peers].map((p) => this.closePeer(p)))
    await this.stopRelay()
    fs.rmSync(this.relay.dataDir, { recursive: true, force: true })
  }
}

/** Closes every lab still open (on SIGINT/SIGTERM), then exits. */
export function closeLabsOnSignals(): void {
  const stop = (signal: NodeJS.Signals): void => {
    stopping = true
    console.error(`\n${signal}: stopping browsers and relay…`)
    void Promise.all([...open].map((l) => l.close().catch(() => undefined))).then(() =>
      process.exit(130),
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

/** A process's resident set (MiB) from /proc, or undefined where there is none. */
function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? undefined : Number(m[1]) / 1024
  } catch {
    return undefined
  }
}
