/**
 * `npm run bench:durability [-- --trials N] [-- --quiet]`: how many resolved `set`s are lost when
 * the page goes away at once, with no `flush()`. Each case runs N times (100 by default) in one
 * profile while another profile, in its own Chromium process, runs W2-like bursts (5,000 awaited
 * sets each) on the same machine (`--quiet`: without it):
 *
 *   reload     an existing document: set, then location.reload() in the same task
 *   new-doc    docs.create(), set, location.reload()
 *   navigate   set, then location.assign('about:blank'); back, read
 *   close      set, then the page's own window.close()
 *   tab        set, then the tab closed from outside (Playwright page.close())
 *   sibling    a second tab of the profile: set, window.close(); the first tab must show it live
 *   kill       set 200 keys + flush(), then SIGKILL of every process of the browser, relaunch
 *
 * A trial is lost when the value read afterwards (a fresh page of the profile, or the live first
 * tab for `sibling`) is not the one set. Prints a table and writes bench/durability.json.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { contextOptions, launchOptions } from '../e2e/chromium'
import { RelayProcess } from '../e2e/fixtures'

const CASES = ['reload', 'new-doc', 'navigate', 'close', 'tab', 'sibling', 'kill'] as const
type Case = (typeof CASES)[number]

const NAME_SHIM = 'globalThis.__name = globalThis.__name || ((f) => f)'

function args(): { trials: number; load: boolean } {
  const a = process.argv.slice(2)
  const at = a.indexOf('--trials')
  return { trials: at >= 0 ? Number(a[at + 1]) : 100, load: !a.includes('--quiet') }
}

async function up(page: Page): Promise<void> {
  await page.waitForFunction(() => 'orrery' in window, undefined, { timeout: 60_000 })
  await page.evaluate(() => window.orrery.ready)
}

/** A fresh page of the profile whose history holds one entry (so it may window.close()). */
async function open(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage()
  const loaded = page.waitForEvent('load', { timeout: 60_000 })
  await page.evaluate((u) => location.replace(u), url)
  await loaded
  await up(page)
  return page
}

const read = (page: Page, p: string): Promise<unknown> =>
  page.evaluate((x) => window.orrery.state.get(x), p)

/** set, then end the page at once as `how` says; resolves once it is gone (or back). */
async function setThen(page: Page, p: string, v: unknown, how: 'reload' | 'away' | 'close') {
  const gone =
    how === 'close'
      ? page.waitForEvent('close', { timeout: 60_000 })
      : page.waitForEvent('load', { timeout: 60_000 }).then(() => undefined)
  await page
    .evaluate(
      async ({ p, v, how }) => {
        await window.orrery.state.set(p, v)
        if (how === 'reload') location.reload()
        else if (how === 'away') location.assign('about:blank')
        else window.close()
      },
      { p, v, how },
    )
    .catch(() => undefined)
  await gone
}

async function trial(c: Case, i: number, ctx: BrowserContext, url: string, doc: string) {
  const p = `/${doc}/${c}`
  switch (c) {
    case 'reload': {
      const page = await open(ctx, url)
      await setThen(page, p, i, 'reload')
      await up(page)
      const v = await read(page, p)
      if (v !== i) console.log(`  reload ${i}: read ${String(v)}`)
      await page.close()
      return v === i
    }
    case 'new-doc': {
      const page = await open(ctx, url)
      const fresh = await page.evaluate(() => window.orrery.docs.create())
      await setThen(page, `/${fresh}/first`, i, 'reload')
      await up(page)
      const v = await read(page, `/${fresh}/first`)
      const listed = (await page.evaluate(() => window.orrery.docs.list())).some(
        (d) => d.id === fresh,
      )
      await page.close()
      return v === i && listed
    }
    case 'navigate': {
      const page = await open(ctx, url)
      await setThen(page, p, i, 'away')
      await page.goto(url)
      await up(page)
      const v = await read(page, p)
      await page.close()
      return v === i
    }
    case 'close':
    case 'tab': {
      const page = await open(ctx, url)
      if (c === 'close') await setThen(page, p, i, 'close')
      else {
        await page.evaluate(({ p, i }) => window.orrery.state.set(p, i), { p, i })
        await page.close()
      }
      const check = await open(ctx, url)
      const v = await read(check, p)
      await check.close()
      return v === i
    }
    default:
      throw new Error(`no trial for ${c}`)
  }
}

async function siblingTrials(ctx: BrowserContext, url: string, doc: string, n: number) {
  const first = await open(ctx, `${url}#/doc/${doc}`)
  let lost = 0
  for (let i = 0; i < n; i++) {
    const second = await open(ctx, `${url}#/doc/${doc}`)
    await setThen(second, `/${doc}/sibling`, i, 'close')
    const seen = await first
      .waitForFunction(
        ({ p, i }) => window.orrery.state.get(p).then((v) => v === i),
        { p: `/${doc}/sibling`, i },
        { timeout: 10_000, polling: 50 },
      )
      .then(
        () => true,
        () => false,
      )
    if (!seen) lost++
  }
  await first.close()
  return lost
}

async function killTrials(url: string, n: number): Promise<number> {
  let lost = 0
  for (let i = 0; i < n; i++) {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-kill-'))
    try {
      const launch = () =>
        chromium.launchPersistentContext(profile, { ...launchOptions, ...contextOptions })
      let ctx = await launch()
      await ctx.addInitScript(NAME_SHIM)
      let page = await open(ctx, url)
      const doc = await page.evaluate(async () => {
        const d = await window.orrery.docs.create()
        for (let k = 0; k < 200; k++) await window.orrery.state.set(`/${d}/k${k}`, k)
        await window.orrery.state.flush()
        return d
      })
      execFileSync('pkill', ['-KILL', '-f', profile])
      await ctx.close().catch(() => undefined)
      ctx = await launch()
      page = await open(ctx, url)
      const back = (await read(page, `/${doc}`)) as Record<string, unknown> | undefined
      if (Object.keys(back ?? {}).length !== 200) lost++
      await ctx.close()
    } finally {
      fs.rmSync(profile, { recursive: true, force: true })
    }
  }
  return lost
}

async function main(): Promise<void> {
  const { trials, load } = args()
  const relay = await RelayProcess.start()
  const browser = await chromium.launch(launchOptions)
  const busyBrowser = load ? await chromium.launch(launchOptions) : undefined
  const results: Record<string, { trials: number; lost: number; ms: number }> = {}
  try {
    let stopBurst: (() => Promise<void>) | undefined
    if (busyBrowser !== undefined) {
      const busyCtx = await busyBrowser.newContext(contextOptions)
      await busyCtx.addInitScript(NAME_SHIM)
      const busy = await open(busyCtx, relay.url)
      const running = busy.evaluate(async () => {
        const d = await window.orrery.docs.create()
        const w = window as unknown as { stopBurst?: boolean }
        for (let round = 0; !w.stopBurst; round++) {
          for (let k = 0; k < 5000; k++) await window.orrery.state.set(`/${d}/k${k}`, round)
          await new Promise((r) => setTimeout(r, 0))
        }
      })
      stopBurst = async () => {
        await busy.evaluate(() => {
          ;(window as unknown as { stopBurst?: boolean }).stopBurst = true
        })
        await running.catch(() => undefined)
      }
    }
    const ctx = await browser.newContext(contextOptions)
    await ctx.addInitScript(NAME_SHIM)
    const setup = await open(ctx, relay.url)
    const doc = await setup.evaluate(() => window.orrery.docs.create())
    await setup.close()
    for (const c of CASES) {
      const started = Date.now()
      let lost = 0
      const n = c === 'kill' ? Math.min(trials, 20) : trials
      if (c === 'sibling') lost = await siblingTrials(ctx, relay.url, doc, n)
      else if (c === 'kill') lost = await killTrials(relay.url, n)
      else for (let i = 0; i < n; i++) if (!(await trial(c, i, ctx, relay.url, doc))) lost++
      results[c] = { trials: n, lost, ms: Date.now() - started }
      console.log(`${c.padEnd(9)} ${String(n).padStart(4)} trials  ${lost} lost`)
    }
    await stopBurst?.()
  } finally {
    await browser.close()
    await busyBrowser?.close()
    await relay.kill()
  }
  const out = path.join(path.dirname(fileURLToPath(import.meta.url)), 'durability.json')
  fs.writeFileSync(
    out,
    JSON.stringify(
      { at: new Date().toISOString(), load, cpus: os.cpus().length, results },
      null,
      2,
    ),
  )
  console.log(`wrote ${out}`)
}

await main()
