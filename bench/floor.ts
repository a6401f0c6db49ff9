/**
 * The floor under W1 on the same pages (Orrery booted, connected): the round trip of a small
 * message (a) on a raw RTCDataChannel between the two pages (its own RTCPeerConnection, no
 * libp2p), and (b) on a bare libp2p stream over the peers' own direct WebRTC connection (no
 * Automerge, no storage, no shell work).
 */
import type { Page } from 'playwright-core'
import { within, type BenchPeer } from './lab'
import { percentile } from './workloads'

export interface FloorResult {
  rawP50: number
  rawP95: number
  libp2pP50: number
  libp2pP95: number
}

interface RawPing {
  pc: RTCPeerConnection
  ch?: RTCDataChannel
}
declare global {
  interface Window {
    __ping?: RawPing
  }
}

const ECHO = '/orrery-bench/echo/1'

async function rawSide(page: Page, remote?: string): Promise<string> {
  return page.evaluate(async (remote) => {
    const pc = new RTCPeerConnection({ iceServers: [] })
    const raw: RawPing = { pc }
    window.__ping = raw
    if (remote === undefined) {
      raw.ch = pc.createDataChannel('ping', { ordered: true })
      raw.ch.binaryType = 'arraybuffer'
      await pc.setLocalDescription(await pc.createOffer())
    } else {
      pc.ondatachannel = (e) => {
        const ch = e.channel
        ch.binaryType = 'arraybuffer'
        ch.onmessage = (m) => ch.send(m.data as ArrayBuffer) // echo
        raw.ch = ch
      }
      await pc.setRemoteDescription(JSON.parse(remote) as RTCSessionDescriptionInit)
      await pc.setLocalDescription(await pc.createAnswer())
    }
    if (pc.iceGatheringState !== 'complete')
      await new Promise<void>((resolve) => {
        pc.onicegatheringstatechange = () => {
          if (pc.iceGatheringState === 'complete') resolve()
        }
      })
    return JSON.stringify(pc.localDescription)
  }, remote)
}

async function rawRounds(a: Page, b: Page, n: number): Promise<number[]> {
  const offer = await rawSide(a)
  const answer = await rawSide(b, offer)
  try {
    return await a.evaluate(
      async ({ answer, n }) => {
        const raw = window.__ping!
        await raw.pc.setRemoteDescription(JSON.parse(answer) as RTCSessionDescriptionInit)
        const ch = raw.ch!
        if (ch.readyState !== 'open')
          await new Promise<void>((resolve) => {
            ch.onopen = () => resolve()
          })
        const out: number[] = []
        const msg = new Uint8Array(240)
        for (let i = 0; i < n; i++) {
          const t0 = performance.now()
          const back = new Promise<void>((resolve) => {
            ch.onmessage = () => resolve()
          })
          ch.send(msg)
          await back
          out.push(performance.now() - t0)
        }
        return out
      },
      { answer, n },
    )
  } finally {
    const close = (p: Page): Promise<void> =>
      p.evaluate(() => window.__ping?.pc.close()).catch(() => undefined)
    await Promise.all([close(a), close(b)])
  }
}

async function libp2pRounds(a: Page, b: Page, n: number): Promise<number[]> {
  const bId = await b.evaluate(async (proto) => {
    const node = window.orrery.internals!.peer.node
    await node.handle(proto, (stream) => {
      stream.addEventListener('message', (e) => {
        stream.send(e.data.subarray())
      })
    })
    return node.peerId.toString()
  }, ECHO)
  return a.evaluate(
    async ({ proto, bId, n }) => {
      const node = window.orrery.internals!.peer.node
      const conn = node.getConnections().find((c) => c.remotePeer.toString() === bId && !c.limits)
      if (conn === undefined) throw new Error('no direct connection to B')
      const stream = await conn.newStream(proto)
      let resolveBack: (() => void) | undefined
      stream.addEventListener('message', () => resolveBack?.())
      const out: number[] = []
      const msg = new Uint8Array(240)
      for (let i = 0; i < n; i++) {
        const t0 = performance.now()
        const back = new Promise<void>((resolve) => (resolveBack = resolve))
        stream.send(msg)
        await back
        out.push(performance.now() - t0)
      }
      await stream.close()
      return out
    },
    { proto: ECHO, bId, n },
  )
}

export async function floor(a: BenchPeer, b: BenchPeer, n: number): Promise<FloorResult> {
  const raw = await within(rawRounds(a.page, b.page, n), 60_000, 'raw ping-pong')
  const lp = await within(libp2pRounds(a.page, b.page, n), 60_000, 'libp2p ping-pong')
  return {
    rawP50: percentile(raw, 50),
    rawP95: percentile(raw, 95),
    libp2pP50: percentile(lp, 50),
    libp2pP95: percentile(lp, 95),
  }
}
