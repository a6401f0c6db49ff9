/**
 * Spaces in real browsers: signing up from an invite link (also with the inviter gone), signed
 * writes refused from outsiders and removed members, and a flooding peer throttled once past its
 * budget while honest peers keep syncing.
 */
import type { Page } from '@playwright/test'
import { expect, expectState, openPeer, spaceWithInvite, stateOf, test } from './fixtures'

/** 'written', or the error code the write was refused with. */
async function writeOutcome(page: Page, path: string, value: unknown): Promise<string | undefined> {
  return page.evaluate(
    ({ path, value }) =>
      window.orrery.state.set(path, value).then(
        () => 'written',
        (e: { code?: string }) => e.code,
      ),
    { path, value },
  )
}

async function signUp(page: Page, name: string): Promise<void> {
  await page.getByTestId('join-name').fill(name)
  await page.getByTestId('join-button').click()
}

test('a newcomer signs up from an invite link, also while the inviter is away', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const { space, doc, invite } = await spaceWithInvite(a.page, 'book club', 'hello members')
  expect(invite).toContain('#/join/')

  const b = await openPeer(browser, invite.replace(/^http:\/\/[^/]+/, relay.url))
  await signUp(b.page, 'Bea')
  await expect(b.page).toHaveURL(new RegExp(`#/doc/${doc}(\\?|$)`), { timeout: 30_000 })
  await expectState(b.page, `/${doc}/welcome`, 'hello members')
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/from-bea`, 'hi'), doc)
  await expectState(a.page, `/${doc}/from-bea`, 'hi')
  await expect
    .poll(async () =>
      (await a.page.evaluate((s) => window.orrery.spaces.get(s), space)).members.map((m) => m.name),
    )
    .toContain('Bea')

  // the inviter leaves; the next newcomer is admitted through Bea
  const second = await a.page.evaluate((s) => window.orrery.spaces.invite(s, 'writer'), space)
  await a.page.close()
  const c = await openPeer(browser, second.replace(/^http:\/\/[^/]+/, relay.url))
  await signUp(c.page, 'Cy')
  await expect(c.page).toHaveURL(/#\/$/, { timeout: 30_000 })
  await c.page.evaluate(
    (d) => window.orrery.state.set(`/${d}/from-cy`, 'joined while the admin was away'),
    doc,
  )
  await expectState(b.page, `/${doc}/from-cy`, 'joined while the admin was away')
})

test('an expired invite is refused with a clear message', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const link = await a.page.evaluate(async () => {
    const space = await window.orrery.spaces.create('short-lived')
    return window.orrery.spaces.invite(space, 'writer', { expiresInMs: 1500 })
  })
  await a.page.waitForTimeout(2000)
  const b = await openPeer(browser, link.replace(/^http:\/\/[^/]+/, relay.url))
  await expect(b.page.getByText('This invite expired')).toBeVisible()
  await expect(b.page.getByTestId('join-button')).toBeDisabled()
  const error = await b.page.evaluate(
    (l) =>
      window.orrery.spaces.join(l, 'late').then(
        () => 'joined',
        (e: { code?: string }) => e.code,
      ),
    link,
  )
  expect(error).toBe('INVITE_EXPIRED')
})

test('outsiders and removed members cannot change a space’s document', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const { space, doc } = await a.page.evaluate(async () => {
    const space = await window.orrery.spaces.create('guarded')
    const doc = await window.orrery.spaces.createDoc(space)
    await window.orrery.state.set(`/${doc}/x`, 1)
    return { space, doc }
  })
  const link = await a.page.evaluate((s) => window.orrery.spaces.invite(s, 'writer'), space)
  const b = await openPeer(browser, link.replace(/^http:\/\/[^/]+/, relay.url))
  await signUp(b.page, 'Bo')
  await expect(b.page).toHaveURL(/#\/$/, { timeout: 30_000 })
  await b.page.evaluate((d) => window.orrery.docs.open(d), doc)
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/old`, 'written as a member'), doc)
  await expectState(a.page, `/${doc}/old`, 'written as a member')

  // an outsider knows the id but not the key (a link from before keys): nothing is announced,
  // nothing served, the page says why, and its change goes nowhere
  const outsider = await openPeer(browser, `${relay.url}/#/doc/${doc}`)
  const locked = outsider.page.locator('orrery-doc-editor').getByTestId('doc-waiting')
  await expect(locked).toContainText('older Orrery')
  expect(await outsider.page.evaluate((d) => window.orrery.docs.state(d), doc)).toMatchObject({
    state: 'locked',
    here: false,
  })
  await outsider.page.evaluate((d) => window.orrery.state.set(`/${d}/vandal`, 'was here'), doc)
  await outsider.page.waitForTimeout(2000)
  expect(await stateOf(outsider.page, `/${doc}/x`)).toBeUndefined()
  expect(await stateOf(a.page, `/${doc}/vandal`)).toBeUndefined()
  expect(await stateOf(b.page, `/${doc}/vandal`)).toBeUndefined()

  // the shell's share link of the document carries its key and names its space (with the key of
  // the space's document): a reader who opens it checks the document's changes against the
  // space from the start, and may not write to it
  await a.page.goto(`${relay.url}/#/doc/${doc}`)
  const shared = await a.page.getByLabel('share link').inputValue()
  const key = '[A-Za-z0-9_-]{43}'
  // sr: the id of the space's member list on the mirror
  expect(shared).toMatch(new RegExp(`#/doc/${doc}\\?k=${key}&space=${space}&sk=${key}&sr=${key}$`))
  await expect(a.page).toHaveURL(shared) // the address bar shows the share link too
  const reader = await openPeer(browser, shared.replace(/^http:\/\/[^/]+/, relay.url))
  await expectState(reader.page, `/${doc}/x`, 1)
  expect(await reader.page.evaluate((d) => window.orrery.spaces.of(d), doc)).toBe(space)
  expect(await writeOutcome(reader.page, `/${doc}/vandal`, 'was here')).toBe('NOT_A_MEMBER')
  // the same link pasted into the shell's "open" form keeps its space
  const paster = await openPeer(browser, relay.url)
  await paster.page.getByLabel('document id or link').fill(shared)
  await paster.page.getByLabel('document id or link').press('Enter')
  await expect(paster.page).toHaveURL(shared.replace(/^http:\/\/[^/]+/, relay.url))
  await expectState(paster.page, `/${doc}/x`, 1)
  expect(await paster.page.evaluate((d) => window.orrery.spaces.of(d), doc)).toBe(space)
  expect(await writeOutcome(paster.page, `/${doc}/vandal`, 'was here')).toBe('NOT_A_MEMBER')

  // Bo is removed: the old write stays, new ones are refused
  const bId = await b.page.evaluate(() => window.orrery.identity.id())
  await a.page.evaluate(({ s, id }) => window.orrery.spaces.remove(s, id), { s: space, id: bId })
  await expect
    .poll(() => b.page.evaluate((s) => window.orrery.spaces.role(s), space))
    .toBeUndefined()
  expect(await writeOutcome(b.page, `/${doc}/new`, 'after removal')).toBe('NOT_A_MEMBER')
  expect(await stateOf(a.page, `/${doc}/old`)).toBe('written as a member')
  expect(await stateOf(a.page, `/${doc}/new`)).toBeUndefined()
})

test('a flooding peer is throttled past its budget while two honest peers keep syncing', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const { space, quiet, busy } = await a.page.evaluate(async () => {
    const space = await window.orrery.spaces.create('busy')
    const quiet = await window.orrery.spaces.createDoc(space)
    const busy = await window.orrery.spaces.createDoc(space)
    return { space, quiet, busy }
  })
  const join = async (name: string): Promise<Awaited<ReturnType<typeof openPeer>>> => {
    const link = await a.page.evaluate((s) => window.orrery.spaces.invite(s, 'writer'), space)
    const p = await openPeer(browser, link.replace(/^http:\/\/[^/]+/, relay.url))
    await signUp(p.page, name)
    await expect(p.page).toHaveURL(/#\/$/, { timeout: 30_000 })
    return p
  }
  const b = await join('honest')
  const f = await join('flood')
  await b.page.evaluate((d) => window.orrery.docs.open(d), quiet)
  await f.page.evaluate((d) => window.orrery.docs.open(d), busy)
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/warm`, 1), quiet)
  await expectState(a.page, `/${quiet}/warm`, 1)
  // F syncs its document with A directly before it floods (not only through B, or not yet)
  await f.page.evaluate((d) => window.orrery.state.set(`/${d}/warm`, 1), busy)
  await expectState(a.page, `/${busy}/warm`, 1)
  await expect
    .poll(async () =>
      (await a.page.evaluate(() => window.orrery.connections())).some(
        (c) => c.peer === f.id && c.direct,
      ),
    )
    .toBe(true)

  // A lets each peer send 256 KiB a minute. F writes 32 changes of 64 KiB of random text (which
  // does not compress): 2 MiB, several times that budget however fast or slow the machine is,
  // and far more than the budget refills while this test runs (256 KiB a minute).
  const budget = 256 * 1024
  await a.page.evaluate((b) => window.orrery.firewall.configure({ bytesPerMinute: b }), budget)
  const last = await f.page.evaluate(async (d) => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    let text = ''
    for (let i = 0; i < 32; i++) {
      const random = crypto.getRandomValues(new Uint8Array(64 * 1024))
      text = Array.from(random, (x) => chars[x & 63]).join('')
      await window.orrery.state.set(`/${d}/n`, `${i}:${text}`)
      await new Promise((r) => setTimeout(r, 0)) // its own change
    }
    return `31:${text}`
  }, busy)

  // A admitted F's flood up to the budget, then made F's stream wait: throttled, not struck
  const statsOfF = async () => (await a.page.evaluate(() => window.orrery.firewall.stats()))[f.id]
  await expect.poll(async () => (await statsOfF())?.throttled ?? 0).toBeGreaterThan(0)
  const throttled = await statsOfF()
  expect(throttled?.bytes).toBeGreaterThan(budget)
  expect(throttled?.throttledMs).toBeGreaterThan(0)
  expect(throttled).toMatchObject({ strikes: 0, bans: 0 })

  // meanwhile the honest pair's edits go both ways, several times over
  for (let i = 0; i < 3; i++) {
    await b.page.evaluate(({ d, i }) => window.orrery.state.set(`/${d}/from-b`, i), { d: quiet, i })
    await expectState(a.page, `/${quiet}/from-b`, i)
    await a.page.evaluate(({ d, i }) => window.orrery.state.set(`/${d}/from-a`, i), { d: quiet, i })
    await expectState(b.page, `/${quiet}/from-a`, i)
  }
  // and F's excess is still held back: its stream waits for minutes of budget
  expect(await stateOf(a.page, `/${busy}/n`)).not.toBe(last)
  expect((await a.page.evaluate(() => window.orrery.firewall.stats()))[b.id]).toMatchObject({
    throttled: 0,
    strikes: 0,
  })
})
