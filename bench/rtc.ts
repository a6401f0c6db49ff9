/**
 * ARAW: the raw WebRTC data-channel throughput between two peers' Chromium processes, with no
 * libp2p in between: a plain RTCPeerConnection in each page (iceServers [], the SDP carried through
 * Playwright, non-trickle), 4 MiB sent in 16 KiB messages with backpressure, MB/s at the receiver.
 */
import type { Page } from 'playwright-core'
import { within } from './lab'

export const RAW_BYTES = 4 * 1024 * 1024
export const RAW_MESSAGE = 16 * 1024
/** the sender waits when this much is buffered, and resumes at bufferedAmountLowThreshold */
export const RAW_HIGH_WATER = 2 * 1024 * 1024
export const RAW_LOW_WATER = 512 * 1024

export interface RawResult {
  /** 1 MB = 1,000,000 bytes; bytes after the first message / first to last message */
  mbps: number
  /** the receiver's first to last message */
  ms: number
  bytes: number
  messageBytes: number
  /** the sender's first send to its last send queued */
  sendMs: number
  /** every repetition's MB/s in this run (when repeated); the fields above are the median's */
  samplesMBps?: number[]
}

interface RawPage {
  pc: RTCPeerConnection
  channel?: RTCDataChannel
  received?: Promise<{ first: number; last: number; bytes: number; firstBytes: number }>
}

declare global {
  interface Window {
    __raw?: RawPage
  }
}

/** Creates the connection in the page; offers (with a data channel) or answers `remote`. */
async function describe(page: Page, remote?: string): Promise<string> {
  return page.evaluate(
    async ({ remote, total }) => {
      const pc = new RTCPeerConnection({ iceServers: [] })
      const raw: RawPage = { pc }
      window.__raw = raw
      if (remote === undefined) {
        raw.channel = pc.createDataChannel('raw-bench', { ordered: true })
        raw.channel.binaryType = 'arraybuffer'
        await pc.setLocalDescription(await pc.createOffer())
      } else {
        raw.received = new Promise((resolve) => {
          pc.ondatachannel = (e) => {
            const ch = e.channel
            ch.binaryType = 'arraybuffer'
            raw.channel = ch
            let first = 0
            let firstBytes = 0
            let bytes = 0
            ch.onmessage = (m) => {
              const n = (m.data as ArrayBuffer).byteLength
              if (bytes === 0) {
                first = performance.now()
                firstBytes = n
              }
              bytes += n
              if (bytes >= total) resolve({ first, last: performance.now(), bytes, firstBytes })
            }
          }
        })
        await pc.setRemoteDescription({ type: 'offer', sdp: remote })
        await pc.setLocalDescription(await pc.createAnswer())
      }
      if (pc.iceGatheringState !== 'complete') {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            if (pc.iceGatheringState === 'complete') resolve()
          }
          pc.addEventListener('icegatheringstatechange', done)
          setTimeout(resolve, 5_000) // whatever was gathered by then
        })
      }
      return pc.localDescription?.sdp ?? ''
    },
    { remote, total: RAW_BYTES },
  )
}

/** Connects `sender` to `receiver`, sends RAW_BYTES, and returns what the receiver measured. */
export async function rawThroughput(sender: Page, receiver: Page): Promise<RawResult> {
  try {
    const offer = await within(describe(sender), 10_000, 'raw channel: offer')
    const answer = await within(describe(receiver, offer), 10_000, 'raw channel: answer')
    const sendMs = await within(
      sender.evaluate(
        async ({ answer, total, size, high, low }) => {
          const raw = window.__raw!
          const ch = raw.channel!
          await raw.pc.setRemoteDescription({ type: 'answer', sdp: answer })
          if (ch.readyState !== 'open')
            await new Promise<void>((resolve, reject) => {
              ch.onopen = () => resolve()
              ch.onclose = () => reject(new Error('the raw data channel closed'))
            })
          const chunk = new Uint8Array(size)
          crypto.getRandomValues(chunk)
          ch.bufferedAmountLowThreshold = low
          const t0 = performance.now()
          for (let sent = 0; sent < total; sent += size) {
            if (ch.bufferedAmount > high)
              await new Promise<void>((resolve) => {
                ch.onbufferedamountlow = () => resolve()
              })
            ch.send(chunk)
          }
          return performance.now() - t0
        },
        {
          answer,
          total: RAW_BYTES,
          size: RAW_MESSAGE,
          high: RAW_HIGH_WATER,
          low: RAW_LOW_WATER,
        },
      ),
      30_000,
      'raw channel: sending',
    )
    const got = await within(
      receiver.evaluate(async () => window.__raw!.received!),
      30_000,
      'raw channel: receiving',
    )
    const ms = got.last - got.first
    return {
      mbps: (got.bytes - got.firstBytes) / 1e6 / (ms / 1000),
      ms,
      bytes: got.bytes,
      messageBytes: RAW_MESSAGE,
      sendMs,
    }
  } finally {
    const close = (p: Page): Promise<void> =>
      p
        .evaluate(() => {
          window.__raw?.channel?.close()
          window.__raw?.pc.close()
          delete window.__raw
        })
        .catch(() => undefined)
    await Promise.all([close(sender), close(receiver)])
  }
}
