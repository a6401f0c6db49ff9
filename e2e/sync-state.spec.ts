/**
 * The sync state tells the truth, in real browsers with the real relay: a document whose holder
 * is offline shows "waiting for someone who has this" (not {} next to "all synced") and turns
 * into its content when the holder comes back; an app nobody reachable has says so and mounts
 * when a peer who has it comes online; an invite opened while no member is online waits visibly
 * and completes by itself when one comes online. The documents' cases run on a relay without a
 * mirror: with one, the document would come from it (e2e/mirror.spec.ts).
 */
import fs from 'node:fs'
import {
  expect,
  expectState,
  openPeer,
  RelayProcess,
  shareLink,
  spaceWithInvite,
  test,
  withoutMirror,
} from './fixtures'

const seed = JSON.parse(fs.readFileSync('dist/seed/apps.json', 'utf8')) as {
  name: string
  cid: string
}[]
const microblog = seed.find((a) => a.name === 'microblog')!.cid

withoutMirror(
  'a document whose holder is offline says so, and shows its content when the holder returns',
  async ({ browser, relay }) => {
    const a = await openPeer(browser, relay.url)
    const doc = await a.page.evaluate(() => window.orrery.docs.create())
    await a.page.evaluate((d) => window.orrery.state.set(`/${d}/note`, 'kept by a'), doc)
    await a.page.evaluate(() => window.orrery.state.flush())
    const link = await shareLink(a.page, doc)
    await a.page.close() // the only holder goes away (its browser profile keeps the document)

    const b = await openPeer(browser, link)
    const editor = b.page.locator('orrery-doc-editor')
    await expect(editor.getByTestId('doc-waiting')).toContainText(
      'Waiting for someone who has this document',
    )
    await expect(editor.getByTestId('doc-waiting')).not.toContainText('looking') // the relay answered
    await expect(editor.getByTestId('doc-tree')).not.toContainText('{}')
    await expect(b.page.getByTestId('sync-state')).toHaveText(
      'waiting for someone who has a document',
    )
    expect(await b.page.evaluate((d) => window.orrery.docs.state(d), doc)).toMatchObject({
      state: 'unknown',
      here: false,
      searching: false,
      waiting: 0,
    })

    // the holder comes back to the document
    const back = await a.context.newPage()
    await back.goto(`${relay.url}/#/doc/${doc}`)
    await expect(editor.getByTestId('doc-tree')).toContainText('kept by a', { timeout: 30_000 })
    await expect(editor.getByTestId('doc-waiting')).toHaveCount(0)
    await expect(editor.getByTestId('doc-sync-state')).toContainText('synced with')
    await expect(b.page.getByTestId('sync-state')).toHaveText('all synced')
    const state = await b.page.evaluate((d) => window.orrery.docs.state(d), doc)
    expect(state).toMatchObject({ state: 'synced', here: true, waiting: 0 })
    expect(state.confirmed?.with).toBe(await back.evaluate(() => window.orrery.identity.id()))
  },
)

test('an app nobody reachable has says so and mounts when a peer who has it comes online', async ({
  browser,
}) => {
  let relay = await RelayProcess.start()
  try {
    // A installs the microblog from the seeding relay, then goes away
    const a = await openPeer(browser, `${relay.url}/#/app/${microblog}`)
    await expect(a.page.getByTestId('new-community')).toBeVisible({ timeout: 30_000 })
    await a.page.close()

    // the relay comes back on its port without seeding: only peers could serve the app
    const { port, dataDir } = { port: relay.port, dataDir: relay.dataDir }
    await relay.kill()
    relay = await RelayProcess.start(dataDir, [], { PORT: port, ORRERY_SEED: '0' })

    const b = await openPeer(browser, `${relay.url}/#/app/${microblog}`)
    await expect(b.page.getByTestId('app-waiting')).toContainText(
      'Waiting for someone who has this app',
    )
    await expect(b.page.getByTestId('app-error')).toHaveCount(0)

    // A opens Orrery again (any page): it serves the apps it installed, and B's app mounts
    const back = await a.context.newPage()
    await back.goto(relay.url)
    await expect(b.page.getByTestId('new-community')).toBeVisible({ timeout: 45_000 })
    await expect(b.page.getByTestId('app-error')).toHaveCount(0)
    const stats = await b.page.evaluate(() =>
      window.orrery.internals!.peer.node.services.blocks.stats(),
    )
    expect(stats.fetchedBlocks).toBeGreaterThan(0)
  } finally {
    await relay.kill()
  }
})

withoutMirror(
  'an invite opened while no member is online waits visibly and completes when one comes online',
  async ({ browser, relay }) => {
    const a = await openPeer(browser, relay.url)
    const { space, doc, invite } = await spaceWithInvite(a.page, 'night owls', 'hello members')
    await a.page.evaluate(() => window.orrery.state.flush())
    await a.page.close() // the only member goes away

    const b = await openPeer(browser, invite.replace(/^http:\/\/[^/]+/, relay.url))
    await b.page.getByTestId('join-name').fill('Bea')
    await b.page.getByTestId('join-button').click()
    await expect(b.page.getByTestId('join-waiting')).toContainText(
      'Waiting for a member of this space',
    )
    await expect(b.page.getByTestId('join-error')).toHaveCount(0)

    // the member comes back to the space's document: B's join completes without another click
    const back = await a.context.newPage()
    await back.goto(`${relay.url}/#/doc/${doc}`)
    await expect(b.page).toHaveURL(new RegExp(`#/doc/${doc}(\\?|$)`), { timeout: 45_000 })
    await expectState(b.page, `/${doc}/welcome`, 'hello members')
    await expect
      .poll(async () =>
        (await back.evaluate((s) => window.orrery.spaces.get(s), space)).members.map((m) => m.name),
      )
      .toContain('Bea')
  },
)
