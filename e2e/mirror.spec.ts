/**
 * The relay's mirror in real browsers (issue 16): a share link and an invite opened in a fresh
 * browser while every member's tab is closed still show the content / complete the join, and
 * the document's state says where it came from; the mirror's files never hold the plaintext.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Browser, Page } from '@playwright/test'
import {
  expect,
  expectState,
  openPeer,
  spaceWithInvite,
  RelayProcess,
  shareLink,
  test,
} from './fixtures'
import { MIRROR_PROTOCOL } from '../src/core/mirror/protocol'

const stateKind = (page: Page, doc: string): Promise<string | undefined> =>
  page.evaluate(async (d) => (await window.orrery.docs.state(d))?.state, doc)

/** Every file under a directory, as one buffer per file. */
function filesUnder(dir: string): Buffer[] {
  const out: Buffer[] = []
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) out.push(...filesUnder(p))
    else out.push(fs.readFileSync(p))
  }
  return out
}

test('a share link opened while its maker is away shows the content, from the mirror', async ({
  browser,
}) => {
  // a relay of this test's own: logging everything, and writing a V8 heap snapshot on SIGUSR2
  const diagnostics = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-heap-'))
  const relay = await RelayProcess.start(undefined, [], {
    ORRERY_LOG: 'debug',
    NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${diagnostics}`,
  })
  let logs = ''
  relay.proc.stdout?.on('data', (d: Buffer) => (logs += d.toString()))
  relay.proc.stderr?.on('data', (d: Buffer) => (logs += d.toString()))
  try {
    await shareLinkAway(browser, relay, diagnostics, () => logs)
  } finally {
    await relay.kill('SIGTERM')
    fs.rmSync(relay.dataDir, { recursive: true, force: true })
    fs.rmSync(diagnostics, { recursive: true, force: true })
  }
})

async function shareLinkAway(
  browser: Browser,
  relay: RelayProcess,
  diagnostics: string,
  logs: () => string,
): Promise<void> {
  const canary = `canary-${Date.now()}-plaintext`
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.evaluate(({ d, c }) => window.orrery.state.set(`/${d}/secret`, c), {
    d: doc,
    c: canary,
  })
  // the mirror acknowledged every change: the document says so
  await expect.poll(() => stateKind(a.page, doc), { timeout: 30_000 }).toBe('mirrored')
  await expect(a.page.getByText(/on the mirror/).first()).toBeVisible()
  const link = await shareLink(a.page, doc)
  await a.context.close() // every member's tab is closed

  const b = await openPeer(browser, link)
  await expectState(b.page, `/${doc}/secret`, canary)
  // the page asked the relay's mirror over HTTP as it started, before libp2p was up
  const reads = await b.page.evaluate(
    () =>
      performance
        .getEntriesByType('resource')
        .filter((e) => new URL(e.name).pathname === '/orrery/mirror').length,
  )
  expect(reads).toBeGreaterThan(0)
  await expect.poll(() => stateKind(b.page, doc), { timeout: 30_000 }).toBe('mirrored')
  // the mirror holds the document's envelopes, never its text: not on disk, not in the relay's
  // logs (at debug), not anywhere in its memory
  const files = filesUnder(path.join(relay.dataDir, 'mirror'))
  expect(files.length).toBeGreaterThan(0)
  expect(files.some((f) => f.includes(canary))).toBe(false)
  expect(logs()).not.toContain(canary)
  // and says so in its metrics
  const metrics = await (await fetch(`${relay.url}/metrics`)).text()
  const accepted = /^orrery_mirror_puts_total\{outcome="accepted"\} (\d+)$/m.exec(metrics)?.[1]
  expect(Number(accepted)).toBeGreaterThan(0)
  expect(metrics).toMatch(/^orrery_mirror_served_total\{what="envelopes"\} [1-9]/m)
  relay.proc.kill('SIGUSR2')
  await expect
    .poll(() => fs.readdirSync(diagnostics).filter((f) => f.endsWith('.heapsnapshot')), {
      timeout: 60_000,
    })
    .toHaveLength(1)
  const snapshot = path.join(diagnostics, fs.readdirSync(diagnostics)[0]!)
  // written in full once its size stops changing
  let size = -1
  await expect
    .poll(
      async () => {
        const now = fs.statSync(snapshot).size
        const settled = now === size && now > 0
        size = now
        if (!settled) await new Promise((r) => setTimeout(r, 500))
        return settled
      },
      { timeout: 60_000 },
    )
    .toBe(true)
  const heap = fs.readFileSync(snapshot)
  expect(heap.length).toBeGreaterThan(1_000_000)
  expect(heap.includes(MIRROR_PROTOCOL)).toBe(true) // (it is the relay's heap)
  expect(heap.includes(canary)).toBe(false)
  expect(heap.includes(Buffer.from(canary, 'utf16le'))).toBe(false)
}

test('an invite opened while every member is away completes the join through the mirror', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const { space, doc, invite } = await spaceWithInvite(a.page, 'night owls', 'hello, whoever comes')
  for (const id of [space, doc])
    await expect.poll(() => stateKind(a.page, id), { timeout: 30_000 }).toBe('mirrored')
  await a.page.close() // (its profile stays: the admin comes back below)

  const b = await openPeer(browser, invite.replace(/^http:\/\/[^/]+/, relay.url))
  await b.page.getByTestId('join-name').fill('Nox')
  await b.page.getByTestId('join-button').click()
  await expect(b.page).toHaveURL(new RegExp(`#/doc/${doc}(\\?|$)`), { timeout: 30_000 })
  await expectState(b.page, `/${doc}/welcome`, 'hello, whoever comes')
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/from-nox`, 'was here'), doc)
  await expect.poll(() => stateKind(b.page, doc), { timeout: 30_000 }).toBe('mirrored')
  await b.context.close()

  // the admin comes back later and finds the newcomer and their note, nobody else online
  const back = await openPeer(null, relay.url, a.context)
  await expectState(back.page, `/${doc}/from-nox`, 'was here')
  await expect
    .poll(async () =>
      (await back.page.evaluate((s) => window.orrery.spaces.get(s), space)).members.map(
        (m) => m.name,
      ),
    )
    .toContain('Nox')
})

test('the mirror killed (SIGKILL) in a write burst loses no acknowledged change; the tab sends the rest', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  const link = await shareLink(a.page, doc)
  const N = 300
  const burst = a.page.evaluate(
    async ({ d, n }) => {
      for (let i = 0; i < n; i++) {
        await window.orrery.state.set(`/${d}/k${i}`, i)
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 30)) // ~3 s in all
      }
    },
    { d: doc, n: N },
  )
  // killed once some of the burst is on the mirror
  await expect.poll(() => stateKind(a.page, doc), { timeout: 30_000 }).toBe('mirrored')
  await relay.kill('SIGKILL')
  await burst
  const back = await RelayProcess.start(relay.dataDir, [], { PORT: relay.port })
  try {
    // the tab keeps what was not acknowledged and sends it to the relay that came back
    await expect.poll(() => stateKind(a.page, doc), { timeout: 60_000 }).toBe('mirrored')
    const last = await a.page.evaluate((d) => window.orrery.docs.state(d), doc)
    expect(last?.waiting).toBeGreaterThan(0) // (nobody but the mirror has them)
    await a.context.close()
    const b = await openPeer(browser, link)
    await expectState(b.page, `/${doc}/k${N - 1}`, N - 1)
    const keys = await b.page.evaluate(
      async (d) => Object.keys((await window.orrery.state.get(`/${d}`)) as object).length,
      doc,
    )
    expect(keys).toBe(N)
  } finally {
    await back.kill('SIGTERM')
  }
})
