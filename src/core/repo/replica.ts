/**
 * A document's replica and signatures as the disk holds them. A damaged chunk must not take the
 * others down: if the document does not load as a whole, what loads is loaded chunk by chunk and
 * the rest is reported.
 */
import { am, automergeReady, type AutomergeDoc } from '../automerge'
import { describeError } from '../errors'
import { createLogger } from '../log'
import type { DocStore } from '../storage/doc-store'
import { decodeSigRecords, SigStore } from './sigs'

const log = createLogger('repo')

export async function loadReplica(store: DocStore): Promise<{ doc: AutomergeDoc; sigs: SigStore }> {
  const id = store.docId
  // governed: every change's signature; free: the writer's over heads, if it has a write key
  const sigs = new SigStore()
  const [loaded, records] = await Promise.all([store.load(), store.loadSigs(), automergeReady()])
  sigs.add(decodeSigRecords(records))
  if (loaded === undefined) return { doc: am().create(), sigs }
  let doc: AutomergeDoc
  try {
    doc = am().load(loaded.bytes)
  } catch (e) {
    log.error(
      `document ${id} did not load as a whole (${describeError(e)}); loading chunk by chunk`,
    )
    doc = am().create()
    for (const c of loaded.chunks) {
      try {
        doc.loadIncremental(c)
      } catch (e2) {
        log.error(`skipping a damaged chunk of ${id}: ${describeError(e2)}`)
      }
    }
  }
  doc.saveIncremental() // everything loaded is already stored
  return { doc, sigs }
}
