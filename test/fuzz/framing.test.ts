/**
 * Fuzzing the framing decoder (wire/framing.ts) the way a stream feeds it: a byte stream of
 * frames, cut into chunks at arbitrary places, then the end of the stream. Small limits make
 * split messages (flags 1 and 2) and the limits themselves cheap to reach.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { concatBytes } from '../../src/core/bytes'
import { err, ok, type ProtocolError, type Result } from '../../src/core/errors'
import { encodeMessage, MessageDecoder, type FramingLimits } from '../../src/core/wire/framing'
import { fuzz, SEED } from './harness'

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
