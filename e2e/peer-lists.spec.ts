/**
 * The deny and allow lists in the shell: blocking a peer from the UI cuts it off, the lists
 * survive a reload (kept in the profile), and another tab of the profile starts with them.
 */
import { expect, expectState, linkKeys, openPeer, test, untilReady } from './fixtures'

test('a peer blocked in the UI stays blocked after a reload, and unblocking restores sync', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const b = await openPeer(browser, relay.url)
  const bIdentity = await b.page.evaluate(() => window.orrery.identity.id())
  const doc = await a.page.evaluate(async () => {
    const id = await window.orrery.docs.create()
    await window.orrery.state.set(`/${id}/n`, 1)
    return id
  })
  const keys = await linkKeys(a.page, doc)
  await b.page.evaluate(({ d, k }) => window.orrery.docs.open(d, k), { d: doc, k: keys })
  await expectState(b.page, `/${doc}/n`, 1)

  // a blocks b's identity through its UI
  const lists = a.page.getByTestId('peer-lists')
  await lists.getByLabel('peer to block').fill(bIdentity)
  await lists.getByTestId('deny-add').click()
  await expect(lists.getByTestId('deny-list').locator(`[data-peer="${bIdentity}"]`)).toBeVisible()
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/n`, 2), doc)
  await a.page.waitForTimeout(1500)
  expect(await b.page.evaluate((d) => window.orrery.state.get(`/${d}/n`), doc)).toBe(1)

  // reloaded: the list is still there, in the UI and in the firewall
  await a.page.reload()
  await untilReady(a.page)
  expect(await a.page.evaluate(() => window.orrery.firewall.lists())).toEqual({ deny: [bIdentity] })
  expect((await a.page.evaluate(() => window.orrery.firewall.config())).deny).toEqual([bIdentity])
  await expect(a.page.getByTestId('deny-list').locator(`[data-peer="${bIdentity}"]`)).toBeVisible()
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/n`, 3), doc)
  await a.page.waitForTimeout(1500)
  expect(await b.page.evaluate((d) => window.orrery.state.get(`/${d}/n`), doc)).toBe(1)

  // another tab of the same profile starts with the list too
  const second = await openPeer(null, relay.url, a.context)
  expect(await second.page.evaluate(() => window.orrery.firewall.lists())).toEqual({
    deny: [bIdentity],
  })
  await second.page.close()

  // unblocked from the UI: b syncs again
  await a.page.getByTestId('deny-list').getByTestId('undeny').click()
  await expect(a.page.getByTestId('deny-list')).toHaveCount(0)
  expect(await a.page.evaluate(() => window.orrery.firewall.lists())).toEqual({ deny: [] })
  // b's tab starts again (a fresh connection, not one waiting out a redial backoff)
  await b.page.reload()
  await untilReady(b.page)
  await b.page.evaluate(({ d, k }) => window.orrery.docs.open(d, k), { d: doc, k: keys })
  await expectState(b.page, `/${doc}/n`, 3, 30_000)
})

test('allow-list mode from the UI: only allowed peers may sync, kept across a reload', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const lists = a.page.getByTestId('peer-lists')
  await lists.getByTestId('allow-only').check()
  await expect(lists.getByLabel('peer to allow')).toBeVisible()
  const friend = await a.page.evaluate(() => window.orrery.identity.id()) // a valid did:key
  await lists.getByLabel('peer to allow').fill(friend)
  await lists.getByTestId('allow-add').click()
  await expect(lists.getByTestId('allow-list').locator(`[data-peer="${friend}"]`)).toBeVisible()
  // nonsense is refused with a message, and nothing is stored
  await lists.getByLabel('peer to block').fill('not a peer')
  await lists.getByTestId('deny-add').click()
  await expect(lists.locator('.error')).toContainText('not a did:key or peer id')
  await a.page.reload()
  await untilReady(a.page)
  expect(await a.page.evaluate(() => window.orrery.firewall.lists())).toEqual({
    deny: [],
    allow: [friend],
  })
  await expect(a.page.getByTestId('allow-only')).toBeChecked()
})
