/**
 * Our framing (FramedStream, src/core/wire/framed-stream.ts) against `lpStream` from
 * @libp2p/utils, over real libp2p streams between two in-process nodes on the memory transport
 * (noise, yamux: the tests' setup, test/peers.ts). For each: (1) ping-pong latency, 2,000 round
 * trips of a 100-byte message (p50, p95 in µs); (2) throughput, 20,000 messages of 1 KiB one way,
 * acknowledged at the end (messages/s, MB/s); (3) CPU (process.cpuUsage, both ends: one process)
 * per round trip and per message; (4) the most bytes the receiver held undecoded (peak rx). After
 * a warm-up, each is run twice, alternating which goes first; a fresh stream per run. No sockets
 * (memory transport), so no network namespace is needed:
 *
 *   npx tsx bench/framing.ts
 */
import '../relay/polyfill.js'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { lpStream } from '@libp2p/utils'
import type { Libp2p, Stream } from '@libp2p/interface'
import { createLibp2p } from 'libp2p'
import { createLogger } from '../src/core/log'
import { FramedStream } from '../src/core/wire/framed-stream'
import { MAX_FRAME, type FramingLimits } from '../src/core/wire/framing'

const PINGS = 2_000
const PING_SIZE = 100
const FRAMES = 20_000
const FRAME_SIZE = 1024
const LIMITS: FramingLimits = { maxFrame: MAX_FRAME, maxMessage: 16 * 1024 * 1024 }
const log = createLogger('bench-framing')
const ACK = new Uint8Array([1])
/**
 * lpStream's read buffer. Its default (4 MiB) fails the throughput run: it takes every chunk the
 * stream emits and never pauses the stream, so yamux keeps granting window while the reader lags,
 * and at 4 MiB buffered it aborts the stream (StreamBufferError, the sender sees a reset). Raised
 * here so the run completes; the peak it reached is printed.
 */
const LP_BUFFER = 64 * 1024 * 1024

type Kind = 'framed' | 'lp'
type Mode = 'echo' | 'sink'
const proto = (kind: Kind, mode: Mode): string => `/orrery-bench/${kind}-${mode}/1`

async function node(label: string): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: [`/memory/${label}-${process.pid}-${Date.now()}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
}

/** The most bytes the sink had received but not yet decoded, in the last throughput run. */
let peakRx = 0

/** Counts a stream's bytes received; call the result with each message decoded. */
function tracked(stream: Stream): (m: Uint8Array) => void {
  let received = 0
  let consumed = 0
  peakRx = 0
  stream.addEventListener('message', (e) => void (received += e.data.byteLength))
  return (m) => {
    peakRx = Math.max(peakRx, received - consumed)
    consumed += m.byteLength + (m.byteLength < 128 ? 1 : 2)
  }
}

/** The server side of each protocol: echo every message, or count them and ack the last. */
async function serve(server: Libp2p): Promise<void> {
  for (const mode of ['echo', 'sink'] as const) {
    await server.handle(proto('framed', mode), (stream: Stream) => {
      const framed = new FramedStream(stream, LIMITS, log, { charge: () => undefined })
      const decoded = tracked(stream)
      let n = 0
      void framed
        .read((m) => {
          decoded(m)
          if (mode === 'echo') framed.send(m)
          else if (++n === FRAMES) framed.send(ACK)
        })
        .then(() => framed.close())
    })
    await server.handle(proto('lp', mode), (stream: Stream) => {
      const lp = lpStream(stream, { maxDataLength: LIMITS.maxMessage, maxBufferSize: LP_BUFFER })
      const decoded = tracked(stream)
      void (async () => {
        try {
          for (let n = 1; ; n++) {
            const m = await lp.read()
            decoded(m.subarray())
            if (mode === 'echo') await lp.write(m)
            else if (n === FRAMES) await lp.write(ACK)
          }
        } catch {
          // the client closed the stream
        }
        await stream.close().catch(() => undefined)
      })()
    })
  }
}

/** One side of a client stream: send a message (awaiting drain), and receive the next one. */
interface Client {
  send(m: Uint8Array): Promise<void>
  next(): Promise<Uint8Array>
  close(): Promise<void>
}

async function client(from: Libp2p, to: Libp2p, kind: Kind, mode: Mode): Promise<Client> {
  const stream = await from.dialProtocol(to.getMultiaddrs(), proto(kind, mode))
  if (kind === 'lp') {
    const lp = lpStream(stream, { maxDataLength: LIMITS.maxMessage })
    return {
      send: (m) => lp.write(m),
      next: async () => (await lp.read()).subarray(),
      close: () => stream.close(),
    }
  }
  const framed = new FramedStream(stream, LIMITS, log, { charge: () => undefined })
  const queued: Uint8Array[] = []
  let waiter: ((m: Uint8Array) => void) | undefined
  void framed.read((m) => {
    if (waiter === undefined) queued.push(m)
    else waiter(m)
    waiter = undefined
  })
  return {
    send: async (m) => {
      if (!framed.send(m)) await framed.drained()
    },
    next: () => {
      const m = queued.shift()
      return m !== undefined ? Promise.resolve(m) : new Promise((r) => (waiter = r))
    },
    close: () => framed.close(),
  }
}

const cpuUs = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since)
  return d.user + d.system
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN
}

/** One run of both measurements: a row of the table. */
async function measure(a: Libp2p, b: Libp2p, kind: Kind, run: number): Promise<string[]> {
  const ping = await client(a, b, kind, 'echo')
  const msg = new Uint8Array(PING_SIZE).fill(7)
  for (let i = 0; i < 100; i++) await ping.send(msg).then(() => ping.next()) // warm-up
  const rtts: number[] = []
  const cpu0 = process.cpuUsage()
  for (let i = 0; i < PINGS; i++) {
    const t = performance.now()
    await ping.send(msg)
    await ping.next()
    rtts.push((performance.now() - t) * 1000)
  }
  const cpuPerRt = cpuUs(cpu0) / PINGS
  await ping.close()
  rtts.sort((x, y) => x - y)

  const sink = await client(a, b, kind, 'sink')
  const frame = new Uint8Array(FRAME_SIZE).fill(9)
  const cpu1 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < FRAMES; i++) await sink.send(frame)
  await sink.next() // the ack: all received
  const secs = (performance.now() - t0) / 1000
  const cpuPerMsg = cpuUs(cpu1) / FRAMES
  await sink.close()
  return [
    kind === 'framed' ? 'FramedStream' : 'lpStream',
    String(run),
    percentile(rtts, 50).toFixed(0),
    percentile(rtts, 95).toFixed(0),
    cpuPerRt.toFixed(1),
    (FRAMES / secs).toFixed(0),
    ((FRAMES * FRAME_SIZE) / secs / 1e6).toFixed(1),
    cpuPerMsg.toFixed(2),
    (peakRx / 2 ** 20).toFixed(1),
  ]
}

async function main(): Promise<void> {
  const [a, b] = [await node('a'), await node('b')]
  await serve(b)
  await a.dial(b.getMultiaddrs())
  const cells: string[][] = []
  const orders: Kind[][] = [
    ['framed', 'lp'],
    ['lp', 'framed'],
  ]
  for (const kind of orders[0]!) await measure(a, b, kind, 0) // warm-up (JIT), not reported
  for (const [i, order] of orders.entries()) {
    for (const kind of order) cells.push(await measure(a, b, kind, i + 1))
  }
  await Promise.all([a.stop(), b.stop()])

  const head = 'impl|run|rtt p50 µs|rtt p95 µs|cpu µs/rt|msg/s|MB/s|cpu µs/msg|peak rx MiB'.split(
    '|',
  )
  const widths = head.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c]!.length)))
  const line = (row: string[]): string => row.map((s, c) => s.padStart(widths[c]!)).join('  ')
  console.log(`ping: ${PINGS} x ${PING_SIZE} B; throughput: ${FRAMES} x ${FRAME_SIZE} B`)
  console.log(line(head))
  for (const row of cells) console.log(line(row))
}

await main()
