/**
 * N1 (issue 4): a newcomer opens a share link to a community and is ready to use it. Set-up: A
 * opens the microblog (the relay seeds the built apps from dist/seed), starts a community (a new
 * space, A its admin), posts once and makes a writer invite link. Measured: a fresh Chromium
 * opens the link; an init script types the display name and presses Join as soon as the form is
 * there (the automation's share of the sign-up step is ~0); app ready = <microblog-app> mounted,
 * the community document shown in it (A's post is in its value) and the newcomer's role shown as
 * writer. Every time is ms since the newcomer's navigation start.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { within, type BenchPeer, type Lab } from './lab'

export interface N1Result {
  /** navigation start -> app ready */
  ms: number
  /** the sign-up form can be typed into */
  formMs: number
  /** Join pressed -> the invite checked and the member record written (the page moves on) */
  joinMs: number
  /** joined -> app ready: install (blocks), mount, the community document synced and verified */
  afterJoinMs: number
  /** ms since navigation start of each step: form, click, joined, mounted, doc, role, ready */
  steps: Record<string, number>
  /** window.orrery.timings() at app ready */
  timings: Record<string, number>
}

const POST = 'hello from the bench admin'

interface Probe {
  steps: Record<string, number>
  timings?: Record<string, number>
  error?: string
}

declare global {
  interface Window {
    __newcomer?: Probe
  }
}

/** The microblog's CID as the build published it (dist/seed/apps.json). */
export function microblogCid(root: string): string {
  const seed = JSON.parse(fs.readFileSync(path.join(root, 'dist/seed/apps.json'), 'utf8')) as {
    name: string
    cid: string
  }[]
  const cid = seed.find((a) => a.name === 'microblog')?.cid
  if (cid === undefined) throw new Error('dist/seed/apps.json has no microblog: npm run build')
  return cid
}

const byTestId = (page: Page, id: string) => page.locator(`[data-testid="${id}"]`)

/** A starts a community in the microblog, posts, and makes a writer invite link. */
export async function community(lab: Lab, a: BenchPeer, cid: string): Promise<string> {
  await lab.goto(a, `/#/app/${cid}`)
  await byTestId(a.page, 'new-community').click({ timeout: 30_000 })
  await a.page.locator('[data-testid="my-role"][data-role="admin"]').waitFor({ timeout: 30_000 })
  await byTestId(a.page, 'compose').fill(POST)
  await byTestId(a.page, 'post-button').click()
  await byTestId(a.page, 'post-text').first().waitFor({ timeout: 10_000 })
  await byTestId(a.page, 'make-invite').click()
  const field = byTestId(a.page, 'invite-link')
  await field.waitFor({ timeout: 20_000 })
  const until = Date.now() + 20_000
  for (;;) {
    const link = await field.inputValue()
    if (/#\/join\/.+\/app\/.+\/doc\//.test(link)) return link
    if (Date.now() > until) throw new Error(`no invite link (field has ${JSON.stringify(link)})`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/**
 * Init script: every 4 ms walks the shell's shadow roots; fills in and submits the sign-up form
 * the moment it is there, then records when the app is mounted, shows the document and the role.
 */
function newcomerProbe({ post }: { post: string }): void {
  const probe: Probe = { steps: {} }
  window.__newcomer = probe
  const at = (step: string): void => {
    probe.steps[step] ??= Math.round(performance.now() * 10) / 10
  }
  const inside = (root: ParentNode | null | undefined, sel: string): Element | null =>
    root?.querySelector(sel) ?? null
  const shadow = (el: Element | null): ShadowRoot | null => el?.shadowRoot ?? null
  const tick = (): void => {
    const shell = shadow(inside(document, 'orrery-app'))
    const join = shadow(inside(shell, 'orrery-join'))
    const input = inside(join, '[data-testid="join-name"]') as HTMLInputElement | null
    const button = inside(join, '[data-testid="join-button"]') as HTMLButtonElement | null
    if (probe.steps.click === undefined && input !== null && button !== null && !button.disabled) {
      at('form')
      input.value = 'Newcomer'
      at('click')
      button.click()
    }
    if (probe.steps.click !== undefined && location.hash.startsWith('#/app/')) at('joined')
    const host = shadow(inside(shell, 'orrery-app-host'))
    const app = inside(host, 'microblog-app')
    if (app !== null) at('mounted')
    const community = inside(shadow(app), 'microblog-community') as
      (Element & { value?: unknown }) | null
    if (community?.value !== undefined && JSON.stringify(community.value).includes(post)) at('doc')
    const role = inside(shadow(community), '[data-testid="my-role"]')
    if (role?.getAttribute('data-role') === 'writer') at('role')
    const s = probe.steps
    if (s.mounted !== undefined && s.doc !== undefined && s.role !== undefined) {
      at('ready')
      probe.timings = window.orrery.timings()
      return
    }
    const error =
      inside(join, '[data-testid="join-error"]') ?? inside(host, '[data-testid="app-error"]')
    if (error !== null) {
      probe.error = error.textContent?.trim() ?? 'error shown'
      return
    }
    setTimeout(tick, 4)
  }
  tick()
}

/** N1: a fresh peer opens the invite `link`; navigation start until the app is ready. */
export async function newcomer(lab: Lab, n: BenchPeer, link: string): Promise<N1Result> {
  await n.page.addInitScript(newcomerProbe, { post: POST })
  await within(n.page.goto(lab.url(link.replace(/^https?:\/\/[^/]+/, ''))), 30_000, 'N loads')
  const handle = await n.page
    .waitForFunction(
      () => {
        const p = window.__newcomer
        return p !== undefined && (p.steps.ready !== undefined || p.error !== undefined) ? p : null
      },
      undefined,
      { timeout: 60_000, polling: 50 },
    )
    .catch(async (e: unknown) => {
      const seen = await n.page.evaluate(() => window.__newcomer).catch(() => undefined)
      throw new Error(`app not ready (${String(e).split('\n')[0]}); probe ${JSON.stringify(seen)}`)
    })
  const probe = (await handle.jsonValue()) as Probe
  if (probe.error !== undefined)
    throw new Error(`${probe.error} (steps ${JSON.stringify(probe.steps)})`)
  const s = probe.steps as Required<Record<'form' | 'click' | 'joined' | 'ready', number>>
  return {
    ms: s.ready,
    formMs: s.form,
    joinMs: s.joined - s.click,
    afterJoinMs: s.ready - s.joined,
    steps: probe.steps,
    timings: probe.timings ?? {},
  }
}
