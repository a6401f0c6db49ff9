/**
 * How big a whole-document chunk from the network becomes once Automerge inflates it, counted
 * before Automerge sees it. A document chunk (type 0) may hold deflated columns: Automerge deflates
 * every column of 256 bytes or more when it saves, and its sync sends a saved document on a first
 * sync. `load` inflates them all before checking anything, so a few kilobytes on the wire can
 * become a gigabyte of wasm memory (which never shrinks) and seconds of main-thread work.
 *
 * This reads the chunk's column tables itself and counts what the deflated columns inflate to
 * without inflating them (`deflate-count.ts`: the DEFLATE symbols alone give the length), stopping
 * once past the cap. Inflating them with the platform's `DecompressionStream` made every capped
 * bomb 64 MiB of garbage: a stream of them outran the collector by half a gigabyte. The caller
 * refuses a chunk past the cap and charges the firewall with the inflated size.
 *
 * Layout of a document chunk's data (Automerge's `storage/document.rs`): actors (count, then
 * length-prefixed ids), heads (count, then 32-byte hashes), change column table, op column table
 * (each: count, then (spec, length) pairs), the change columns' data, the op columns' data, head
 * indices. Bit 3 of a column spec marks the column deflated (raw DEFLATE).
 */
import { DOCUMENT_CHUNK } from './chunks'
import { countInflated } from './deflate-count'
import { err, ok, ProtocolError, type Result } from './errors'

const DEFLATE_BIT = 0x08
/**
 * Columns per table: Automerge writes about 10 change and 20 op columns. Without a limit, a
 * message of tiny deflated columns would cost one count (and one yield) per 4 bytes on the wire.
 */
export const MAX_COLUMNS = 64

interface DocumentColumns {
  /** the deflated columns' data, as on the wire */
  deflated: Uint8Array[]
  /** bytes of the chunk that are not in a deflated column */
  plain: number
}

/** Reads an unsigned LEB128 at `at`: [value, next position], or undefined if cut short. */
function uleb(b: Uint8Array, at: number): [number, number] | undefined {
  let value = 0
  let mul = 1
  for (let i = 0; i < 8 && at + i < b.length; i++) {
    const x = b[at + i] as number
    value += (x & 0x7f) * mul
    if ((x & 0x80) === 0) return [value, at + i + 1]
    mul *= 0x80
  }
  return undefined
}

/** The deflated columns of a document chunk (header included, as `splitChunks` gives it). */
export function documentColumns(chunk: Uint8Array): Result<DocumentColumns, string> {
  if (chunk[8] !== DOCUMENT_CHUNK) return err('not a document chunk')
  const end = chunk.length
  let p = uleb(chunk, 9) // the chunk's length: splitChunks checked it
  if (p === undefined) return err('bad chunk header')
  let at = p[1]
  const next = (): number | undefined => {
    p = uleb(chunk, at)
    if (p === undefined) return undefined
    at = p[1]
    return p[0]
  }
  const actors = next()
  if (actors === undefined) return err('document cut short in its actors')
  for (let i = 0; i < actors; i++) {
    const len = next()
    if (len === undefined || at + len > end) return err('document cut short in its actors')
    at += len
  }
  const heads = next()
  if (heads === undefined || at + heads * 32 > end) return err('document cut short in its heads')
  at += heads * 32
  const columns: { spec: number; len: number }[] = []
  for (let table = 0; table < 2; table++) {
    const n = next()
    if (n === undefined) return err('document cut short in its column table')
    if (n > MAX_COLUMNS) return err(`a column table of ${n} columns`)
    for (let i = 0; i < n; i++) {
      const spec = next()
      const len = spec === undefined ? undefined : next()
      if (spec === undefined || len === undefined)
        return err('document cut short in its column table')
      columns.push({ spec, len })
    }
  }
  const deflated: Uint8Array[] = []
  let deflatedBytes = 0
  for (const { spec, len } of columns) {
    if (at + len > end) return err('document cut short in its column data')
    if ((spec & DEFLATE_BIT) !== 0) {
      deflated.push(chunk.subarray(at, at + len))
      deflatedBytes += len
    }
    at += len
  }
  return ok({ deflated, plain: end - deflatedBytes })
}

/**
 * What a document chunk holds once inflated, counting no further than `cap` (a result above `cap`
 * only says "more than the cap"). An error when the chunk is malformed.
 */
export async function inflatedSize(
  chunk: Uint8Array,
  cap: number,
): Promise<Result<number, ProtocolError>> {
  const cols = documentColumns(chunk)
  if (!cols.ok) return err(new ProtocolError('MALFORMED_MESSAGE', cols.error))
  let total = cols.value.plain
  for (const data of cols.value.deflated) {
    if (total > cap) break
    const n = await countInflated(data, cap - total)
    if (n === undefined)
      return err(
        new ProtocolError('MALFORMED_MESSAGE', 'a deflated document column does not inflate'),
      )
    total += n
  }
  return ok(total)
}
