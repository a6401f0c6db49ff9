/**
 * Dialling (issue 10): the race in @libp2p/webrtc's dialler that stalled 1 in 6-9 dials, and
 * fresh pairs getting their direct connection. Outcomes only: how fast is the DIAL bench's job.
 */
import path from 'node:path'
import { build } from 'vite'
import { expect, openPeer, shareLink, test } from './fixtures'

/** src/browser/webrtc/libp2p-rtc.ts as a script that sets `window.Libp2pRtc` (its exports). */
async function libp2pRtcScript(): Promise<string> {
  // Vite's build sets NODE_ENV=production in this (the test worker's) process when it is unset:
  // put it back, or every process later tests start inherits it (a dev server would then serve
  // production code)
  const nodeEnv = process.env.NODE_ENV
  const out = await build({
    configFile: false,
    logLevel: 'silent',
    build: {
      write: false,
      minify: false,
      lib: {
        entry: path.resolve('src/browser/webrtc/libp2p-rtc.ts'),
        formats: ['iife'],
        name: 'Libp2pRtc',
      },
    },
  }).finally(() => {
    if (nodeEnv === undefined) delete process.env.NODE_ENV
    else process.env.NODE_ENV = nodeEnv
  })
  const outputs = Array.isArray(out) ? out : [out]
  for (const o of outputs)
    if ('output' in o) for (const chunk of o.output) if (chunk.type === 'chunk') return chunk.code
  throw new Error('no script built')
}

declare global {
  interface Window {
    Libp2pRtc: { RTCPeerConnection: typeof RTCPeerConnection }
  }
}

test("the dialler goes on when its 'init' channel opened and was closed by the other side before it saw the connection up", async ({
  browser,
  relay,
}) => {
  const context = await browser.newContext({ permissions: ['camera', 'microphone'] })
  const page = await context.newPage()
  await page.goto(`${relay.url}/orrery/relay.json`) // any page of the relay's origin
  await page.addScriptTag({ content: await libp2pRtcScript() })
  const outcome = await page.evaluate(async () => {
    /**
     * What @libp2p/webrtc's dialler finds in the race: the connection 'connected', its 'init'
     * channel already opened and closed by the answering side (whose muxer closes 'init' when it
     * adopts it). Made here in order, with two connections in this page.
     */
    const race = async (Dialler: typeof RTCPeerConnection) => {
      const a = new Dialler({ iceServers: [] })
      const b = new RTCPeerConnection({ iceServers: [] })
      const init = a.createDataChannel('init')
      b.ondatachannel = (e) => {
        const ch = e.channel
        if (ch.readyState === 'open') ch.close()
        else ch.onopen = () => ch.close()
      }
      const gathered = (pc: RTCPeerConnection) =>
        pc.iceGatheringState === 'complete'
          ? Promise.resolve()
          : new Promise<void>((r) =>
              pc.addEventListener('icegatheringstatechange', () => {
                if (pc.iceGatheringState === 'complete') r()
              }),
            )
      await a.setLocalDescription(await a.createOffer())
      await gathered(a)
      await b.setRemoteDescription(a.localDescription!)
      await b.setLocalDescription(await b.createAnswer())
      await gathered(b)
      await a.setRemoteDescription(b.localDescription!)
      const closedByRemote = new Promise<void>((r) =>
        init.addEventListener('close', () => r(), { once: true }),
      )
      const connected = new Promise<void>((r) => {
        if (a.connectionState === 'connected') r()
        else
          a.addEventListener('connectionstatechange', () => {
            if (a.connectionState === 'connected') r()
          })
      })
      await Promise.all([closedByRemote, connected])
      return { a, b, init }
    }
    // the browser's own channel: its state says 'closed', so the dialler would wait for an
    // 'open' event that already happened (libp2p: `if (readyState !== 'open') await 'open'`)
    const native = await race(RTCPeerConnection)
    const nativeState = native.init.readyState
    native.a.close()
    native.b.close()
    // the guarded one: reads 'open' until the dialler closes it, and its close ends in 'close'
    const guarded = await race(window.Libp2pRtc.RTCPeerConnection)
    const guardedState = guarded.init.readyState
    const closed = new Promise<string>((r) =>
      guarded.init.addEventListener('close', () => r('close event'), { once: true }),
    )
    guarded.init.close()
    const afterClose = await closed
    guarded.a.close()
    guarded.b.close()
    return { nativeState, guardedState, afterClose }
  })
  expect(outcome).toEqual({
    nativeState: 'closed',
    guardedState: 'open',
    afterClose: 'close event',
  })
  await context.close()
})

test('fresh pairs each get a direct WebRTC connection and sync', async ({ browser, relay }) => {
  const member = await openPeer(browser, relay.url)
  const doc = await member.page.evaluate(() => window.orrery.docs.create())
  await member.page.evaluate((d) => window.orrery.state.set(`/${d}/hello`, 'member'), doc)
  for (let i = 0; i < 2; i++) {
    const newcomer = await openPeer(browser, await shareLink(member.page, doc))
    await expect
      .poll(() => newcomer.page.evaluate(() => window.orrery.connections()), { timeout: 20_000 })
      .toContainEqual(
        expect.objectContaining({ peer: member.id, direct: true, transport: 'webrtc' }),
      )
    await expect
      .poll(() => newcomer.page.evaluate((d) => window.orrery.state.get(`/${d}/hello`), doc))
      .toBe('member')
    await newcomer.context.close()
  }
  await member.context.close()
})
