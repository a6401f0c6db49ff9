/**
 * The outbox: a message for someone who is not online waits (persistently, retried with
 * backoff), survives a reload of the sender, is delivered once the recipient is back, only once,
 * and the shell shows it queued, then delivered.
 */
import { expect, openPeer, test, untilReady } from './fixtures'

test('a message waits for its recipient across a reload and is delivered once', async ({
  browser,
  relay,
}) => {
  // B exists (has an identity) but is not online
  const b = await openPeer(browser, relay.url)
  const bId = await b.page.evaluate(() => window.orrery.identity.id())
  await b.page.close()

  const a = await openPeer(browser, relay.url)
  await a.page.evaluate(
    (to) => window.orrery.outbox.send(to, 'note', { text: 'hello B, from A' }),
    bId,
  )
  await expect(a.page.getByTestId('outbox-status')).toContainText('queued')
  await a.page.reload()
  await untilReady(a.page)
  await expect(a.page.getByTestId('outbox-status')).toContainText('queued') // survived the reload

  const b2 = await openPeer(browser, relay.url, b.context)
  await expect(b2.page.getByTestId('inbox')).toContainText('hello B, from A', { timeout: 30_000 })
  await expect(a.page.getByTestId('outbox-status')).toHaveText('delivered', { timeout: 20_000 })
  const received = await b2.page.evaluate(() => window.orrery.outbox.inbox())
  expect(received.filter((m) => m.kind === 'note')).toHaveLength(1)
})
