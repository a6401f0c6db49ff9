/**
 * A tab that runs another version of Orrery, in real browsers: its peers name it as such (in
 * `connections()`, `status()` and the shell), never strike or ban it, and keep syncing with tabs
 * of their own version.
 */
import { expect, expectState, linkKeys, openPeer, shareLink, test } from './fixtures'

test('a tab of another version is named as such, never blamed, and the others keep syncing', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(async () => {
    const d = await window.orrery.docs.create()
    await window.orrery.state.set(`/${d}/k`, 'shared')
    return d
  })
  // F plays a newer build: its sync speaks only a major this build does not know
  const f = await openPeer(browser, relay.url)
  await f.page.evaluate(async () => {
    const node = window.orrery.internals!.peer.node
    await node.services.sync.stop()
    await node.handle('/orrery/sync/9.0.0', (stream) => stream.abort(new Error('not this one')))
  })
  await f.page.evaluate(({ d, k }) => window.orrery.docs.open(d, k), {
    d: doc,
    k: await linkKeys(a.page, doc),
  })

  // A and F meet over WebRTC (discovery does not care about sync); A names F's version
  const other = async () =>
    (await a.page.evaluate(() => window.orrery.connections())).find((c) => c.peer === f.id)
  await expect.poll(other, { timeout: 30_000 }).toMatchObject({ version: 'other', syncing: false })
  expect((await other())?.offers).toContain('/orrery/sync/9.0.0')
  expect(await a.page.evaluate(() => window.orrery.status().otherVersions)).toBe(1)
  // (one line under each connection with F: the relayed one may still be open)
  await expect(a.page.getByTestId('other-version').first()).toHaveText(
    'this peer runs another version of Orrery',
  )
  await expect(a.page.getByTestId('other-versions')).toHaveText('1 on another version')
  const blame = (await a.page.evaluate(() => window.orrery.firewall.stats()))[f.id]
  expect({ strikes: blame?.strikes ?? 0, bans: blame?.bans ?? 0 }).toEqual({ strikes: 0, bans: 0 })

  // a tab of A's own version syncs as ever
  const b = await openPeer(browser, await shareLink(a.page, doc))
  await expectState(b.page, `/${doc}/k`, 'shared')
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/back`, 'from b'), doc)
  await expectState(a.page, `/${doc}/back`, 'from b')
  expect((await other())?.version).toBe('other')
})
