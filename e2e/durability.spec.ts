/**
 * What `await state.set(...)` promises: once it resolved, the edit survives the page going away
 * at once, with no `flush()`: a reload, a navigation, a closed tab, `window.close()`, a second
 * tab of the profile closing, also while another profile runs a burst on the same machine. And
 * after `flush()`, killing the whole browser (SIGKILL) loses nothing.
 *
 * Each case runs TRIALS times (DURABILITY_TRIALS; `npm run bench -- --only DURABILITY` runs 100
 * of each and reports the losses).
 */
import { chromium, type BrowserContext, type Page } from '@playwright/test'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { contextOptions, launchOptions } from './chromium'
import { expect, openPeer, stateOf, test, untilReady } from './fixtures'

const TRIALS = Number(process.env.DURABILITY_TRIALS ?? 5)
// pages open and close many times in each test, on a machine the other profile keeps busy
test.describe.configure({ timeout: 180_000 })

type Ending = 'reload' | 'navigate' | 'close'

/**
 * In the page: `await set(path, value)`, then at once (same task) end the page as `ending` says.
 * Resolves when the page has gone (and, for a reload, come back up).
 */
async function setThenEnd(page: Page, p: string, value: unknown, ending: Ending): Promise<void> {
  const gone =
    ending === 'close'
      ? page.waitForEvent('close')
      : page.waitForEvent('load').then(() => undefined)
  await page
    .evaluate(
      async ({ p, value, ending }) => {
        await window.orrery.state.set(p, value)
        if (ending === 'reload') location.reload()
        else if (ending === 'navigate') location.assign('about:blank')
        else window.close()
      },
      { p, value, ending },
    )
    .catch(() => undefined) // the page went away under the evaluation
  await gone
}

async function ready(page: Page): Promise<void> {
  await page.waitForFunction(() => 'orrery' in window)
  await untilReady(page)
}

/**
 * Opens `url` in a fresh page of `context` (the same profile) and waits until it is up. The
 * page's history holds that one entry, so the page may `window.close()` itself.
 */
async function reopen(context: BrowserContext, url: string): Promise<Page> {
  const page = await context.newPage()
  page.on('pageerror', (e) => console.log(`[page error] ${e.message}`))
  const loaded = page.waitForEvent('load')
  await page.evaluate((u) => location.replace(u), url)
  await loaded
  await ready(page)
  return page
}

test('a resolved set survives an immediate reload, of an existing document and of a new one', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/n`, -1), doc)
  for (let i = 0; i < TRIALS; i++) {
    await setThenEnd(a.page, `/${doc}/n`, i, 'reload')
    await ready(a.page)
    expect(await stateOf(a.page, `/${doc}/n`), `reload ${i}`).toBe(i)
  }
  // a document created just before: its record and its first change both survive
  for (let i = 0; i < TRIALS; i++) {
    const fresh = await a.page.evaluate(() => window.orrery.docs.create())
    await setThenEnd(a.page, `/${fresh}/first`, { i }, 'reload')
    await ready(a.page)
    expect(await stateOf(a.page, `/${fresh}/first`), `new document ${i}`).toEqual({ i })
    const listed = await a.page.evaluate(() => window.orrery.docs.list())
    expect(listed.map((d) => d.id)).toContain(fresh)
  }
})

test('a resolved set survives navigating away', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  for (let i = 0; i < TRIALS; i++) {
    await setThenEnd(a.page, `/${doc}/nav`, i, 'navigate')
    await a.page.goto(relay.url)
    await ready(a.page)
    expect(await stateOf(a.page, `/${doc}/nav`), `navigation ${i}`).toBe(i)
  }
})

// No other tab of the profile has the document open in these two: only the disk can tell.
test('a resolved set survives the page closing itself with window.close()', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.close()
  for (let i = 0; i < TRIALS; i++) {
    const closing = await reopen(a.context, relay.url)
    await setThenEnd(closing, `/${doc}/closed`, i, 'close')
    const fresh = await reopen(a.context, relay.url)
    expect(await stateOf(fresh, `/${doc}/closed`), `window.close ${i}`).toBe(i)
    await fresh.close()
  }
})

test('a resolved set survives its tab being closed', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.close()
  for (let i = 0; i < TRIALS; i++) {
    const closing = await reopen(a.context, relay.url)
    await closing.evaluate(({ p, i }) => window.orrery.state.set(p, i), { p: `/${doc}/tab`, i })
    await closing.close()
    const fresh = await reopen(a.context, relay.url)
    expect(await stateOf(fresh, `/${doc}/tab`), `tab close ${i}`).toBe(i)
    await fresh.close()
  }
})

test('a second tab of the profile closing at once loses nothing, also while another profile runs a burst', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/second`, -1), doc)
  // another profile keeps the machine busy with W2-like bursts of awaited sets
  const busy = await openPeer(browser, relay.url)
  const burstDoc = await busy.page.evaluate(() => window.orrery.docs.create())
  const burst = busy.page.evaluate(async (d) => {
    const w = window as unknown as { stopBurst?: boolean }
    for (let round = 0; !w.stopBurst; round++) {
      for (let i = 0; i < 5000; i++) await window.orrery.state.set(`/${d}/k${i}`, round)
      // awaited sets resolve in microtasks: let the page breathe between bursts
      await new Promise((r) => setTimeout(r, 0))
    }
  }, burstDoc)
  try {
    for (let i = 0; i < TRIALS; i++) {
      const second = await reopen(a.context, `${relay.url}#/doc/${doc}`)
      await setThenEnd(second, `/${doc}/second`, i, 'close')
      // the first tab hears of it, and it is on the profile's disk
      await expect.poll(() => stateOf(a.page, `/${doc}/second`)).toBe(i)
      const third = await reopen(a.context, relay.url)
      expect(await stateOf(third, `/${doc}/second`), `second tab ${i}`).toBe(i)
      await third.close()
    }
    // and under the same load, the reloads of the first test
    for (let i = 0; i < TRIALS; i++) {
      await setThenEnd(a.page, `/${doc}/loaded`, i, 'reload')
      await ready(a.page)
      expect(await stateOf(a.page, `/${doc}/loaded`), `reload under load ${i}`).toBe(i)
    }
  } finally {
    await busy.page.evaluate(() => {
      ;(window as unknown as { stopBurst?: boolean }).stopBurst = true
    })
    await burst.catch(() => undefined)
  }
})

test('after flush(), killing the browser process (SIGKILL) loses nothing', async ({ relay }) => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-crash-'))
  const launch = (): Promise<BrowserContext> =>
    chromium.launchPersistentContext(profile, { ...launchOptions, ...contextOptions })
  try {
    let context = await launch()
    let page = await reopen(context, relay.url)
    const doc = await page.evaluate(() => window.orrery.docs.create())
    const written = await page.evaluate(async (d) => {
      for (let i = 0; i < 200; i++) await window.orrery.state.set(`/${d}/k${i}`, i)
      await window.orrery.state.set(`/${d}/big`, 'x'.repeat(300_000))
      await window.orrery.state.flush()
      return 200
    }, doc)
    // every process of this browser, at once, with no chance to run a handler
    execFileSync('pkill', ['-KILL', '-f', profile])
    await context.close().catch(() => undefined)
    context = await launch()
    page = await reopen(context, relay.url)
    const back = (await stateOf(page, `/${doc}`)) as Record<string, unknown> | undefined
    expect(Object.keys(back ?? {}).length).toBe(written + 1)
    expect(back?.k199).toBe(199)
    expect((back?.big as string | undefined)?.length).toBe(300_000)
    expect((await page.evaluate(() => window.orrery.docs.list())).map((d) => d.id)).toContain(doc)
    await context.close()
  } finally {
    fs.rmSync(profile, { recursive: true, force: true })
  }
})
