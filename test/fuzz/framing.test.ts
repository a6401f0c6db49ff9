/**
 * Fuzzing the framing decoder (wire/framing.ts) the way a stream feeds it: a byte stream of
 * frames, cut into chunks at arbitrary places, then the end of the stream. Small limits make
 * split messages (flags 1 and 2) and the limits themselves cheap to reach.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memory } from '@libp2p/memory'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { createLibp2p, type Libp2p } from 'libp2p'
import fc from 'fast-check'
import { concatBytes } from '../../src/core/bytes'
import { err, ok, type ProtocolError, type Result } from '../../src/core/errors'
import { createLogger } from '../../src/core/log'
import { FramedStream } from '../../src/core/wire/framed-stream'
import { encodeMessage, MessageDecoder, type FramingLimits } from '../../src/core/wire/framing'
import { fuzz, inputArb, SEED } from './harness'

const LIMITS: FramingLimits = { maxFrame: 64, maxMessage: 300 }
const bytes = (n: number, seed: number): Uint8Array =>
  Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)
const streamOf = (msgs: Uint8Array[]): Uint8Array =>
  concatBytes(msgs.flatMap((m) => encodeMessage(m, LIMITS.maxFrame)))

const pool = [
  streamOf([bytes(1, 1), bytes(20, 2)]),
  streamOf([bytes(200, 3)]), // split into parts
  streamOf([bytes(5, 4), bytes(120, 5), bytes(37, 6)]),
  streamOf([bytes(300, 7)]), // exactly the message limit
]

/** Feeds `input` in chunks (sizes from `cuts`), then ends the stream. */
function decodeStream(
  input: Uint8Array,
  cuts: readonly number[],
): Result<Uint8Array[], ProtocolError> {
  const d = new MessageDecoder(LIMITS)
  const out: Uint8Array[] = []
  let at = 0
  for (let i = 0; at < input.length; i++) {
    const n = 1 + ((cuts[i % Math.max(1, cuts.length)] ?? input.length) % 48)
    const got = d.push(input.subarray(at, at + n))
    at += n
    if (!got.ok) {
      // once failed, the decoder stays failed
      const again = d.push(new Uint8Array([0]))
      if (again.ok || again.error !== got.error) throw new Error('decoder recovered after an error')
      return got
    }
    out.push(...got.value)
  }
  const end = d.end()
  return end.ok ? ok(out) : err(end.error)
}

describe('fuzz: framing', () => {
  it('answers every byte stream with messages within the limits or a typed error', async () => {
    const report = await fuzz({
      name: 'framing',
      pool,
      // chunk boundaries from the input's own bytes: deterministic, and all over the place
      run: (input) => decodeStream(input, [input.length, input[0] ?? 1, input.at(-1) ?? 7]),
      check: (input, out) => {
        if (!out.ok) return
        let total = 0
        for (const m of out.value) {
          expect(m.length).toBeLessThanOrEqual(LIMITS.maxMessage)
          total += m.length
        }
        expect(total).toBeLessThanOrEqual(input.length)
      },
    })
    expect(report.outcomes.ok).toBeGreaterThan(0)
    expect(report.outcomes.MALFORMED_MESSAGE).toBeGreaterThan(0)
    expect(report.outcomes.MESSAGE_TOO_LARGE).toBeGreaterThan(0)
  })

  it('gives back exactly the messages sent, however the stream is cut (2,000 streams)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: LIMITS.maxMessage }), { maxLength: 5 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        (msgs, cuts) => {
          const got = decodeStream(streamOf(msgs), cuts)
          expect(got).toEqual(ok(msgs))
        },
      ),
      { seed: SEED, numRuns: 2000 },
    )
  })
})

// ---- the same inputs through a real libp2p stream into FramedStream --------------------------

/** the stream handshakes take the time here, not the decoding: a few dozen streams */
const PROTOCOL = '/orrery/fuzz-framing/1.0.0'
const STREAM_INPUTS = 30

interface StreamResult {
  messages: Uint8Array[]
  error: string | undefined
}

describe('fuzz: framing over a real stream', () => {
  let nodes: Libp2p[] = []
  const results: ((r: StreamResult) => void)[] = []

  beforeAll(async () => {
    const make = (): Promise<Libp2p> =>
      createLibp2p({
        addresses: { listen: [`/memory/fuzz-framing-${Math.random().toString(36).slice(2)}`] },
        transports: [memory()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
      })
    nodes = [await make(), await make()]
    const log = createLogger('fuzz-framing')
    await (nodes[1] as Libp2p).handle(PROTOCOL, async (stream) => {
      const framed = new FramedStream(stream, LIMITS, log)
      const messages: Uint8Array[] = []
      const error = await framed.read((m) => {
        messages.push(m)
      })
      await framed.close()
      results.shift()?.({ messages, error: error?.code })
    })
  })

  afterAll(async () => {
    for (const n of nodes) await n.stop()
  })

  it(`reads what the decoder reads, and aborts on what it refuses (${STREAM_INPUTS} streams)`, async () => {
    const [a, b] = nodes as [Libp2p, Libp2p]
    const inputs = fc.sample(inputArb(pool), { seed: SEED, numRuns: STREAM_INPUTS })
    const codes: Record<string, number> = {}
    for (const input of inputs) {
      const direct = decodeStream(input, [input.length])
      const got = new Promise<StreamResult>((resolve) => results.push(resolve))
      const stream = await a.dialProtocol(b.getMultiaddrs(), PROTOCOL)
      // in pieces of up to 16 bytes: the receiver sees whatever chunks the transport makes
      for (let at = 0; at < input.length; at += 16) stream.send(input.subarray(at, at + 16))
      await stream.close().catch(() => undefined) // refused streams are aborted by the reader
      const r = await got
      const code = direct.ok ? 'ok' : direct.error.code
      codes[code] = (codes[code] ?? 0) + 1
      expect(r.error ?? 'ok').toBe(code)
      if (direct.ok) expect(r.messages).toEqual(direct.value)
    }
    console.log(`fuzz framing over streams: ${STREAM_INPUTS} streams, ${JSON.stringify(codes)}`)
    expect(Object.keys(codes).length).toBeGreaterThan(1)
  }, 120_000) // little CPU, but a stream's round trips wait on a busy machine's event loop
})
