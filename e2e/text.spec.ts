/**
 * Issue 20 in real Chromium: pages people write in. Three people type at once in one paragraph
 * and converge to the same text and marks; a reload mid-typing keeps every acknowledged
 * keystroke; a peer cut off from the others, or offline, writes a paragraph that merges when the
 * link heals; a reader's editor is read-only until promoted; presence shows who is here.
 */
import type { Page } from '@playwright/test'
import { expect, openPeer, shareLink, test, untilReady } from './fixtures'

const text = (page: Page) => page.getByTestId('text-editor')

/** What a page's editor holds (text and marks, no one's caret), for comparing editors. */
const shown = (page: Page): Promise<string> =>
  page
    .locator('orrery-text-editor')
    .evaluate((el) => (el as unknown as { content: string }).content)

async function newPage(page: Page, title: string): Promise<string> {
  await page.getByTestId('new-doc').click()
  await expect(page).toHaveURL(/#\/doc\/\w+/)
  await page.getByTestId('doc-title').fill(title)
  await expect(text(page)).toBeVisible()
  return /#\/doc\/(\w+)/.exec(page.url())![1]!
}

/** Puts the caret at the end of the editor's first paragraph. */
async function caretAtEndOfFirst(page: Page): Promise<void> {
  await text(page).locator('p, h1, h2').first().click()
  await page.keyboard.press('End')
}

test('three people type at once in one paragraph and converge, marks included', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await newPage(a.page, 'Minutes')
  await text(a.page).click()
  await a.page.keyboard.type('Agreed:')
  const link = await shareLink(a.page, doc)
  const b = await openPeer(browser, link)
  const c = await openPeer(browser, link)
  for (const p of [b, c]) await expect(text(p.page)).toContainText('Agreed:', { timeout: 45_000 })
  await expect(b.page.getByTestId('doc-title')).toHaveValue('Minutes')
  await expect(a.page.getByTestId('doc-list')).toContainText('Minutes')

  // all three type into the same paragraph at the same time
  await Promise.all(
    [a, b, c].map(async (p, i) => {
      await caretAtEndOfFirst(p.page)
      await p.page.keyboard.type(` ${'abc'[i]!.repeat(12)}`, { delay: 15 })
    }),
  )
  // a bolds the first word (a mark, synced like any other edit)
  await text(a.page)
    .locator('p')
    .first()
    .dblclick({ position: { x: 5, y: 5 } })
  await a.page.keyboard.press('Control+b')
  await expect(text(a.page).locator('strong')).toHaveCount(1)
  await expect
    .poll(async () => new Set(await Promise.all([a, b, c].map((p) => shown(p.page)))).size, {
      timeout: 30_000,
    })
    .toBe(1)
  const final = await text(c.page).innerText()
  for (const ch of ['a', 'b', 'c']) expect(final).toContain(ch.repeat(12))
  await expect(text(c.page).locator('strong')).toHaveCount(1)

  // a reload in the middle of typing keeps every keystroke that was taken
  await caretAtEndOfFirst(b.page)
  await b.page.keyboard.type(' kept')
  await b.page.reload()
  await untilReady(b.page)
  await expect(text(b.page)).toContainText('kept')
  await expect(text(a.page)).toContainText('kept', { timeout: 30_000 })
})

test('a peer cut off from the others writes a paragraph that merges when they meet again', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await newPage(a.page, 'Trip')
  await text(a.page).click()
  await a.page.keyboard.type('Day one')
  const b = await openPeer(browser, await shareLink(a.page, doc))
  await expect(text(b.page)).toContainText('Day one', { timeout: 45_000 })
  const [ida, idb] = (await Promise.all(
    [a, b].map((p) => p.page.evaluate(() => window.orrery.identity.id())),
  )) as [string, string]
  // each refuses the other: the link between them is cut
  await a.page.evaluate((who) => window.orrery.firewall.deny(who), idb)
  await b.page.evaluate((who) => window.orrery.firewall.deny(who), ida)
  await caretAtEndOfFirst(a.page)
  await a.page.keyboard.press('Enter')
  await a.page.keyboard.type('Day two, from a')
  await caretAtEndOfFirst(b.page)
  await b.page.keyboard.press('Enter')
  await b.page.keyboard.type('A paragraph b wrote alone')
  await expect(text(a.page)).not.toContainText('b wrote alone')
  // the link heals
  await a.page.evaluate((who) => window.orrery.firewall.undeny(who), idb)
  await b.page.evaluate((who) => window.orrery.firewall.undeny(who), ida)
  for (const p of [a, b]) {
    await expect(text(p.page)).toContainText('b wrote alone', { timeout: 45_000 })
    await expect(text(p.page)).toContainText('Day two, from a')
  }
  await expect.poll(async () => (await shown(a.page)) === (await shown(b.page))).toBe(true)
  await expect(text(a.page).locator('p')).toHaveCount(3)
})

test('a peer that went offline writes a paragraph that merges when the network returns', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await newPage(a.page, 'Field notes')
  await text(a.page).click()
  await a.page.keyboard.type('Morning')
  const b = await openPeer(browser, await shareLink(a.page, doc))
  await expect(text(b.page)).toContainText('Morning', { timeout: 45_000 })
  await b.page.evaluate(() => navigator.serviceWorker.ready)
  // b loses the network and reloads: the page comes from its cache, the text from its disk
  await b.context.setOffline(true)
  await b.page.reload()
  await untilReady(b.page)
  await expect(b.page.getByTestId('relay-state')).not.toHaveText('relay connected')
  await expect(text(b.page)).toContainText('Morning')
  await caretAtEndOfFirst(b.page)
  await b.page.keyboard.press('Enter')
  await b.page.keyboard.type('Written on the train')
  await caretAtEndOfFirst(a.page)
  await a.page.keyboard.press('Enter')
  await a.page.keyboard.type('Meanwhile at home')
  await expect(text(a.page)).not.toContainText('train')
  // the network returns: nothing to do but wait
  await b.context.setOffline(false)
  for (const p of [a, b]) {
    await expect(text(p.page)).toContainText('Written on the train', { timeout: 60_000 })
    await expect(text(p.page)).toContainText('Meanwhile at home', { timeout: 60_000 })
  }
  await expect.poll(async () => (await shown(a.page)) === (await shown(b.page))).toBe(true)
  await expect(text(a.page).locator('p')).toHaveCount(3)
})

test('a reader sees the text live and cannot type into it', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const { doc, invite } = await a.page.evaluate(async () => {
    const space = await window.orrery.spaces.create('notices')
    const doc = await window.orrery.spaces.createDoc(space)
    await window.orrery.state.set(`/${doc}/title`, 'Notice')
    const t = await window.orrery.docs.text(doc)
    t.edit((ops) => ops.splice(0, 0, 'Readers read this'))
    t.close()
    const invite = await window.orrery.spaces.invite(space, 'reader', { open: { doc } })
    return { doc, invite }
  })
  const r = await openPeer(browser, invite.replace(/^http:\/\/[^/]+/, relay.url))
  await r.page.getByTestId('join-name').fill('Rea')
  await r.page.getByTestId('join-button').click()
  await expect(r.page).toHaveURL(new RegExp(`#/doc/${doc}(\\?|$)`), { timeout: 30_000 })
  await expect(text(r.page)).toContainText('Readers read this', { timeout: 45_000 })
  await expect(text(r.page)).toHaveAttribute('contenteditable', 'false')
  await expect(r.page.getByTestId('doc-read-only')).toBeVisible()
  await expect(r.page.getByTestId('doc-title')).toHaveJSProperty('readOnly', true)
  // what the writer types keeps arriving
  await a.page.goto(`${relay.url}/#/doc/${doc}`)
  await text(a.page).click()
  await a.page.keyboard.press('End')
  await a.page.keyboard.type(' and more')
  await expect(text(r.page)).toContainText('Readers read this and more', { timeout: 30_000 })
  // the writer sees the reader by the name the space's member record gives her
  await expect(a.page.getByTestId('person')).toHaveText('Rea', { timeout: 30_000 })
  await expect(a.page.getByTestId('person')).toHaveAttribute('title', /named by the space/)
  // promoted while the page is open: her editor becomes writable, with its toolbar
  const rea = await r.page.evaluate(() => window.orrery.identity.id())
  await a.page.evaluate(
    async ({ space, rea }) => window.orrery.state.set(`/${space}/members/${rea}/role`, 'writer'),
    { space: await a.page.evaluate((d) => window.orrery.spaces.of(d), doc), rea },
  )
  await expect(text(r.page)).toHaveAttribute('contenteditable', 'true', { timeout: 30_000 })
  await expect(r.page.getByRole('toolbar', { name: 'formatting' })).toBeVisible()
  await text(r.page).click()
  await r.page.keyboard.press('End')
  await r.page.keyboard.type(', Rea too')
  await expect(text(a.page)).toContainText('and more, Rea too', { timeout: 30_000 })
})

test('people here: names, carets and selections, live; one who leaves is gone', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await newPage(a.page, 'Plans')
  await a.page.getByTestId('my-name').fill('Ada')
  await a.page.getByTestId('my-name').press('Tab')
  await text(a.page).click()
  await a.page.keyboard.type('Hello world')
  const b = await openPeer(browser, await shareLink(a.page, doc))
  await expect(text(b.page)).toContainText('Hello world', { timeout: 45_000 })
  await b.page.getByTestId('my-name').fill('Bo')
  await b.page.getByTestId('my-name').press('Tab')
  await expect(a.page.getByTestId('person')).toHaveText('Bo', { timeout: 30_000 })
  await expect(b.page.getByTestId('person')).toHaveText('Ada', { timeout: 30_000 })
  await expect(a.page.getByTestId('person')).toHaveAttribute('title', /the name they chose/)
  // a's caret, then a's selection, shown at b in a's colour with a's name
  await caretAtEndOfFirst(a.page)
  const caret = b.page.getByTestId('remote-caret')
  await expect(caret).toHaveCount(1, { timeout: 30_000 })
  await expect(b.page.getByTestId('remote-name')).toHaveText('Ada')
  await text(a.page)
    .locator('p')
    .first()
    .dblclick({ position: { x: 5, y: 5 } })
  await expect(b.page.locator('.remote-selection')).toHaveText('Hello', { timeout: 30_000 })
  // b types before a's selection: it stays on the same word
  await text(b.page)
    .locator('p')
    .first()
    .click({ position: { x: 1, y: 5 } })
  await b.page.keyboard.type('Oh, ')
  await expect(text(a.page)).toContainText('Oh, Hello world', { timeout: 30_000 })
  await expect(b.page.locator('.remote-selection')).toHaveText('Hello')
  expect(await shown(a.page)).toBe(await shown(b.page))
  // b leaves the page: a sees nobody
  await b.page.goto(`${relay.url}/#/`)
  await expect(a.page.getByTestId('person')).toHaveCount(0, { timeout: 30_000 })
  await expect(a.page.getByTestId('presence')).toContainText('Nobody else is here')
})
