/**
 * Installable, offline-first: the shell opens with no network at all from the service worker's
 * cache, shows the user's documents and takes edits (on disk at once, "waiting" for peers); when
 * the network returns the edits reach the other peer without any action. Updates wait for the
 * user, and nothing unsaved is lost by them.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from '@playwright/test'
import { launchOptions } from './chromium'
import {
  expect,
  expectState,
  openPeer,
  RelayProcess,
  shareLink,
  stateOf,
  test,
  untilReady,
} from './fixtures'

test('a returning user works offline and the edits reach a peer when the network returns', async ({
  browser,
}) => {
  let relay = await RelayProcess.start()
  try {
    const a = await openPeer(browser, relay.url)
    const doc = await a.page.evaluate(() => window.orrery.docs.create())
    await a.page.evaluate((d) => window.orrery.state.set(`/${d}/before`, 'online'), doc)
    const b = await openPeer(browser, await shareLink(a.page, doc))
    await expectState(b.page, `/${doc}/before`, 'online')
    await expect(a.page.getByTestId('sync-state')).toHaveText('all synced', { timeout: 20_000 })
    await a.page.evaluate(() => navigator.serviceWorker.ready)

    // everything goes away: the other peer, the relay, the network
    const port = relay.port
    const dataDir = relay.dataDir
    await b.page.close()
    await relay.kill()
    await a.context.setOffline(true)
    await a.page.reload()
    await untilReady(a.page)
    await expect(a.page.getByTestId('relay-state')).not.toHaveText('relay connected')
    await expect(a.page.getByTestId('doc-list')).toContainText(doc) // documents from the disk
    await a.page.evaluate(
      (d) => window.orrery.state.set(`/${d}/offline`, 'written with no network'),
      doc,
    )
    await expect(a.page.getByTestId('sync-state')).toHaveText('1 change waiting')
    await expect(a.page.getByTestId('saved')).toBeVisible() // on disk at once

    // the network comes back: no action from the user
    relay = await RelayProcess.start(dataDir, [], { PORT: port })
    await a.context.setOffline(false)
    const b2 = await openPeer(browser, `${relay.url}/#/doc/${doc}`, b.context)
    await expectState(b2.page, `/${doc}/offline`, 'written with no network', 45_000)
    await expect(a.page.getByTestId('sync-state')).toHaveText('all synced', { timeout: 20_000 })
    await expect(a.page.getByTestId('doc-list')).toContainText('synced')
  } finally {
    await relay.kill()
  }
})

test('Orrery is installable, and an update waits for the user without losing edits', async ({
  relay,
}) => {
  // a persistent profile: an off-the-record context is never installable
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-profile-'))
  const context = await chromium.launchPersistentContext(profile, {
    ...launchOptions,
    permissions: ['camera', 'microphone'],
  })
  const a = await openPeer(null, relay.url, context)
  await a.page.evaluate(() => navigator.serviceWorker.ready)
  const cdp = await a.context.newCDPSession(a.page)
  const { installabilityErrors } = (await cdp.send('Page.getInstallabilityErrors')) as {
    installabilityErrors: { errorId: string }[]
  }
  expect(installabilityErrors).toEqual([])
  const manifest = (await cdp.send('Page.getAppManifest')) as { errors: unknown[] }
  expect(manifest.errors).toEqual([])

  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  const sw = fs.readFileSync('dist/sw.js', 'utf8')
  try {
    fs.writeFileSync('dist/sw.js', `${sw}\n// a new version ${Date.now()}\n`)
    await a.page.evaluate(async () => (await navigator.serviceWorker.getRegistration())?.update())
    await expect(a.page.getByTestId('apply-update')).toBeVisible({ timeout: 20_000 })
    // an edit made just before switching is not lost
    await a.page.evaluate((d) => void window.orrery.state.set(`/${d}/last`, 'kept'), doc)
    const reloaded = a.page.waitForEvent('load')
    await a.page.getByTestId('apply-update').click()
    await reloaded
    await untilReady(a.page)
    expect(await stateOf(a.page, `/${doc}/last`)).toBe('kept')
    await expect(a.page.getByTestId('apply-update')).toHaveCount(0)
  } finally {
    fs.writeFileSync('dist/sw.js', sw)
    await context.close()
    fs.rmSync(profile, { recursive: true, force: true })
  }
})
