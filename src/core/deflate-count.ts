/**
 * The length of raw DEFLATE data once inflated, found without inflating it.
 *
 * How long DEFLATE output is depends only on the symbols: a literal adds one byte, a match adds its
 * length, whatever bytes the match copies. So this decodes the symbols (after Mark Adler's `puff`)
 * and never writes a byte: no window, no output buffers, nothing for the garbage collector. A bomb
 * of 258-byte matches counts at a few bits per 258 bytes, so counting to a 64 MiB cap costs
 * milliseconds and a few kilobytes, where a real inflater (the platform's `DecompressionStream`)
 * makes the whole 64 MiB as garbage, and a stream of bombs outran the collector by half a
 * gigabyte (issue 12's attacks bench).
 *
 * It checks what an inflater checks (block types, Huffman code completeness, length and distance
 * symbols, distances within the output so far, stored lengths), so data it accepts inflates to
 * exactly the length it counts. Counting is synchronous in slices: `countInflated` yields to the
 * event loop every `SLICE_SYMBOLS` symbols so that a large honest document does not stall a tab.
 */

/** Decoded symbols between yields to the event loop. */
const SLICE_SYMBOLS = 1 << 16
const MAX_BITS = 15

const LENGTH_BASE = [
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258,
]
const LENGTH_EXTRA = [
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
]
const DIST_BASE = [
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
]
const DIST_EXTRA = [
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
]
/** The order code-length code lengths come in (RFC 1951, 3.2.7). */
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

class Malformed extends Error {}

/** A canonical Huffman code: how many codes of each length, and the symbols in code order. */
interface Huffman {
  count: Uint16Array
  symbol: Uint16Array
}

/**
 * Builds a code from code lengths. Returns how many codes are left unused: negative for an
 * over-subscribed (invalid) set, positive for an incomplete one, 0 for a complete one.
 */
function build(h: Huffman, lengths: Uint8Array, from: number, n: number): number {
  h.count.fill(0)
  for (let s = 0; s < n; s++) h.count[lengths[from + s] as number]!++
  if (h.count[0] === n) return 0 // no codes: complete, and a decode fails
  let left = 1
  for (let len = 1; len <= MAX_BITS; len++) {
    left = left * 2 - (h.count[len] as number)
    if (left < 0) return left
  }
  const offs = new Uint16Array(MAX_BITS + 1)
  for (let len = 1; len < MAX_BITS; len++)
    offs[len + 1] = (offs[len] as number) + (h.count[len] as number)
  for (let s = 0; s < n; s++) {
    const len = lengths[from + s] as number
    if (len !== 0) h.symbol[offs[len]!++] = s
  }
  return left
}

const newHuffman = (symbols: number): Huffman => ({
  count: new Uint16Array(MAX_BITS + 1),
  symbol: new Uint16Array(symbols),
})

/** The fixed codes of block type 1. */
const FIXED = ((): { lengths: Huffman; distances: Huffman } => {
  const l = new Uint8Array(288)
  l.fill(8, 0, 144)
  l.fill(9, 144, 256)
  l.fill(7, 256, 280)
  l.fill(8, 280, 288)
  const lengths = newHuffman(288)
  build(lengths, l, 0, 288)
  const distances = newHuffman(30)
  build(distances, new Uint8Array(30).fill(5), 0, 30)
  return { lengths, distances }
})()

class Counter {
  private at = 0
  private bitBuf = 0
  private bitCount = 0
  /** bytes of output so far */
  out = 0
  /** symbols decoded since the last yield, across blocks (a block may hold only a few) */
  private sliced = 0
  private readonly lengthCode = newHuffman(288)
  private readonly distCode = newHuffman(30)
  private readonly codeLengthCode = newHuffman(19)
  private readonly codeLengths = new Uint8Array(286 + 30)

  constructor(private readonly data: Uint8Array) {}

  private bits(need: number): number {
    let buf = this.bitBuf
    while (this.bitCount < need) {
      if (this.at >= this.data.length) throw new Malformed('cut short')
      buf |= (this.data[this.at++] as number) << this.bitCount
      this.bitCount += 8
    }
    this.bitBuf = buf >>> need
    this.bitCount -= need
    return buf & ((1 << need) - 1)
  }

  /** One symbol, a bit at a time (canonical codes are read most significant bit first). */
  private decode(h: Huffman): number {
    let code = 0
    let first = 0
    let index = 0
    for (let len = 1; len <= MAX_BITS; len++) {
      code |= this.bits(1)
      const count = h.count[len] as number
      if (code - count < first) return h.symbol[index + (code - first)] as number
      index += count
      first = (first + count) << 1
      code <<= 1
    }
    throw new Malformed('no such code')
  }

  private stored(): void {
    this.bitBuf = 0
    this.bitCount = 0
    if (this.at + 4 > this.data.length) throw new Malformed('cut short')
    const d = this.data
    const len = (d[this.at] as number) | ((d[this.at + 1] as number) << 8)
    const nlen = (d[this.at + 2] as number) | ((d[this.at + 3] as number) << 8)
    if (len !== (~nlen & 0xffff)) throw new Malformed('stored length does not match')
    this.at += 4
    if (this.at + len > this.data.length) throw new Malformed('cut short')
    this.at += len
    this.out += len
  }

  private dynamic(): void {
    const nlen = this.bits(5) + 257
    const ndist = this.bits(5) + 1
    const ncode = this.bits(4) + 4
    if (nlen > 286 || ndist > 30) throw new Malformed('too many codes')
    const lengths = this.codeLengths
    lengths.fill(0, 0, 19)
    for (let i = 0; i < ncode; i++) lengths[CODE_LENGTH_ORDER[i] as number] = this.bits(3)
    const codeLengthCode = this.codeLengthCode
    if (build(codeLengthCode, lengths, 0, 19) !== 0) throw new Malformed('bad code lengths code')
    let index = 0
    while (index < nlen + ndist) {
      this.sliced++
      let symbol = this.decode(codeLengthCode)
      if (symbol < 16) {
        lengths[index++] = symbol
        continue
      }
      let len = 0
      if (symbol === 16) {
        if (index === 0) throw new Malformed('repeat with no length')
        len = lengths[index - 1] as number
        symbol = 3 + this.bits(2)
      } else if (symbol === 17) symbol = 3 + this.bits(3)
      else symbol = 11 + this.bits(7)
      if (index + symbol > nlen + ndist) throw new Malformed('too many lengths')
      while (symbol-- > 0) lengths[index++] = len
    }
    if (lengths[256] === 0) throw new Malformed('no end-of-block code')
    const l = build(this.lengthCode, lengths, 0, nlen)
    if (l < 0 || (l > 0 && nlen !== this.lengthCode.count[0]! + this.lengthCode.count[1]!))
      throw new Malformed('incomplete literal/length code')
    const d = build(this.distCode, lengths, nlen, ndist)
    if (d < 0 || (d > 0 && ndist !== this.distCode.count[0]! + this.distCode.count[1]!))
      throw new Malformed('incomplete distance code')
  }

  /** Decodes symbols of the current block; true at its end, false when a slice is used up. */
  private symbols(lengths: Huffman, distances: Huffman, budget: number): boolean {
    for (; this.sliced < SLICE_SYMBOLS; this.sliced++) {
      let symbol = this.decode(lengths)
      if (symbol < 256) {
        if (++this.out > budget) return true
        continue
      }
      if (symbol === 256) return true
      symbol -= 257
      if (symbol >= 29) throw new Malformed('invalid length symbol')
      const len = (LENGTH_BASE[symbol] as number) + this.bits(LENGTH_EXTRA[symbol] as number)
      symbol = this.decode(distances)
      if (symbol >= 30) throw new Malformed('invalid distance symbol')
      const dist = (DIST_BASE[symbol] as number) + this.bits(DIST_EXTRA[symbol] as number)
      if (dist > this.out) throw new Malformed('distance too far back')
      this.out += len
      if (this.out > budget) return true
    }
    return false
  }

  /**
   * Counts, a slice at a time: yields after each slice of symbols and returns once the data ends
   * or the count passes `budget`.
   */
  *count(budget: number): Generator<void, void> {
    let last = 0
    this.sliced = 0
    while (last === 0 && this.out <= budget) {
      last = this.bits(1)
      const type = this.bits(2)
      if (type === 0) this.stored()
      else if (type === 3) throw new Malformed('invalid block type')
      else {
        const fixed = type === 1
        if (!fixed) this.dynamic()
        const lengths = fixed ? FIXED.lengths : this.lengthCode
        const distances = fixed ? FIXED.distances : this.distCode
        while (!this.symbols(lengths, distances, budget)) {
          yield
          this.sliced = 0
        }
      }
      if (this.sliced >= SLICE_SYMBOLS) {
        yield
        this.sliced = 0
      }
    }
  }
}

const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

/**
 * The bytes raw DEFLATE `data` inflates to, counting no further than just past `budget` (a
 * result above `budget` only says "more"). Undefined when the data is not valid raw DEFLATE.
 */
export async function countInflated(data: Uint8Array, budget: number): Promise<number | undefined> {
  const counter = new Counter(data)
  try {
    const steps = counter.count(budget)
    while (steps.next().done !== true) await nextTask()
    return counter.out
  } catch (e) {
    if (e instanceof Malformed) return undefined
    throw e
  }
}

/** The same count in one go (for tests and benches). */
export function countInflatedSync(data: Uint8Array, budget = Infinity): number | undefined {
  const counter = new Counter(data)
  try {
    const steps = counter.count(budget)
    while (steps.next().done !== true);
    return counter.out
  } catch (e) {
    if (e instanceof Malformed) return undefined
    throw e
  }
}
