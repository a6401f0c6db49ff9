/**
 * docs/WRITING-APPS.md, run as written: every `$ ` command in it is run here in order (with the
 * app's name made unique), and each step's result is checked in a browser: the new app runs from
 * source under `npm run dev`, a follower gets it from `npm run dev -- --publish`, and a friend in
 * a fresh browser opens the link `npm run publish-app` printed, served by `npm start`.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Browser } from '@playwright/test'
import { expect, openPeer, test } from './fixtures'

const GUIDE = 'docs/WRITING-APPS.md'

/** The `$ ` lines of the guide's sh blocks, in order. */
function guideCommands(): string[] {
  const out: string[] = []
  let inSh = false
  for (const line of fs.readFileSync(GUIDE, 'utf8').split('\n')) {
    if (line.startsWith('```')) inSh = line.trim() === '```sh' && !inSh
    else if (inSh && line.startsWith('$ ')) out.push(line.slice(2).trim())
  }
  return out
}

interface Running {
  proc: ChildProcess
  output: () => string
  exited: Promise<number | null>
}

/** Runs a guide command through the shell in its own process group (npm starts children). */
function run(command: string, env: Record<string, string>): Running {
  const proc = spawn('sh', ['-c', command], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  let out = ''
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)))
  return { proc, output: () => out, exited }
}

async function finished(r: Running, what: string): Promise<string> {
  const code = await r.exited
  if (code !== 0) throw new Error(`${what} exited ${code}:\n${r.output()}`)
  return r.output()
}

/** Waits for the relay's "... on http://host:port" line. */
async function served(r: Running, what: string, timeout: number): Promise<string> {
  const until = Date.now() + timeout
  for (;;) {
    const m = / on (http:\/\/[^\s]+)/.exec(r.output())
    if (m?.[1] !== undefined) return m[1]
    if (r.proc.exitCode !== null) throw new Error(`${what} exited:\n${r.output()}`)
    if (Date.now() > until) throw new Error(`${what} did not start:\n${r.output()}`)
    await new Promise((res) => setTimeout(res, 100))
  }
}

async function stop(r: Running): Promise<void> {
  if (r.proc.exitCode !== null || r.proc.pid === undefined) return
  try {
    process.kill(-r.proc.pid, 'SIGTERM')
  } catch {
    return
  }
  await Promise.race([r.exited, new Promise((res) => setTimeout(res, 5_000))])
  if (r.proc.exitCode === null) process.kill(-r.proc.pid, 'SIGKILL')
}

/**
 * Waits for the app's title; when it does not come, the error says what the page showed, what it
 * logged and what the server printed (a CI failure is otherwise a bare timeout).
 */
async function showsTitle(peer: Peer, name: string, server: Running): Promise<void> {
  try {
    await expect(peer.page.getByTestId(`${name}-title`)).toHaveText(`Hello from ${name}`, {
      timeout: 40_000,
    })
  } catch (e) {
    const shown = await peer.page
      .evaluate(() => document.body.innerText)
      .catch((err: unknown) => `(no page text: ${String(err)})`)
    throw new Error(
      `${String(e)}\n--- the page showed:\n${shown.slice(0, 2_000)}\n--- it logged:\n` +
        `${peer.logged.slice(-40).join('\n')}\n--- the server printed:\n${server.output().slice(-4_000)}`,
      { cause: e },
    )
  }
}

interface Peer {
  page: Awaited<ReturnType<typeof openPeer>>['page']
  context: Awaited<ReturnType<typeof openPeer>>['context']
  logged: string[]
}

/** Opens a peer and keeps its console warnings and errors. */
async function openLogged(browser: Browser, url: string): Promise<Peer> {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const logged: string[] = []
  context.on('console', (m) => {
    if (m.type() === 'warning' || m.type() === 'error') logged.push(`[${m.type()}] ${m.text()}`)
  })
  const peer = await openPeer(null, url, context)
  return { page: peer.page, context: peer.context, logged }
}

test('docs/WRITING-APPS.md: from nothing to an app a friend opens from a link', async ({
  browser,
}) => {
  test.setTimeout(300_000)
  const name = `probe${Math.random().toString(36).slice(2, 8)}`
  const commands = guideCommands().map((c) => c.replaceAll('hello', name))
  expect(commands).toEqual([
    `npm run new-app -- ${name}`,
    'npm run dev',
    `npm run dev -- --publish apps/${name}`,
    `npm run publish-app -- apps/${name}`,
    'npm start',
  ])
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-guide-'))
  const env = {
    PORT: '0',
    HOST: '127.0.0.1',
    ORRERY_DATA_DIR: path.join(data, 'relay'),
    ORRERY_PUBLISHER: path.join(data, 'publisher.json'),
    ORRERY_LOG: 'warn',
  }
  const dir = path.join('apps', name)
  const running: Running[] = []
  const start = (command: string): Running => {
    const r = run(command, env)
    running.push(r)
    return r
  }
  try {
    // 1. make the app
    const made = await finished(start(commands[0]!), commands[0]!)
    expect(made).toContain(`#/dev/${name}`)
    expect(fs.existsSync(path.join(dir, 'orrery.json'))).toBe(true)

    // 2. develop it from source
    const dev = start(commands[1]!)
    const devUrl = await served(dev, commands[1]!, 60_000)
    const developer = await openLogged(browser, `${devUrl}/#/dev/${name}`)
    await showsTitle(developer, name, dev)
    await developer.context.close()
    await stop(dev)

    // 3. live publishing: a follower opens the published version
    const live = start(commands[2]!)
    const liveUrl = await served(live, commands[2]!, 60_000)
    let cid: string | undefined
    await expect
      .poll(
        async () => {
          const info = (await (await fetch(`${liveUrl}/orrery/dev.json`)).json()) as {
            publishing?: { versions: { cid: string }[] }
          }
          cid = info.publishing?.versions.at(-1)?.cid
          return cid
        },
        { timeout: 30_000 },
      )
      .toBeDefined()
    const follower = await openLogged(browser, `${liveUrl}/#/app/${cid}`)
    await showsTitle(follower, name, live)
    await follower.context.close()
    await stop(live)

    // 4. publish a version: it prints the address and a link
    const published = await finished(start(commands[3]!), commands[3]!)
    const link = /open: (http:\/\/\S+\/#\/app\/(b[a-z2-7]+))/.exec(published)
    expect(link, published).not.toBeNull()
    const appCid = link![2]!

    // 5. serve it; a friend in a fresh browser opens the link
    const server = start(commands[4]!)
    const url = await served(server, commands[4]!, 240_000)
    const friend = await openLogged(browser, `${url}/#/app/${appCid}`)
    await showsTitle(friend, name, server)
    const add = friend.page.getByTestId(`${name}-add`)
    await add.click()
    await expect(add).toHaveText('clicked 1 times')
    await friend.context.close()
  } finally {
    for (const r of running) await stop(r)
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(data, { recursive: true, force: true })
    // `npm start` built the apps folder into dist/seed while the probe was in it: unlist it
    const list = path.join('dist', 'seed', 'apps.json')
    if (fs.existsSync(list)) {
      const apps = JSON.parse(fs.readFileSync(list, 'utf8')) as { name: string }[]
      fs.writeFileSync(
        list,
        JSON.stringify(
          apps.filter((a) => a.name !== name),
          null,
          2,
        ),
      )
    }
  }
})
