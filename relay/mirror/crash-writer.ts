/**
 * The writer store.test.ts kills: opens a MirrorStore in the directory given and puts envelopes
 * of one document from two uploaders in a tight loop (32 puts in flight), until it is killed.
 * It prints `tag:<docTag hex>` first, then `index:seq:length` for every put acknowledged: each
 * line is written only once its put resolved, so every line names an envelope that must survive
 * the kill (stdout is a pipe, written synchronously on Linux). Given a count, it kills itself
 * (SIGKILL) in the callback that prints that many acknowledgements.
 *
 *   node --import tsx relay/mirror/crash-writer.ts <dir> [count]
 */
import { generateIdentity } from '../../src/core/identity'
import { newDocId } from '../../src/core/ids'
import { randomKey } from '../../src/core/keys/aead'
import { mirrorDocTag, sealEnvelope } from '../../src/core/mirror/envelope'
import { MirrorStore } from './store'

const dir = process.argv[2]
if (dir === undefined) throw new Error('usage: crash-writer.ts <dir> [count]')
const killAfter = process.argv[3] === undefined ? Infinity : Number(process.argv[3])
let acked = 0

const store = await MirrorStore.open(dir, { openLogs: true })
const docId = newDocId()
const readKey = randomKey()
const uploaders = [generateIdentity(), generateIdentity()]
const seqs = [0, 0]
process.stdout.write(`tag:${Buffer.from(mirrorDocTag(docId, readKey)).toString('hex')}\n`)

async function worker(w: number): Promise<never> {
  const u = w % uploaders.length
  for (;;) {
    // the seq is taken and the put made in one synchronous step: puts arrive in seq order
    const seq = ++(seqs[u] as number)
    const envelope = sealEnvelope({
      docId,
      readKey,
      epoch: 0,
      uploader: uploaders[u] as (typeof uploaders)[number],
      seq,
      changes: [{ change: new Uint8Array(1 + ((seq * 37) % 3000)).fill(seq % 251) }],
    })
    const r = await store.put(envelope)
    if (!r.ok) throw r.error
    process.stdout.write(`${r.value.index}:${seq}:${envelope.length}\n`)
    if (++acked >= killAfter) process.kill(process.pid, 'SIGKILL')
  }
}

await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)))
