/**
 * End-to-end fixtures: the real relay as a child process (own port, own data directory) serving
 * the built app, and peers as separate browser contexts (separate IndexedDB, BroadcastChannel and
 * network stack), each waited on until `window.orrery.ready`.
 */
import {
  test as base,
  expect,
  type Browser,
  type BrowserContext,
  type Page,
} from '@playwright/test'
import type { LinkKeys } from '../src/core/link-keys'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export class RelayProcess {
  private constructor(
    readonly url: string,
    readonly proc: ChildProcess,
    readonly dataDir: string,
    readonly exited: Promise<number | null>,
  ) {}

  static async start(
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-relay-')),
    args: string[] = [],
    env: Record<string, string> = {},
  ): Promise<RelayProcess> {
    const proc = spawn(
      process.execPath,
      ['--import', './relay/polyfill.js', '--import', 'tsx', 'relay/main.ts', ...args],
      {
        env: {
          ...process.env,
          PORT: '0',
          HOST: '127.0.0.1',
          ORRERY_DATA_DIR: dataDir,
          ORRERY_LOG: 'warn',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    const exited = new Promise<number | null>((resolve) =>
      proc.once('exit', (code) => resolve(code)),
    )
    let out = ''
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay did not start:\n${out}`)), 60_000)
      const onData = (d: Buffer): void => {
        out += d.toString()
        const m = /on (http:\/\/[^\s]+)/.exec(out)
        if (m?.[1] !== undefined) {
          clearTimeout(timer)
          resolve(m[1])
        }
      }
      proc.stdout?.on('data', onData)
      proc.stderr?.on('data', (d: Buffer) => (out += d.toString()))
      void exited.then(() => reject(new Error(`relay exited:\n${out}`)))
    })
    return new RelayProcess(url, proc, dataDir, exited)
  }

  get port(): string {
    return new URL(this.url).port
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal)
    return this.exited
  }
}

export interface Peer {
  page: Page
  context: BrowserContext
  id: string
}

/** Opens a peer in its own browser context and waits until it is up. */
export async function openPeer(
  browser: Browser | null,
  url: string,
  context?: BrowserContext,
): Promise<Peer> {
  if (context === undefined && browser === null)
    throw new Error('openPeer needs a browser or a context')
  const ctx = context ?? (await browser!.newContext({ permissions: ['camera', 'microphone'] }))
  const page = await ctx.newPage()
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`))
  await page.goto(url)
  await untilReady(page)
  const id = await page.evaluate(() => window.orrery.id)
  return { page, context: ctx, id }
}

/**
 * Waits for `window.orrery.ready`. V8 holds the promise of a pending evaluation weakly: Chromium
 * has answered "Resulting promise was garbage collected" while the page was still booting (CI,
 * once). Asking again is safe: `ready` is one promise, settled once.
 */
export async function untilReady(page: Page): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.evaluate(() => window.orrery.ready)
      return
    } catch (e) {
      if (attempt >= 3 || !/garbage collected|Promise was collected/.test(String(e))) throw e
    }
  }
}

export const stateOf = (page: Page, path: string): Promise<unknown> =>
  page.evaluate((p) => window.orrery.state.get(p), path)

/**
 * Polls a state path until it equals `expected`. The bound is generous (a first sync between two
 * fresh browsers on a loaded 2-core machine: boot, relay, WebRTC dial, sync took over 20 s in
 * two full runs): it says "eventually", speed is bench/'s.
 */
export async function expectState(
  page: Page,
  path: string,
  expected: unknown,
  timeout = 45_000,
): Promise<void> {
  await expect
    .poll(() => stateOf(page, path), { timeout, intervals: [50, 100, 250] })
    .toEqual(expected)
}

export const test = base.extend<{ relay: RelayProcess }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take their dependencies as a pattern
  relay: async ({}, use) => {
    const relay = await RelayProcess.start()
    await use(relay)
    await relay.kill('SIGTERM')
    fs.rmSync(relay.dataDir, { recursive: true, force: true })
  },
})

/**
 * As `test`, on a relay without a mirror (ORRERY_MIRROR=0): for what a tab shows while nobody
 * who has a document is online, which a mirror holding it would otherwise answer at once.
 */
export const withoutMirror = test.extend<{ relay: RelayProcess }>({
  // eslint-disable-next-line no-empty-pattern -- Playwright fixtures take their dependencies as a pattern
  relay: async ({}, use) => {
    const relay = await RelayProcess.start(undefined, [], { ORRERY_MIRROR: '0' })
    await use(relay)
    await relay.kill('SIGTERM')
    fs.rmSync(relay.dataDir, { recursive: true, force: true })
  },
})

export { expect }

/** The share link of a document `page` holds (its keys in the fragment), as the shell makes it. */
export function shareLink(page: Page, doc: string): Promise<string> {
  return page.evaluate((d) => window.orrery.docs.link(d), doc)
}

/** What a share link carries beside the id (`docs.open(id, keys)` in another profile). */
export function linkKeys(page: Page, doc: string): Promise<LinkKeys> {
  return page.evaluate((d) => window.orrery.docs.linkKeys(d), doc)
}

/**
 * A space made at `page` with one document holding `welcome`, and an invite (writer) that opens
 * that document once the newcomer has joined.
 */
export async function spaceWithInvite(
  page: Page,
  name: string,
  welcome: string,
): Promise<{ space: string; doc: string; invite: string }> {
  const { space, doc } = await page.evaluate(
    async ({ name, welcome }) => {
      const space = await window.orrery.spaces.create(name)
      const doc = await window.orrery.spaces.createDoc(space)
      await window.orrery.state.set(`/${doc}/welcome`, welcome)
      return { space, doc }
    },
    { name, welcome },
  )
  const invite = await page.evaluate(
    ({ space, doc }) => window.orrery.spaces.invite(space, 'writer', { open: { doc } }),
    { space, doc },
  )
  return { space, doc, invite }
}
