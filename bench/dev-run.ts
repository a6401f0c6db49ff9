/**
 * `npm run bench:dev [-- --saves N]`: the development loop. The relay runs as `npm run dev --
 * --publish apps/<probe>` (a fresh app made by `npm run new-app`); one headless Chromium edits
 * it from source (`/#/dev/<probe>`), another follows its published versions (`/#/app/<cid>`,
 * "follow updates" on). Each save changes the text the app renders; we time
 *
 *   D1  save -> the new text in the editing tab's DOM (hot replacement in place)
 *   D2  save -> the new text in the follower's DOM (rebuild, sign, announce, fetch, swap)
 *
 * both from the same save (the file's write time, read from the same clock in the browsers).
 * Targets: D1 <= 150 ms, D2 <= 1 s. Prints p50/p95/max and writes bench/results-dev.json.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Page } from 'playwright-core'
import { newApp } from '../scripts/new-app'
import { Lab, within } from './lab'

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} needs a positive integer`)
  return v
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}

/** Resolves (in the page) with Date.now() when the app's title shows `text` (checked each frame). */
function watchFor(page: Page, element: string, text: string): Promise<number> {
  return page.evaluate(
    ({ element, text }) =>
      new Promise<number>((resolve) => {
        const find = (root: ParentNode): Element | null => {
          const el = root.querySelector(element)
          if (el !== null) return el
          for (const host of root.querySelectorAll('*'))
            if (host.shadowRoot !== null) {
              const inner = find(host.shadowRoot)
              if (inner !== null) return inner
            }
          return null
        }
        const check = (): boolean => {
          const app = find(document)
          const h2 = app?.shadowRoot?.querySelector('h2')
          if (h2?.textContent?.includes(text) === true) {
            resolve(Date.now())
            return true
          }
          return false
        }
        // the app lives in nested shadow roots: look once per frame (±16 ms)
        const frame = (): void => {
          if (!check()) requestAnimationFrame(frame)
        }
        frame()
      }),
    { element, text },
  )
}

async function main(): Promise<void> {
  const saves = arg('--saves', 15)
  const name = `probe${Math.random().toString(36).slice(2, 8)}`
  const dir = newApp(name)
  const element = `${name}-app`
  const file = path.join(dir, 'src', 'index.ts')
  const keys = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-bench-keys-'))
  const lab = await Lab.start(undefined, ['--dev', '--publish', dir], {
    ORRERY_PUBLISHER: path.join(keys, 'developer.json'),
  })
  const relay = lab.relay
  try {
    const dev = async (): Promise<{ publishing?: { versions: { cid: string }[] } }> =>
      (await (await fetch(`${relay.url}/orrery/dev.json`)).json()) as never
    let first: string | undefined
    for (let i = 0; i < 300 && first === undefined; i++) {
      first = (await dev()).publishing?.versions.at(-1)?.cid
      if (first === undefined) await new Promise((r) => setTimeout(r, 100))
    }
    if (first === undefined) throw new Error('the first version was not published')
    const editor = await lab.peer('editor', `/#/dev/${name}`)
    const follower = await lab.peer('follower', `/#/app/${first}`)
    await within(watchFor(editor.page, element, 'Hello'), 60_000, 'editor shows the app')
    await within(watchFor(follower.page, element, 'Hello'), 60_000, 'follower shows the app')
    await follower.page.getByTestId('app-follow').check()

    const d1: number[] = []
    const d2: number[] = []
    let text = 'Hello from'
    for (let i = 0; i < saves; i++) {
      const next = `Save ${i} from`
      const seenEditor = watchFor(editor.page, element, next)
      const seenFollower = watchFor(follower.page, element, next)
      const source = fs.readFileSync(file, 'utf8').replace(text, next)
      const savedAt = Date.now()
      fs.writeFileSync(file, source)
      text = next
      const [e, f] = await Promise.all([
        within(seenEditor, 20_000, `editor shows save ${i}`),
        within(seenFollower, 20_000, `follower shows save ${i}`),
      ]).catch(async (err: unknown) => {
        const notice = await follower.page
          .evaluate(() => ({ swap: window.orreryLastSwap, hash: location.hash }))
          .catch(() => undefined)
        console.log(`  follower: ${JSON.stringify(notice)}\n  ${lab.log.join('\n  ')}`)
        throw err
      })
      d1.push(e - savedAt)
      d2.push(f - savedAt)
      console.log(`  save ${i}: editing tab ${e - savedAt} ms, follower ${f - savedAt} ms`)
      await new Promise((r) => setTimeout(r, 300)) // let the burst settle
    }
    const row = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95), max: Math.max(...xs) })
    const results = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, chromium: editor.browser.version() },
      saves,
      D1: { ...row(d1), target: 150, samples: d1 },
      D2: { ...row(d2), target: 1000, samples: d2 },
    }
    console.log('\nworkload                         p50      p95      max   target')
    for (const [k, label] of [
      ['D1', 'save -> render, editing tab'],
      ['D2', 'save -> render, follower'],
    ] as const) {
      const r = results[k]
      console.log(
        `${k} ${label.padEnd(29)} ${String(r.p50).padStart(5)} ms ${String(r.p95).padStart(5)} ms ${String(r.max).padStart(5)} ms  <= ${r.target} ms ${r.p50 <= r.target ? 'met' : 'MISSED'}`,
      )
    }
    fs.writeFileSync(
      path.join(path.dirname(new URL(import.meta.url).pathname), 'results-dev.json'),
      `${JSON.stringify(results, null, 2)}\n`,
    )
  } finally {
    await lab.close()
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(keys, { recursive: true, force: true })
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e))
  process.exit(1)
})
