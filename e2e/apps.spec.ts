/**
 * Apps by content address: the microblog is fetched from the seeding relay by A; with seeding
 * switched off, B (a fresh profile) gets every block from A over WebRTC, posts, and A sees it; B
 * reloads with the network cut and the app still runs from its own store; a manifest whose
 * signature does not verify is refused with a clear message.
 */
import fs from 'node:fs'
import path from 'node:path'
import { jsonCid } from '../src/core/blocks/cid'
import { canonicalJson } from '../src/core/blocks/manifest'
import { expect, openPeer, RelayProcess, test } from './fixtures'

const seed = JSON.parse(fs.readFileSync('dist/seed/apps.json', 'utf8')) as {
  name: string
  cid: string
}[]
const microblog = seed.find((a) => a.name === 'microblog')!.cid

test('the microblog travels from peer to peer by content address; newcomers sign up by invite; it runs offline', async ({
  browser,
}) => {
  let relay = await RelayProcess.start()
  const local = (link: string): string => link.replace(/^http:\/\/[^/]+/, relay.url)
  try {
    // A installs it from the seeding relay and starts a community (a space A administers)
    const a = await openPeer(browser, `${relay.url}/#/app/${microblog}`)
    await a.page.getByTestId('new-community').click()
    await expect(a.page.getByTestId('my-role')).toHaveText('admin', { timeout: 20_000 })
    await a.page.getByTestId('display-name').fill('Ada')
    await a.page.getByTestId('save-profile').click()
    await a.page.getByTestId('compose').fill('hello from Ada')
    await a.page.getByTestId('post-button').click()
    await expect(a.page.getByTestId('post-text').first()).toHaveText('hello from Ada')
    const installed = await a.page.evaluate(() => window.orrery.apps.list())
    expect(installed.installed.map((x) => x.cid)).toContain(microblog)
    const invite = async (): Promise<string> => {
      await a.page.getByTestId('make-invite').click()
      await expect(a.page.getByTestId('invite-link')).toHaveValue(/#\/join\//)
      const link = await a.page.getByTestId('invite-link').inputValue()
      expect(link).toContain(`/app/${microblog}/doc/`)
      return link
    }
    const forBob = await invite()
    const forCy = await invite()

    // the read-only link names the community's space: a reader who opens it checks the
    // community's changes against its members from the start (and may not post)
    const readLink = await a.page.getByTestId('share-link').inputValue()
    const [, communityDoc, communitySpace] = /\/doc\/([^/?#]+)\?space=([^&#]+)/.exec(readLink) ?? []
    expect(communitySpace).toBe(
      await a.page.evaluate((d) => window.orrery.spaces.of(d), communityDoc ?? ''),
    )
    const reader = await openPeer(browser, local(readLink))
    await reader.page.getByRole('tab', { name: 'Everyone' }).click({ timeout: 30_000 })
    await expect(reader.page.getByTestId('post-text').first()).toHaveText('hello from Ada', {
      timeout: 30_000,
    })
    expect(await reader.page.evaluate((d) => window.orrery.spaces.of(d), communityDoc ?? '')).toBe(
      communitySpace,
    )
    await reader.context.close()

    // the relay comes back on the same port with seeding switched off: blocks only from peers
    const { port, dataDir } = { port: relay.port, dataDir: relay.dataDir }
    await relay.kill()
    relay = await RelayProcess.start(dataDir, [], { PORT: port, ORRERY_SEED: '0' })
    const apps = (await (await fetch(`${relay.url}/orrery/apps.json`)).json()) as {
      seeding: boolean
    }
    expect(apps.seeding).toBe(false)
    await expect
      .poll(() => a.page.evaluate(() => window.orrery.status().relay), { timeout: 30_000 })
      .toBe('connected')

    // B signs up from the invite link in a fresh browser and lands in the app
    const b = await openPeer(browser, local(forBob))
    await b.page.getByTestId('join-name').fill('Bob')
    await b.page.getByTestId('join-button').click()
    await expect(b.page.getByTestId('my-role')).toHaveText('writer', { timeout: 40_000 })
    await b.page.getByTestId('tab-everyone').click()
    await expect(b.page.getByTestId('post-text').first()).toHaveText('hello from Ada', {
      timeout: 30_000,
    })
    // every block came over a direct WebRTC connection from A (the relay served none)
    const stats = await b.page.evaluate(() =>
      window.orrery.internals!.peer.node.services.blocks.stats(),
    )
    expect(stats.fetchedBlocks).toBeGreaterThan(0)
    const served = (await (await fetch(`${relay.url}/metrics`)).text()).match(
      /orrery_relay_blocks_served_total (\d+)/,
    )
    expect(Number(served?.[1])).toBe(0)
    const conns = await b.page.evaluate(() => window.orrery.connections())
    expect(conns).toContainEqual(
      expect.objectContaining({ peer: a.id, transport: 'webrtc', direct: true }),
    )

    await b.page.getByTestId('display-name').fill('Bob')
    await b.page.getByTestId('save-profile').click()
    // a reply: Ada is told through the outbox
    await b.page.getByTestId('reply-button').first().click()
    await b.page.getByTestId('compose').fill('hi Ada, Bob here')
    await b.page.getByTestId('post-button').click()
    await a.page.getByTestId('tab-everyone').click()
    await expect(
      a.page.getByTestId('post-text').filter({ hasText: 'hi Ada, Bob here' }),
    ).toBeVisible({ timeout: 20_000 })
    await expect
      .poll(
        async () =>
          (await a.page.evaluate(() => window.orrery.outbox.inbox()))
            .map((m) => JSON.stringify(m.payload))
            .join(),
        {
          timeout: 20_000,
        },
      )
      .toContain('Bob replied: hi Ada, Bob here')

    // Ada closes her browser; Cy signs up with Ada's invite anyway: Bob checks it, Bob serves the app
    await a.context.close()
    const c = await openPeer(browser, local(forCy))
    await c.page.getByTestId('join-name').fill('Cy')
    await c.page.getByTestId('join-button').click()
    await expect(c.page.getByTestId('my-role')).toHaveText('writer', { timeout: 40_000 })
    await c.page.getByTestId('display-name').fill('Cy')
    await c.page.getByTestId('save-profile').click()
    await c.page.getByTestId('compose').fill('Cy joined while Ada was away')
    await c.page.getByTestId('post-button').click()
    await expect(
      b.page.getByTestId('post-text').filter({ hasText: 'Cy joined while Ada was away' }),
    ).toBeVisible({
      timeout: 20_000,
    })

    // B, cut off from everything, reloads: shell, app and community come from its own store
    await b.page.evaluate(() => window.orrery.state.flush())
    await relay.kill()
    await b.context.setOffline(true)
    await b.page.reload()
    await b.page.getByTestId('tab-everyone').click()
    await expect(
      b.page.getByTestId('post-text').filter({ hasText: 'hi Ada, Bob here' }),
    ).toBeVisible({ timeout: 20_000 })
    await b.page.getByTestId('compose').fill('written offline')
    await b.page.getByTestId('post-button').click()
    await expect(
      b.page.getByTestId('post-text').filter({ hasText: 'written offline' }),
    ).toBeVisible()
  } finally {
    await relay.kill()
  }
})

test('a manifest whose signature does not verify is refused with a clear message', async ({
  browser,
  relay,
}) => {
  // a copy of the real manifest with one field changed after signing: a different, valid CID
  const real = JSON.parse(
    fs.readFileSync(path.join('dist/seed/blocks', microblog), 'utf8'),
  ) as Record<string, unknown>
  const forged = new TextEncoder().encode(canonicalJson({ ...real, appVersion: '6.6.6' }))
  const forgedCid = jsonCid(forged)
  const dir = path.join(relay.dataDir, 'seed', 'blocks')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, forgedCid), forged)

  const a = await openPeer(browser, `${relay.url}/#/app/${forgedCid}`)
  await expect(a.page.getByTestId('app-error')).toContainText('signature does not verify')
  expect((await a.page.evaluate(() => window.orrery.apps.list())).installed).toEqual([])
})

test('an app embeds the rich-text editor on its own documents, and on no other', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, `${relay.url}/#/app/${microblog}`)
  await a.page.getByTestId('new-community').click()
  await expect(a.page.getByTestId('my-role')).toHaveText('admin', { timeout: 20_000 })
  // what the microblog's code can do with the API it was given
  const doc = await a.page.evaluate(async () => {
    const deep = (root: Document | ShadowRoot): HTMLElement | undefined => {
      for (const el of root.querySelectorAll('*')) {
        if ((el as Partial<AppElement>).orrery?.text !== undefined) return el as HTMLElement
        const inner = el.shadowRoot === null ? undefined : deep(el.shadowRoot)
        if (inner !== undefined) return inner
      }
      return undefined
    }
    type AppElement = { orrery: import('../src/core/apps/api').AppApi }
    const app = (deep(document) as unknown as AppElement).orrery
    const id = app.startDoc ?? (await app.docs.list())[0]!
    const editor = await app.text.editor(`/${id}/long`)
    editor.dataset['testid'] = 'app-editor'
    document.body.append(editor)
    ;(window as unknown as { __app: unknown }).__app = app
    return id
  })
  const editor = a.page.getByTestId('app-editor').getByTestId('text-editor')
  await expect(editor).toHaveAttribute('contenteditable', 'true', { timeout: 20_000 })
  await editor.click()
  await a.page.keyboard.type('A long post, ')
  await a.page.keyboard.press('Control+b')
  await a.page.keyboard.type('with bold')
  await expect(editor.locator('strong')).toHaveText('with bold')
  const read = await a.page.evaluate(async (id) => {
    const app = (window as unknown as { __app: import('../src/core/apps/api').AppApi }).__app
    const text = await app.text.open(`/${id}/long`)
    const spans = text.spans()
    text.close()
    const other = await window.orrery.docs.create()
    const refused = await app.text.editor(`/${other}/long`).then(
      () => 'opened',
      (e: { code?: string }) => e.code,
    )
    return { value: await app.state.get(`/${id}/long`), spans: spans.length, refused }
  }, doc)
  expect(read.value).toBe('A long post, with bold')
  expect(read.spans).toBeGreaterThan(1) // the text, and its bold
  expect(read.refused).toBe('FORBIDDEN')
})
