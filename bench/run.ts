/**
 * `npm run bench [-- --runs N] [-- --only W1,W3] [-- --bare] [-- --nested]`: two or three headless
 * peers (each its own Chromium process) and the real relay, driven through window.orrery. Every run
 * starts a fresh relay (fresh data directory) and fresh browsers. By default every peer shows the
 * document in the shell (`#/doc/<id>`), as a person would: the headline, in bench/results.json.
 * `--bare`: the pages stay on the home view and open documents through the API only
 * (results-bare.json); `--nested`: W3/W4's keys live in one nested map, `/<doc>/big`, as apps keep
 * them (results-nested.json, results-bare-nested.json); `--no-mirror`: W1-W4 on a relay without
 * its mirror (ORRERY_MIRROR=0: the tabs upload nothing; results-nomirror.json), the baseline of
 * "W1/W2 within 5% of their numbers with the mirror off".
 *
 *   W1 round trip  A sets ping = i, B answers pong = i, 200 rounds (p50 / p95 / max)
 *   W2 burst       A makes 5,000 sequential sets; until B has seen them all (ms, changes/s)
 *   W3 cold join   a fresh peer C opens A's 10,000-key (~1 MB) document (navigation start ->
 *                  all keys present)
 *   W4 reload      C reloads (navigation start -> all keys present again, from IndexedDB)
 *   M3 mirror only A's document once the relay's mirror holds it, A and C closed: a fresh peer
 *                  D opens its link (navigation start -> all keys present; nobody online but
 *                  the relay)
 *   M3S            as M3, a document of 10 keys (made at A before it closed)
 *
 * and the apps workloads (bench/apps.ts; their own lab, whose relay seeds a synthetic 1 MiB app,
 * three providers P1..P3 and a fetcher C, each its own Chromium process):
 *
 *   A1   C fetches every block of the app from P1 (ms, MB/s, / raw)
 *   A3   C fetches every block from P1, P2 and P3 at once (ms, MB/s, / raw; target >= 0.70)
 *   ARAW a plain RTCDataChannel between C and P1: 4 MiB in 16 KiB messages (MB/s)
 *   AAPP relay seeding off; a fresh peer opens /#/app/<cid> (navigation start -> the app's
 *        element mounted) with 3 providers online, then with 1
 *
 * and the signed-writes and PWA workloads (issues 4 and 5; bench/signed.ts, newcomer.ts, pwa.ts):
 *
 *   S1   W1 on a space's document (every change signed and verified), on W1's browsers, after it
 *   S2   W2 on a space's document; its ratio to W2 of the same run (target <= 1.15)
 *   N1   a fresh peer opens a microblog invite link: navigation start -> sign-up (automated at
 *        once) -> app ready (<microblog-app> mounted, the community shown, role writer)
 *   P1   a returning user's browser starts on its profile, online: navigation start -> the
 *        shell's document list complete (then the same after a reload)
 *   P2   the same offline (relay stopped, context offline)
 *   P3   A makes 1,000 edits offline; reconnection -> B has them all, -> A reports all synced
 *
 * and the dial workload (issue 10; bench/dial.ts, its own lab: two Chromium processes, a fresh
 * context in each per pair):
 *
 *   DIAL 100 fresh pairs (--pairs N): a member creates a document, a newcomer opens its link;
 *        the dial (first discovery dial -> direct WebRTC connection open) and link -> direct
 *        connection (the newcomer's navigation start -> the same), p50 / p95 / max, dials over
 *        2 s; the slow dials' RTCPeerConnection traces are printed
 *
 * All of them are part of the default run: the new ones add under a minute per run (a whole
 * default run took ~75 s here, so --runs 3 stays around 4 minutes). Since W1 and W2 share their
 * browsers with S1 and S2, each of the four starts with the others' documents closed. The PWA
 * group gives the lo-only namespace a veth pair while it runs (netns.ts: without one Chromium
 * sees no network at all, and P3 needs the 'online' event).
 *
 * Prints a table of medians and writes bench/results.json. See scripts/bench.sh.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeBenchApp, seedApp, type BenchApp } from './app-bundle'
import { appsRun } from './apps-run'
import { describeSlow, DIAL_PAIRS, dialPairs } from './dial'
import { closeLabsOnSignals, interrupted, Lab, type BenchPeer } from './lab'
import { measurer, type Measure } from './measure'
import { addOnlineInterface } from './netns'
import { community, microblogCid, newcomer } from './newcomer'
import { coldStart, offlineEdits, returningUser } from './pwa'
import {
  APP_WORKLOADS,
  emptyResults,
  table,
  WORKLOADS,
  writeResults,
  type Results,
  type Workload,
} from './report'
import { closeDocs, remembered, signedBurst, signedRoundTrip, type Opened } from './signed'
import {
  bigDoc,
  burst,
  coldJoin,
  reload,
  roundTrip,
  SMALL_KEYS,
  smallDoc,
  syncedDoc,
  type DocView,
  type LoadResult,
} from './workloads'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

interface Args {
  runs: number
  only: Workload[]
  pairs: number
  view: DocView
  mirror: boolean
}

function parseArgs(argv: string[]): Args {
  let runs = 3
  let pairs = DIAL_PAIRS
  let only: Workload[] = [...WORKLOADS]
  const view: DocView = { shell: true, nested: false }
  let mirror = true
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2)
    const value = (): string => inline ?? argv[++i] ?? ''
    if (flag === '--runs') runs = Number(value())
    else if (flag === '--pairs') pairs = Number(value())
    else if (flag === '--bare') view.shell = false
    else if (flag === '--nested') view.nested = true
    else if (flag === '--no-mirror') mirror = false
    else if (flag === '--only') {
      const names = value().toUpperCase().split(',').filter(Boolean)
      const bad = names.filter((n) => !(WORKLOADS as readonly string[]).includes(n))
      if (bad.length > 0 || names.length === 0) usage(`unknown workload(s): ${bad.join(', ')}`)
      only = WORKLOADS.filter((w) => names.includes(w))
    } else usage(`unknown argument ${argv[i]}`)
  }
  if (!Number.isInteger(runs) || runs < 1) usage('--runs needs a positive integer')
  if (!Number.isInteger(pairs) || pairs < 1) usage('--pairs needs a positive integer')
  return { runs, only, pairs, view, mirror }
}

function usage(problem: string): never {
  console.error(
    `${problem}\nusage: npm run bench -- [--runs N] [--only ${WORKLOADS.join(',')}] [--pairs N]` +
      ' [--bare] [--nested] [--no-mirror]',
  )
  process.exit(2)
}

const PWA_WORKLOADS: readonly Workload[] = ['P1', 'P2', 'P3']
/** the relay's peak resident set during each run of the document workloads (MiB) */
const relayRss: number[] = []
const OWN_GROUP: readonly Workload[] = [...APP_WORKLOADS, 'N1', ...PWA_WORKLOADS, 'DIAL']

/** W1, S1, W2, S2 on one pair of browsers; each starts with the earlier ones' documents closed. */
async function pairRun(
  lab: Lab,
  a: BenchPeer,
  b: BenchPeer,
  only: Set<Workload>,
  measure: Measure,
  view: DocView,
) {
  const opened: Opened = { docs: [] }
  const plain = remembered(opened, syncedDoc(view))
  const w1 = only.has('W1') ? await measure('W1', () => roundTrip(lab, a, b, plain)) : undefined
  if (only.has('S1')) {
    await closeDocs([a, b], opened)
    await measure('S1', () => signedRoundTrip(lab, a, b, opened, w1?.p50))
  }
  await closeDocs([a, b], opened)
  const w2 = only.has('W2') ? await measure('W2', () => burst(lab, a, b, plain)) : undefined
  if (only.has('S2')) {
    await closeDocs([a, b], opened)
    await measure('S2', () => signedBurst(lab, a, b, opened, w2?.totalMs))
  }
}

/** The document workloads of one run (W1-W4, S1, S2): fresh browsers, in order. */
async function docsRun(
  lab: Lab,
  only: Set<Workload>,
  measure: Measure,
  results: Results,
  view: DocView,
) {
  const needB = (['W1', 'W2', 'S1', 'S2'] as const).some((w) => only.has(w))
  const needC = only.has('W3') || only.has('W4') || only.has('M3') || only.has('M3S')
  const [a, b] = await Promise.all([
    lab.peer('A', '/'),
    needB ? lab.peer('B') : Promise.resolve(undefined),
  ])
  const chromium = a.browser.version()
  if (b !== undefined) {
    await pairRun(lab, a, b, only, measure, view)
    await lab.closePeer(b) // not part of W3/W4
  }
  if (needC) {
    let c: BenchPeer | undefined
    let doc = ''
    const join = async (): Promise<LoadResult> => {
      doc = await bigDoc(a, view)
      c = await lab.peer('C')
      return coldJoin(lab, c, doc, view)
    }
    const w3 = await measure('W3', join, only.has('W3'))
    if (only.has('W4') && !interrupted()) {
      if (w3 === undefined || c === undefined) {
        results.W4.push({ ok: false, error: 'W3 (its set-up) failed' })
        console.log('  W4 skipped: W3 (its set-up) failed')
      } else await measure('W4', () => reload(c!, doc, view))
    }
    const mirrorOnly = (['M3', 'M3S'] as const).filter((w) => only.has(w))
    if (mirrorOnly.length > 0 && !interrupted()) {
      if (w3 === undefined || c === undefined) {
        for (const w of mirrorOnly) {
          results[w].push({ ok: false, error: 'W3 (its set-up) failed' })
          console.log(`  ${w} skipped: W3 (its set-up) failed`)
        }
      } else {
        const small = only.has('M3S') ? await smallDoc(a, view) : ''
        if (small !== '') await untilMirrored(a, small)
        await untilMirrored(a, doc)
        await lab.closePeer(c)
        await lab.closePeer(a) // every member away from here on
        if (only.has('M3'))
          await measure('M3', async () => coldJoin(lab, await lab.peer('D'), doc, view))
        if (only.has('M3S') && !interrupted())
          await measure('M3S', async () =>
            coldJoin(lab, await lab.peer('E'), small, view, SMALL_KEYS),
          )
      }
    }
  }
  relayRss.push(lab.relayRssPeakMiB)
  console.log(`  relay RSS peak ${lab.relayRssPeakMiB.toFixed(1)} MiB`)
  return chromium
}

/**
 * Until the relay's mirror acknowledged every change of `doc` that A has. (Polled from here:
 * waitForFunction takes the promise an async predicate returns for a truthy answer at once.)
 */
async function untilMirrored(a: BenchPeer, doc: string): Promise<void> {
  const end = Date.now() + 120_000
  const mirrored = (): Promise<boolean> =>
    a.page.evaluate(async (d) => (await window.orrery.docs.state(d))?.mirrored !== undefined, doc)
  while (!(await mirrored())) {
    if (Date.now() > end) throw new Error(`the mirror does not hold ${doc} after 120 s`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** N1: A starts a community in the microblog and invites; a fresh peer N opens the link. */
async function newcomerRun(lab: Lab, measure: Measure): Promise<string> {
  const a = await lab.peer('A')
  const link = await community(lab, a, microblogCid(root))
  const n = await lab.peer('N')
  await measure('N1', () => newcomer(lab, n, link))
  return a.browser.version()
}

/** P1, P2, P3 on one returning user's profile (made first, removed after). */
async function pwaRun(lab: Lab, only: Set<Workload>, measure: Measure): Promise<string> {
  const user = await returningUser(lab)
  try {
    if (only.has('P1')) await measure('P1', () => coldStart(lab, user, false))
    if (only.has('P2') && !interrupted()) await measure('P2', () => coldStart(lab, user, true))
    if (only.has('P3') && !interrupted()) await measure('P3', () => offlineEdits(lab, user))
  } finally {
    fs.rmSync(user.profile, { recursive: true, force: true })
  }
  return user.chromium
}

/** DIAL: fresh pairs on their own lab; the slow dials' traces are printed. */
async function dialRun(lab: Lab, measure: Measure, pairs: number): Promise<string> {
  const result = await measure('DIAL', () => dialPairs(lab, pairs))
  if (result !== undefined && result.slow.length > 0)
    console.log(
      `  DIAL: the dials over 1 s, both sides (ms since the dial start)\n${describeSlow(result.slow)}`,
    )
  return lab.peers[0]?.browser.version() ?? 'unknown'
}

interface Group {
  workloads: Workload[]
  start: () => Promise<Lab>
  run: (lab: Lab, measure: Measure) => Promise<string>
  /** undoes what `start` did besides the lab (after the lab is closed) */
  stop?: () => void
}

/** Runs one group of workloads on its own lab; any failure fails the group's unrecorded runs. */
async function runGroup(group: Group, run: number, results: Results): Promise<string | undefined> {
  let lab: Lab | undefined
  try {
    lab = await group.start()
    return await group.run(lab, measurer(lab, results))
  } catch (e) {
    console.log(`  run ${run} FAILED: ${e instanceof Error ? e.message : String(e)}`)
    for (const w of group.workloads)
      if (results[w].length < run) results[w].push({ ok: false, error: 'run failed' })
    return undefined
  } finally {
    const problems = interrupted() ? [] : [...new Set(lab?.log ?? [])]
    if (problems.length > 0) {
      console.log(`  page/relay errors and warnings this run (${problems.length} distinct):`)
      for (const p of problems.slice(0, 20)) console.log(`    ${p.slice(0, 400)}`)
    }
    await lab?.close()
    group.stop?.()
  }
}

/** A lab whose relay seeds `app` (its blocks in the data directory before the relay starts). */
async function seededLab(app: BenchApp): Promise<Lab> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-relay-'))
  await seedApp(app, dir)
  return Lab.start(dir).catch((e: unknown) => {
    fs.rmSync(dir, { recursive: true, force: true })
    throw e
  })
}

async function main(): Promise<void> {
  const { runs, only, pairs, view, mirror } = parseArgs(process.argv.slice(2))
  process.chdir(root)
  closeLabsOnSignals()
  const selected = new Set(only)
  const results = emptyResults()
  const groups: Group[] = []
  const docs = only.filter((w) => !OWN_GROUP.includes(w))
  if (docs.length > 0)
    groups.push({
      workloads: docs,
      start: () => Lab.start(undefined, [], mirror ? {} : { ORRERY_MIRROR: '0' }),
      run: (lab, measure) => docsRun(lab, selected, measure, results, view),
    })
  const apps = only.filter((w) => APP_WORKLOADS.includes(w))
  if (apps.length > 0) {
    const app = makeBenchApp()
    console.log(`bench app ${app.cid}: ${app.cids.length} blocks, ${app.bytes} bytes`)
    groups.push({
      workloads: apps,
      start: () => seededLab(app),
      run: (lab, measure) => appsRun(lab, selected, measure, app),
    })
  }
  if (selected.has('N1'))
    groups.push({
      workloads: ['N1'],
      start: () => Lab.start(),
      run: (lab, measure) => newcomerRun(lab, measure),
    })
  const pwa = only.filter((w) => PWA_WORKLOADS.includes(w))
  if (pwa.length > 0) {
    let removeInterface = (): void => undefined
    groups.push({
      workloads: pwa,
      start: () => {
        removeInterface = addOnlineInterface((line) => console.log(`  ${line}`))
        return Lab.start()
      },
      run: (lab, measure) => pwaRun(lab, selected, measure),
      stop: () => removeInterface(),
    })
  }
  if (selected.has('DIAL'))
    groups.push({
      workloads: ['DIAL'],
      start: () => Lab.start(),
      run: (lab, measure) => dialRun(lab, measure, pairs),
    })
  let chromium = 'unknown'
  const started = Date.now()
  for (let run = 1; run <= runs && !interrupted(); run++) {
    console.log(`run ${run}/${runs}`)
    for (const group of groups) {
      if (interrupted()) break
      chromium = (await runGroup(group, run, results)) ?? chromium
    }
  }
  if (interrupted()) return new Promise(() => undefined) // the signal handler exits
  console.log(`\n${table(results, selected)}\n`)
  // the headline (shell, keys at the root) in results.json; the other views in their own files
  const variant = `${view.shell ? '' : '-bare'}${view.nested ? '-nested' : ''}${mirror ? '' : '-nomirror'}`
  const file = path.join(root, 'bench', `results${variant}.json`)
  if (relayRss.length > 0)
    console.log(`relay RSS peak during W1-W4: ${relayRss.map((x) => x.toFixed(1)).join(' / ')} MiB`)
  writeResults(file, results, { chromium, runs, only, view, relayRssPeakMiB: relayRss })
  console.log(
    `wrote ${path.relative(root, file)} (${((Date.now() - started) / 1000).toFixed(0)} s)`,
  )
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e)
    process.exit(1)
  },
)
