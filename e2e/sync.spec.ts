import { expect, expectState, openPeer, shareLink, stateOf, test, untilReady } from './fixtures'

/** a gate a page's loop waits at until the test opens it */
type Gate = Window & { gate?: Promise<void>; openGate?: () => void }

test('two peers sync both ways over a direct WebRTC connection', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/greeting`, { from: 'a' }), doc)

  const b = await openPeer(browser, await shareLink(a.page, doc))
  await expectState(b.page, `/${doc}/greeting`, { from: 'a' })
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/reply`, 'from b'), doc)
  await expectState(a.page, `/${doc}/reply`, 'from b')

  // The link between them is a direct WebRTC connection: judged on the libp2p connection
  // objects (multiplexer and limits), which the API reports, not on an address string.
  const direct = await a.page.evaluate((peer) => {
    const node = window.orrery.internals!.peer.node
    return node
      .getConnections()
      .filter((c) => c.remotePeer.toString() === peer)
      .map((c) => ({ multiplexer: c.multiplexer, limited: c.limits !== undefined }))
  }, b.id)
  expect(direct).toContainEqual({ multiplexer: '/webrtc', limited: false })
  const listed = await a.page.evaluate(() => window.orrery.connections())
  expect(listed).toContainEqual(
    expect.objectContaining({ peer: b.id, direct: true, transport: 'webrtc', syncing: true }),
  )
  // and sync never ran over a relayed connection
  expect(listed.filter((c) => c.transport === 'circuit' && c.syncing)).toEqual([])
})

test("a view-only link reads and is refused a write; the editor's later edits reach it", async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/title`, 'by a'), doc)
  const view = await a.page.evaluate((d) => window.orrery.docs.link(d, { readOnly: true }), doc)
  expect(view).toContain('wp=')
  expect(view).not.toContain('&w=')

  const b = await openPeer(browser, view)
  await expectState(b.page, `/${doc}/title`, 'by a')
  const refused = await b.page.evaluate(
    (d) =>
      window.orrery.state.set(`/${d}/title`, 'by b').then(
        () => 'written',
        (e: unknown) => (e as { code?: string }).code,
      ),
    doc,
  )
  expect(refused).toBe('READ_ONLY')
  await expect(b.page.getByTestId('doc-read-only')).toBeVisible()
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/more`, 'later'), doc)
  await expectState(b.page, `/${doc}/more`, 'later')
  expect(await stateOf(a.page, `/${doc}/title`)).toBe('by a')
})

test('edits keep flowing both ways after the relay is killed', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  const b = await openPeer(browser, await shareLink(a.page, doc))
  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/before`, 1), doc)
  await expectState(b.page, `/${doc}/before`, 1)

  await relay.kill('SIGKILL')
  await expect.poll(() => a.page.evaluate(() => window.orrery.status().relay)).not.toBe('connected')

  await a.page.evaluate((d) => window.orrery.state.set(`/${d}/after/a`, 'still here'), doc)
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/after/b`, 'me too'), doc)
  await expectState(b.page, `/${doc}/after`, { a: 'still here', b: 'me too' })
  await expectState(a.page, `/${doc}/after`, { a: 'still here', b: 'me too' })
})

test('data is still there after a reload', async ({ browser, relay }) => {
  const a = await openPeer(browser, relay.url)
  const doc = await a.page.evaluate(() => window.orrery.docs.create())
  await a.page.evaluate(async (d) => {
    await window.orrery.state.set(`/${d}/kept`, { list: [1, 2, 3] })
    await window.orrery.state.flush()
  }, doc)
  await a.page.reload()
  await untilReady(a.page)
  expect(await stateOf(a.page, `/${doc}/kept`)).toEqual({ list: [1, 2, 3] })
  expect((await a.page.evaluate(() => window.orrery.docs.list())).map((d) => d.id)).toContain(doc)
})

test('a second tab of the same profile sees the first tab’s edits live', async ({
  browser,
  relay,
}) => {
  const first = await openPeer(browser, relay.url)
  const doc = await first.page.evaluate(() => window.orrery.docs.create())
  const second = await openPeer(browser, `${relay.url}#/doc/${doc}`, first.context)
  expect(second.id).not.toBe(first.id) // each tab is its own peer
  await first.page.evaluate((d) => window.orrery.state.set(`/${d}/from`, 'tab 1'), doc)
  await expectState(second.page, `/${doc}/from`, 'tab 1')
  await second.page.evaluate((d) => window.orrery.state.set(`/${d}/back`, 'tab 2'), doc)
  await expectState(first.page, `/${doc}/back`, 'tab 2')
  // same person in both tabs
  const ids = await Promise.all(
    [first, second].map((t) => t.page.evaluate(() => window.orrery.identity.id())),
  )
  expect(ids[0]).toBe(ids[1])
})

test('a tab closing in the middle of a sync loses nothing', async ({ browser, relay }) => {
  const a1 = await openPeer(browser, relay.url)
  const doc = await a1.page.evaluate(() => window.orrery.docs.create())
  const a2 = await openPeer(browser, `${relay.url}#/doc/${doc}`, a1.context)
  const b = await openPeer(browser, await shareLink(a1.page, doc))
  await b.page.evaluate((d) => window.orrery.state.set(`/${d}/warmup`, true), doc)
  await expectState(a1.page, `/${doc}/warmup`, true)
  // B writes 300 changes; tab a1 goes away once some have reached it and before B writes the
  // rest (B waits at a gate halfway), however fast the machine is
  await b.page.evaluate(() => {
    const w = window as Gate
    w.gate = new Promise((resolve) => (w.openGate = resolve))
  })
  const writing = b.page.evaluate(async (d) => {
    for (let i = 0; i < 300; i++) {
      await window.orrery.state.set(`/${d}/n/k${i}`, i)
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 0)) // separate changes
      if (i === 149) await (window as Gate).gate
    }
  }, doc)
  await expect
    .poll(async () => Object.keys(((await stateOf(a1.page, `/${doc}/n`)) as object) ?? {}).length)
    .toBeGreaterThan(0)
  await a1.page.close()
  await b.page.evaluate(() => (window as Gate).openGate?.())
  await writing
  await expect
    .poll(
      async () =>
        Object.keys(((await stateOf(a2.page, `/${doc}/n`)) as object | undefined) ?? {}).length,
      { timeout: 20_000 },
    )
    .toBe(300)
  // and what reached the profile is on its disk: a fresh tab of it has everything
  const a3 = await openPeer(browser, `${relay.url}#/doc/${doc}`, a1.context)
  await expect
    .poll(
      async () =>
        Object.keys(((await stateOf(a3.page, `/${doc}/n`)) as object | undefined) ?? {}).length,
    )
    .toBe(300)
})
