/**
 * Developing UI components with hot reload: the relay in --dev mode serves through Vite, and a
 * lit element edited on disk is replaced in the running page without a reload, keeping its state.
 */
import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from '@playwright/test'
import { RelayProcess } from './fixtures'

const probe = path.resolve('e2e/hmr/probe.generated.ts')
const source = (label: string): string => `import { LitElement, html } from 'lit'
import { defineElement } from '../../src/browser/ui/define'

class HmrProbe extends LitElement {
  static override properties = { clicks: { state: true } }
  declare clicks: number
  constructor() {
    super()
    this.clicks = 0
  }
  override render(): unknown {
    return html\`<button @click=\${() => this.clicks++}>${label} \${this.clicks}</button>\`
  }
}
defineElement('hmr-probe', HmrProbe)
import.meta.hot?.accept()
`

test('a lit element edited on disk updates in place in dev mode, keeping its state', async ({
  browser,
}) => {
  fs.writeFileSync(probe, source('before'))
  const relay = await RelayProcess.start(undefined, ['--dev'])
  try {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`${relay.url}/e2e/hmr/index.html`)
    const button = page.locator('hmr-probe button')
    await expect(button).toHaveText('before 0')
    await button.click()
    await button.click()
    await expect(button).toHaveText('before 2')
    await page.evaluate(() => ((window as { marker?: string }).marker = 'same page'))

    fs.writeFileSync(probe, source('after'))
    await expect(button).toHaveText('after 2', { timeout: 15_000 })
    expect(await page.evaluate(() => (window as { marker?: string }).marker)).toBe('same page')
  } finally {
    await relay.kill()
    fs.rmSync(probe, { force: true })
  }
})
