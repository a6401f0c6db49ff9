/**
 * One run of the apps workloads on a lab whose relay seeds the bench app: set-up (P1..P3 install,
 * C connects to them), ARAW (also whenever A1 or A3 needs it), A1, A3, each repeated REPS times
 * (the run reports the median repetition), then AAPP once (it restarts the relay with seeding off
 * and closes peers, so it comes last).
 */
import { APP_ELEMENT, type BenchApp } from './app-bundle'
import { appLoads, fetchFrom, repeated, startApps } from './apps'
import { interrupted, type Lab } from './lab'
import type { Measure } from './measure'
import type { Workload } from './report'
import { rawThroughput } from './rtc'

/** Returns the Chromium version. */
export async function appsRun(
  lab: Lab,
  only: Set<Workload>,
  measure: Measure,
  app: BenchApp,
): Promise<string> {
  const peers = await startApps(lab, app)
  const chromium = peers.c.browser.version()
  const p1 = peers.providers[0]!
  let rawMBps = NaN
  if (only.has('A1') || only.has('A3') || only.has('ARAW')) {
    const raw = await measure(
      'ARAW',
      async () => {
        const { median, samples } = await repeated(
          () => rawThroughput(p1.page, peers.c.page),
          (v) => v.mbps,
        )
        return { ...median, samplesMBps: samples }
      },
      only.has('ARAW'),
    )
    rawMBps = raw?.mbps ?? NaN
  }
  if (only.has('A1') && !interrupted()) await measure('A1', () => fetchFrom(peers, 1, app, rawMBps))
  if (only.has('A3') && !interrupted()) await measure('A3', () => fetchFrom(peers, 3, app, rawMBps))
  if (only.has('AAPP') && !interrupted())
    await measure('AAPP', () => appLoads(lab, peers, app, APP_ELEMENT))
  return chromium
}
