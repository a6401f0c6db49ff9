/**
 * Signed writes (issue 4): W1 and W2 on a document that belongs to a space, so every change is
 * signed by its author and verified by the other peer before it is applied.
 *
 *   S1  W1's 200 ping/pong rounds on a space document (A admin, B a writer by invite)
 *   S2  W2's 5,000 sequential sets on a space document, until B has them all
 *
 * Both run on the same two browsers and relay as W1/W2 of the same run, right after them, so the
 * ratio S2 / W2 compares like with like.
 */
import { within, type BenchPeer, type Lab } from './lab'
import { burst, roundTrip, warmUp, type DocMaker, type W1Result, type W2Result } from './workloads'

export interface S1Result extends W1Result {
  /** the same run's W1 p50 (ms) and p50 / that; undefined when W1 did not run or failed */
  unsignedP50?: number
  ratio?: number
}

export interface S2Result extends W2Result {
  /** the same run's W2 total (ms) and totalMs / that; undefined when W2 did not run or failed */
  unsignedMs?: number
  ratio?: number
  /** changes A signed during the burst (the burst's sets are committed in few changes) */
  signedChanges: number
}

/** The spaces and documents the run made; the next workload closes them first. */
export interface Opened {
  docs: string[]
}

/**
 * A space of A's with a new document in it; B (already up) joins as a writer through an invite
 * link, opens the document, and each peer sees the other's signed warm-up write.
 */
const spaceDoc: DocMaker = async (lab, a, b) => {
  const { space, doc, link } = await a.page.evaluate(async () => {
    const space = await window.orrery.spaces.create('bench')
    const doc = await window.orrery.spaces.createDoc(space)
    const link = await window.orrery.spaces.invite(space, 'writer')
    return { space, doc, link }
  })
  if (b.page.url() === 'about:blank') await lab.goto(b, '/')
  await within(
    b.page.evaluate((l) => window.orrery.spaces.join(l, 'bench B'), link),
    30_000,
    'B joins the space',
  )
  // B opens it through the API, as before the shell view existed: S1/S2 compare with bare W1/W2
  await warmUp(lab, a, b, doc, { shell: false, nested: false })
  // both sides must treat the document as governed, B as a writer: or nothing would be signed
  const seen = await Promise.all(
    [a, b].map((p) =>
      p.page.evaluate(
        async (d) => ({
          space: await window.orrery.spaces.of(d),
          role: window.orrery.spaces.role(d),
        }),
        doc,
      ),
    ),
  )
  if (
    seen.some((s) => s.space !== space) ||
    seen[0]?.role !== 'admin' ||
    seen[1]?.role !== 'writer'
  )
    throw new Error(`the document is not governed as expected: ${JSON.stringify(seen)}`)
  return doc
}

/** Closes the documents earlier workloads left open on A and B, so each starts alike. */
export async function closeDocs(peers: BenchPeer[], opened: Opened): Promise<void> {
  const docs = opened.docs.splice(0)
  for (const p of peers)
    await p.page.evaluate(async (ds) => {
      for (const d of ds) await window.orrery.docs.close(d)
    }, docs)
}

/** A DocMaker that remembers the document it made in `opened`. */
export const remembered =
  (opened: Opened, make: DocMaker): DocMaker =>
  async (lab, a, b) => {
    const doc = await make(lab, a, b)
    opened.docs.push(doc)
    return doc
  }

export async function signedRoundTrip(
  lab: Lab,
  a: BenchPeer,
  b: BenchPeer,
  opened: Opened,
  unsignedP50: number | undefined,
): Promise<S1Result> {
  const w = await roundTrip(lab, a, b, remembered(opened, spaceDoc))
  return { ...w, ...(unsignedP50 === undefined ? {} : { unsignedP50, ratio: w.p50 / unsignedP50 }) }
}

/** A's signed changes in `doc`: the highest sequence number of each of A's actors, summed. */
async function signedBy(a: BenchPeer, doc: string): Promise<number> {
  return a.page.evaluate(async (d) => {
    const me = await window.orrery.identity.id()
    const h = window.orrery.internals?.peer.repo.get(d)
    if (h === undefined) throw new Error(`document ${d} is not open on A`)
    return Object.values(h.actorsOf(me)).reduce((n, seq) => n + seq, 0)
  }, doc)
}

export async function signedBurst(
  lab: Lab,
  a: BenchPeer,
  b: BenchPeer,
  opened: Opened,
  unsignedMs: number | undefined,
): Promise<S2Result> {
  let doc = ''
  let before = 0
  const make = remembered(opened, async (lab, a, b) => {
    doc = await spaceDoc(lab, a, b)
    before = await signedBy(a, doc)
    return doc
  })
  const w = await burst(lab, a, b, make)
  const signedChanges = (await signedBy(a, doc)) - before
  return {
    ...w,
    signedChanges,
    ...(unsignedMs === undefined ? {} : { unsignedMs, ratio: w.totalMs / unsignedMs }),
  }
}
