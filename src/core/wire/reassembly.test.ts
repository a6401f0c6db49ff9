import { describe, expect, it } from 'vitest'
import { concatBytes } from '../bytes'
import { encodeMessage, MessageDecoder, ReassemblyBusyError } from './framing'
import { ReassemblyBudget } from './reassembly'

const KiB = 1024
const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill)

describe('ReassemblyBudget', () => {
  it('refuses past the per-peer share or the total, and takes nothing when it refuses', () => {
    const b = new ReassemblyBudget({ maxBytes: 100, maxBytesPerPeer: 60 })
    expect(b.reserve('a', 60)).toBeUndefined()
    expect(b.reserve('a', 1)).toBe('peer')
    expect(b.reserve('b', 41)).toBe('total')
    expect(b.reserve('b', 40)).toBeUndefined()
    expect(b.stats()).toEqual({ bytes: 100, peak: 100, peers: { a: 60, b: 40 } })
    b.release('a', 60)
    expect(b.stats()).toEqual({ bytes: 40, peak: 100, peers: { b: 40 } })
  })
})

describe('MessageDecoder with a reassembly account', () => {
  const split = (n: number): Uint8Array => concatBytes(encodeMessage(bytes(n), 1024))

  it('reserves parts as they come and releases them when the message is whole', () => {
    const budget = new ReassemblyBudget({ maxBytes: 10 * KiB, maxBytesPerPeer: 10 * KiB })
    const d = new MessageDecoder({
      maxFrame: 1024,
      maxMessage: 10 * KiB,
      reassembly: budget.account('p'),
    })
    const stream = split(5 * KiB)
    const half = d.push(stream.subarray(0, 3000))
    expect(half.ok && half.value.length).toBe(0)
    expect(budget.stats().bytes).toBeGreaterThan(1900) // two whole frames of parts
    expect(d.pending?.total).toBe(5 * KiB)
    const rest = d.push(stream.subarray(3000))
    expect(rest.ok && rest.value[0]?.length).toBe(5 * KiB)
    expect(budget.stats().bytes).toBe(0)
    expect(d.pending).toBeUndefined()
  })

  it('fails the stream when the budget refuses a part, and releases what it held', () => {
    const budget = new ReassemblyBudget({ maxBytes: 3 * KiB, maxBytesPerPeer: 10 * KiB })
    const d = new MessageDecoder({
      maxFrame: 1024,
      maxMessage: 10 * KiB,
      reassembly: budget.account('p'),
    })
    const got = d.push(split(5 * KiB))
    expect(got.ok).toBe(false)
    if (!got.ok) expect(got.error).toBeInstanceOf(ReassemblyBusyError)
    expect(budget.stats().bytes).toBe(0)
  })

  it("a peer's own share refused is its fault (not a busy error)", () => {
    const budget = new ReassemblyBudget({ maxBytes: 100 * KiB, maxBytesPerPeer: 3 * KiB })
    const d = new MessageDecoder({
      maxFrame: 1024,
      maxMessage: 10 * KiB,
      reassembly: budget.account('p'),
    })
    const got = d.push(split(5 * KiB))
    expect(!got.ok && got.error.code).toBe('MESSAGE_TOO_LARGE')
    expect(!got.ok && got.error instanceof ReassemblyBusyError).toBe(false)
  })

  it('releases a partial message when failed from outside (a deadline)', () => {
    const budget = new ReassemblyBudget({ maxBytes: 10 * KiB, maxBytesPerPeer: 10 * KiB })
    const d = new MessageDecoder({
      maxFrame: 1024,
      maxMessage: 10 * KiB,
      reassembly: budget.account('p'),
    })
    d.push(split(5 * KiB).subarray(0, 3000))
    expect(budget.stats().bytes).toBeGreaterThan(0)
    d.end()
    expect(budget.stats().bytes).toBe(0)
  })
})

describe('MessageDecoder.setMaxMessage', () => {
  it('applies to the frames after the message that raised it, even in the same chunk', () => {
    // a HELLO and a large message in one chunk: the limit is raised between them
    const d = new MessageDecoder({ maxFrame: 1024, maxMessage: 100 })
    d.append(
      concatBytes([...encodeMessage(bytes(50), 1024), ...encodeMessage(bytes(5000, 2), 1024)]),
    )
    const hello = d.next()
    expect(hello.ok && hello.value?.length).toBe(50)
    d.setMaxMessage(10_000)
    const big = d.next()
    expect(big.ok && big.value?.length).toBe(5000)
  })

  it('refuses a large message before the limit is raised', () => {
    const d = new MessageDecoder({ maxFrame: 1024, maxMessage: 100 })
    const got = d.push(concatBytes(encodeMessage(bytes(5000), 1024)))
    expect(!got.ok && got.error.code).toBe('MESSAGE_TOO_LARGE')
  })
})
