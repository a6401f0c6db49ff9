/**
 * Cached views: a page shows a document from the JSON view stored beside it before Automerge's
 * wasm has loaded, then the live document; a stale view is replaced by the live value, and a
 * damaged one is ignored. The service worker is blocked here so the test can hold the wasm back.
 */
import type { Browser, Page } from '@playwright/test'
import { contextOptions } from './chromium'
import { expect, test, untilReady } from './fixtures'

declare global {
  interface Window {
    __seen?: unknown[]
  }
}

/** Reads or writes one record of the profile's IndexedDB key space, bypassing Orrery. */
async function rawKv(page: Page, key: string, data?: number[]): Promise<number[] | undefined> {
  return page.evaluate(
    async ({ key, data }) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const r = indexedDB.open('orrery')
        r.onsuccess = () => resolve(r.result)
        r.onerror = () => reject(new Error(String(r.error)))
      })
      try {
        const tx = db.transaction('kv', data === undefined ? 'readonly' : 'readwrite')
        const store = tx.objectStore('kv')
        const req =
          data === undefined ? store.get(key) : store.put({ key, data: new Uint8Array(data) })
        const row = await new Promise<unknown>((resolve, reject) => {
          req.onsuccess = () => resolve(req.result)
          req.onerror = () => reject(new Error(String(req.error)))
        })
        await new Promise((resolve) => (tx.oncomplete = resolve))
        const bytes = (row as { data?: Uint8Array } | undefined)?.data
        return data === undefined && bytes !== undefined ? [...bytes] : undefined
      } finally {
        db.close()
      }
    },
    { key, data },
  )
}

interface Reopened {
  page: Page
  /** what the page logged (console), in order */
  logs: string[]
  /** lets Automerge's wasm through and waits until the page is up */
  release: () => Promise<void>
}

/**
 * Closes `old` and opens the page again in its context (the same profile), recording every value
 * a subscriber of `path` gets. Automerge's wasm is held back until `release()`: whatever the page
 * shows before that came from the cached view, however fast or slow the machine is.
 */
async function reopenRecording(old: Page, path: string): Promise<Reopened> {
  const url = old.url()
  await old.close()
  const page = await old.context().newPage()
  const logs: string[] = []
  page.on('console', (m) => logs.push(m.text()))
  let letThrough = (): void => undefined
  const held = new Promise<void>((resolve) => (letThrough = resolve))
  await page.route('**/*.wasm', async (route) => {
    await held
    await route.continue()
  })
  await page.addInitScript((p) => {
    window.__seen = []
    const start = (): void => {
      if (!('orrery' in window)) {
        setTimeout(start, 1)
        return
      }
      window.orrery.state.subscribe(p, (v) =>
        window.__seen?.push(v === undefined ? '(absent)' : JSON.parse(JSON.stringify(v))),
      )
    }
    start()
  }, path)
  await page.goto(url)
  const release = async (): Promise<void> => {
    letThrough()
    await untilReady(page)
  }
  return { page, logs, release }
}

/**
 * A fresh profile (service worker blocked, so the wasm can be held back) with a new document
 * holding `key: value`, on disk and its view cached.
 */
async function docOnDisk(
  browser: Browser,
  url: string,
  key: string,
  value: unknown,
): Promise<{ page: Page; doc: string }> {
  const context = await browser.newContext({ ...contextOptions, serviceWorkers: 'block' })
  const page = await context.newPage()
  await page.goto(url)
  await untilReady(page)
  const doc = await page.evaluate(() => window.orrery.docs.create())
  await page.evaluate(
    async ({ doc, key, value }) => {
      await window.orrery.state.set(`/${doc}/${key}`, value)
      await window.orrery.state.flush()
    },
    { doc, key, value },
  )
  return { page, doc }
}

test('a reload shows the cached view before Automerge loads; a stale view gives way to the live value', async ({
  browser,
  relay,
}) => {
  const opened = await docOnDisk(browser, relay.url, 'a', 'first')
  const doc = opened.doc
  let page = opened.page
  const older = await rawKv(page, `${doc}/v`)
  const olderHeads = await rawKv(page, `${doc}/vh`)
  expect(older).toBeDefined()

  // the document moves on, but the view on disk is the older one (as after a crash)
  await page.evaluate(async (d) => {
    await window.orrery.state.set(`/${d}/a`, 'second')
    await window.orrery.state.set(`/${d}/b`, 'new')
    await window.orrery.state.flush()
  }, doc)
  await rawKv(page, `${doc}/v`, older)
  await rawKv(page, `${doc}/vh`, olderHeads)

  const stale = await reopenRecording(page, `/${doc}`)
  page = stale.page
  // Automerge is held back: the page shows the (stale) cached view
  await expect
    .poll(() => page.evaluate(() => window.__seen), { timeout: 20_000 })
    .toEqual([{ a: 'first' }])
  await stale.release()
  await expect
    .poll(() => page.evaluate(() => window.__seen))
    .toEqual([{ a: 'first' }, { a: 'second', b: 'new' }])
  const t = await page.evaluate(() => window.orrery.timings())
  expect(t['cached-view']).toBeLessThan(t['wasm'] ?? Infinity)

  // the stale view was written again once the document had loaded: one value, no repeat
  await page.evaluate(() => window.orrery.state.flush())
  const fresh = await reopenRecording(page, `/${doc}/b`)
  page = fresh.page
  await expect.poll(() => page.evaluate(() => window.__seen)).toEqual(['new'])
  await fresh.release()
  // the live document is in (get reads it, never the view) and had nothing new to say
  expect(await page.evaluate((d) => window.orrery.state.get(`/${d}/b`), doc)).toBe('new')
  await page.evaluate(() => window.orrery.state.flush())
  expect(await page.evaluate(() => window.__seen)).toEqual(['new'])
  await page.context().close()
})

test('a damaged cached view is ignored: the document loads as usual', async ({
  browser,
  relay,
}) => {
  const opened = await docOnDisk(browser, relay.url, 'k', 42)
  const doc = opened.doc
  let page = opened.page
  await rawKv(page, `${doc}/v`, [...new TextEncoder().encode('{"heads": [oops')])
  const damaged = await reopenRecording(page, `/${doc}/k`)
  page = damaged.page
  // the view was read and refused while Automerge was held back; then the live value comes
  await expect
    .poll(() => damaged.logs.some((l) => l.includes(`ignoring the cached view of ${doc}`)))
    .toBe(true)
  expect(await page.evaluate(() => window.__seen)).toEqual([])
  await damaged.release()
  await expect.poll(() => page.evaluate(() => window.__seen)).toEqual([42])
  await page.context().close()
})
