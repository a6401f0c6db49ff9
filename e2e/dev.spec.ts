/**
 * Developing apps against `npm run dev` (the relay with Vite): an element edited on disk updates
 * in place in the shell, keeping the page, the peer, its connections and the element's state; a
 * change that cannot be applied in place reloads and says why; with live publishing, a following
 * browser swaps each new version in and keeps its documents, can pin a version, and refuses a
 * version signed by another key.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Page } from '@playwright/test'
import { expect, openPeer, RelayProcess, test, untilReady } from './fixtures'
import { newApp } from '../scripts/new-app'

const probeName = (): string => `probe${Math.random().toString(36).slice(2, 8)}`

function edit(dir: string, from: string | RegExp, to: string): void {
  const file = path.join(dir, 'src', 'index.ts')
  const before = fs.readFileSync(file, 'utf8')
  const after = before.replace(from, to)
  if (after === before) throw new Error(`edit: ${String(from)} not found`)
  fs.writeFileSync(file, after)
}

async function devInfo(
  url: string,
): Promise<{ publishing?: { publisher: string; versions: { name: string; cid: string }[] } }> {
  return (await (await fetch(`${url}/orrery/dev.json`)).json()) as never
}

async function versions(url: string, name: string): Promise<string[]> {
  return ((await devInfo(url)).publishing?.versions ?? [])
    .filter((v) => v.name === name)
    .map((v) => v.cid)
}

const relayConnected = (page: Page): Promise<boolean> =>
  page.evaluate(async () =>
    (await window.orrery.connections()).some((c) => c.transport === 'websockets'),
  )

test('an element edited on disk updates in place in the running shell; what cannot, reloads and says why', async ({
  browser,
}) => {
  const name = probeName()
  const dir = newApp(name)
  const relay = await RelayProcess.start(undefined, ['--dev'])
  try {
    const { page } = await openPeer(browser, `${relay.url}/#/dev/${name}`)
    const title = page.getByTestId(`${name}-title`)
    const add = page.getByTestId(`${name}-add`)
    await expect(title).toHaveText(`Hello from ${name}`, { timeout: 40_000 })
    // a fresh dev server may still re-optimise dependencies and reload the page once: let it
    await page.waitForTimeout(1500)
    await page.reload()
    await untilReady(page)
    const id = await page.evaluate(() => window.orrery.id)
    await expect(title).toHaveText(`Hello from ${name}`, { timeout: 40_000 })
    await add.click()
    await add.click()
    await expect(add).toHaveText('clicked 2 times')
    await expect.poll(() => relayConnected(page)).toBe(true)
    await page.evaluate(() => ((window as { marker?: string }).marker = 'same page'))

    edit(dir, 'Hello from', 'Edited, hello from')
    await expect(title).toHaveText(`Edited, hello from ${name}`, { timeout: 15_000 })
    await expect(add).toHaveText('clicked 2 times') // the element's state and its document
    expect(await page.evaluate(() => (window as { marker?: string }).marker)).toBe('same page')
    expect(await page.evaluate(() => window.orrery.id)).toBe(id)
    expect(await relayConnected(page)).toBe(true)
    await expect(page.getByTestId('reload-notice')).toHaveCount(0)

    // a new reactive property cannot be patched into a defined element: reload, with the reason
    edit(dir, 'count: { state: true },', 'count: { state: true },\n    extra: { state: true },')
    await expect(page.getByTestId('reload-notice')).toContainText('reactive properties changed', {
      timeout: 15_000,
    })
    expect(await page.evaluate(() => (window as { marker?: string }).marker)).toBeUndefined()
    await expect(add).toHaveText('clicked 2 times') // the document kept the count
  } finally {
    await relay.kill()
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

test('live publishing: a follower swaps in each new version, keeps its documents, can pin, refuses another key', async ({
  browser,
}) => {
  const name = probeName()
  const dir = newApp(name)
  const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-keys-'))
  const relay = await RelayProcess.start(undefined, ['--dev', '--publish', dir], {
    ORRERY_PUBLISHER: path.join(keys, 'developer.json'),
  })
  try {
    await expect.poll(() => versions(relay.url, name), { timeout: 30_000 }).toHaveLength(1)
    const [first] = await versions(relay.url, name)
    const publisher = (await devInfo(relay.url)).publishing!.publisher

    const { page } = await openPeer(browser, `${relay.url}/#/app/${first}`)
    const title = page.getByTestId(`${name}-title`)
    const add = page.getByTestId(`${name}-add`)
    await expect(title).toHaveText(`Hello from ${name}`, { timeout: 40_000 })
    await add.click()
    await add.click()
    await expect(add).toHaveText('clicked 2 times')
    await page.getByTestId('app-follow').check()
    await expect
      .poll(() => page.evaluate(() => window.orrery.apps.follows()))
      .toEqual([expect.objectContaining({ publisher, name })])
    await page.evaluate(() => ((window as { marker?: string }).marker = 'same page'))

    // save → rebuilt, signed, announced → installed and swapped in, state and documents kept
    edit(dir, 'Hello from', 'Live from')
    await expect(title).toHaveText(`Live from ${name}`, { timeout: 15_000 })
    await expect(add).toHaveText('clicked 2 times')
    expect(await page.evaluate(() => (window as { marker?: string }).marker)).toBe('same page')
    const second = (await versions(relay.url, name)).at(-1)!
    expect(second).not.toBe(first)
    expect(await page.evaluate(() => window.orreryLastSwap?.cid)).toBe(second)
    expect(page.url()).toContain(second)
    await add.click()
    await expect(add).toHaveText('clicked 3 times')

    // pinned: the next version is installed and offered, not swapped in
    await page.getByTestId('app-pin').check()
    await expect
      .poll(() => page.evaluate(() => window.orrery.apps.follows().then((f) => f[0]?.pinned)))
      .toBe(second)
    edit(dir, 'Live from', 'Third from')
    await expect(page.getByTestId('app-notice')).toContainText('pinned', { timeout: 15_000 })
    await expect(title).toHaveText(`Live from ${name}`)
    await page.getByTestId('app-pin').uncheck()
    await expect(title).toHaveText(`Third from ${name}`, { timeout: 15_000 })
    await expect(add).toHaveText('clicked 3 times')

    // a version of the same app signed by someone else reaches the follower and is refused
    edit(dir, 'Third from', 'Other from')
    await expect(title).toHaveText(`Other from ${name}`, { timeout: 15_000 }) // the developer's
    const latest = (await versions(relay.url, name)).at(-1)
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        'scripts/publish-app.ts',
        dir,
        '--out',
        path.join(relay.dataDir, 'seed'),
        '--publisher',
        path.join(keys, 'other.json'),
      ],
      { stdio: 'pipe' },
    )
    await expect
      .poll(
        () => page.evaluate(() => window.orrery.apps.refused().then((r) => r.map((x) => x.reason))),
        { timeout: 15_000 },
      )
      .toContainEqual(expect.stringContaining(`not the followed key ${publisher}`))
    expect(await page.evaluate(() => window.orreryLastSwap?.cid)).toBe(latest)
    const follows = await page.evaluate(() => window.orrery.apps.follows())
    expect(follows[0]?.latest).toBe(latest)
  } finally {
    await relay.kill()
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(keys, { recursive: true, force: true })
  }
})
