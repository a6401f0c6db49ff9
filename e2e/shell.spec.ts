import { expect, openPeer, shareLink, test } from './fixtures'

test('the shell: status, a new document edited by hand, shared by link, connections listed', async ({
  browser,
  relay,
}) => {
  const a = await openPeer(browser, relay.url)
  await expect(a.page.getByTestId('relay-state')).toHaveText('relay connected')
  await a.page.getByTestId('new-doc').click()
  await expect(a.page).toHaveURL(/#\/doc\/\w+/)
  const doc = /#\/doc\/(\w+)/.exec(a.page.url())![1]!

  const editor = a.page.locator('orrery-doc-editor')
  // a new document is a page (title and text); its keys and values are the developer view
  await expect(editor.getByTestId('text-editor')).toBeVisible()
  await editor.getByText('Developer view: keys and values').click()
  await editor.getByLabel('key').fill('todo/1')
  await editor.getByLabel('value').fill('{"title":"milk","done":false}')
  await editor.getByRole('button', { name: 'Set' }).click()
  await expect(editor.getByTestId('doc-tree')).toContainText('milk')
  await expect(a.page.getByTestId('saved')).toBeVisible()

  // bad input in the form: a clear message, nothing written
  await editor.getByLabel('key').fill('todo/1/title/deeper')
  await editor.getByLabel('value').fill('1')
  await editor.getByRole('button', { name: 'Set' }).click()
  await expect(editor.getByTestId('editor-error')).toContainText('holds a value')

  const b = await openPeer(browser, await shareLink(a.page, doc))
  const bEditor = b.page.locator('orrery-doc-editor')
  await expect(bEditor.getByTestId('text-editor')).toBeVisible({ timeout: 45_000 })
  await bEditor.getByText('Developer view: keys and values').click()
  await expect(bEditor.getByTestId('doc-tree')).toContainText('milk')
  await b.page.locator('orrery-doc-editor [data-key="done"] button').click() // delete "done"
  await expect(editor.getByTestId('doc-tree')).not.toContainText('done')
  await expect(a.page.getByTestId('connections')).toContainText('direct webrtc')
  await expect(a.page.getByTestId('peer-count')).toHaveText('1 peer')
})
