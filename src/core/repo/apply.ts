/**
 * Putting chunks that came from peers into a replica: change chunks one by one (a bad one is
 * found, not silently dropped with everything after it), whole documents as they are.
 */
import { am, type AutomergeDoc } from '../automerge'
import { DOCUMENT_CHUNK, splitChunks } from '../chunks'
import { describeError } from '../errors'
import { createLogger } from '../log'

const log = createLogger('doc')

/**
 * Applies chunks from peers. Change chunks go through `applyChanges`, which throws on a bad one:
 * `loadIncremental` over a concatenation silently drops everything after (and with) a chunk it
 * cannot parse, which would let one peer's nonsense discard another peer's good changes.
 * Returns what went wrong, or undefined when everything applied.
 */
export function loadChanges(
  doc: AutomergeDoc,
  entries: readonly Uint8Array[],
): { error: unknown } | undefined {
  try {
    const changes: Uint8Array[] = []
    for (const entry of entries) {
      const chunks = splitChunks(entry, false)
      if (!chunks.ok) throw chunks.error
      for (const c of chunks.value) {
        if (c[8] === DOCUMENT_CHUNK)
          doc.loadIncremental(c) // a whole document (initial sync)
        else changes.push(c)
      }
    }
    if (changes.length > 0) doc.applyChanges(changes)
    return undefined
  } catch (e) {
    log.warn(`changes did not load: ${describeError(e)}`)
    return { error: e }
  }
}

/**
 * A first sync into an empty document usually brings the whole document as one chunk: loading
 * it as a new document and keeping that chunk as the stored snapshot avoids re-encoding a
 * megabyte (`saveIncremental`) and storing it uncompressed. Returns undefined when the entries
 * are not one whole document (plus changes) or it does not load: then the normal path runs.
 */
export function loadWholeDocument(
  entries: readonly Uint8Array[],
): { doc: AutomergeDoc; snapshot: Uint8Array } | undefined {
  const docs: Uint8Array[] = []
  const changes: Uint8Array[] = []
  for (const entry of entries) {
    const chunks = splitChunks(entry, false)
    if (!chunks.ok) return undefined
    for (const c of chunks.value) (c[8] === DOCUMENT_CHUNK ? docs : changes).push(c)
  }
  if (docs.length !== 1) return undefined
  const snapshot = (docs[0] as Uint8Array).slice()
  let fresh: AutomergeDoc | undefined
  try {
    fresh = am().load(snapshot)
    if (changes.length > 0) fresh.applyChanges(changes)
  } catch (e) {
    fresh?.free()
    log.warn(`a whole document from a peer did not load: ${describeError(e)}`)
    return undefined
  }
  fresh.updateDiffCursor()
  fresh.saveIncremental() // moves the save cursor; the snapshot already holds all of it
  return { doc: fresh, snapshot }
}
