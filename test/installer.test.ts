/**
 * Installing an app nobody reachable has: the installer says so (phase "waiting") instead of
 * failing, keeps looking, and completes by itself when a peer that has the app comes online
 * (found through the app's discovery topic, fetched over a direct connection).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { utf8 } from '../src/core/bytes'
import { generateIdentity } from '../src/core/identity'
import { buildApp } from '../src/core/blocks/manifest'
import { MemoryBlockStore } from '../src/core/blocks/memory-store'
import type { OrreryPeer } from '../src/core/peer'
import { AppInstaller, type InstallProgress } from '../src/browser/apps/installer'
import { connect, makePeer, makeRelay, waitFor, type TestRelay } from './peers'

const running: (OrreryPeer | TestRelay)[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map(async (p) => p.stop()))
})

describe('installing an app', () => {
  it('waits visibly while nobody has it and completes when a holder comes online', async () => {
    const relay = await makeRelay()
    running.push(relay)
    const app = buildApp(
      {
        files: [{ path: 'index.js', bytes: utf8('export const hi = 1'), mime: 'text/javascript' }],
        name: 'patient',
        appVersion: '1.0.0',
        entry: 'index.js',
        element: 'patient-app',
      },
      generateIdentity(),
    )
    const held = new MemoryBlockStore()
    for (const b of app.blocks) await held.put(b.cid, b.bytes)
    await held.pin(
      app.manifest.name,
      app.manifestCid,
      app.blocks.map((b) => b.cid),
    )
    const holder = await makePeer({ blocks: held })
    const mine = new MemoryBlockStore() // the installer's store is the block service's
    const newcomer = await makePeer({ blocks: mine })
    running.push(holder, newcomer)

    await connect(newcomer, relay)
    const phases: InstallProgress['phase'][] = []
    const installer = new AppInstaller(newcomer, mine, () => undefined)
    let done = false
    const installing = installer
      .install(app.manifestCid, { onProgress: (p) => phases.push(p.phase) })
      .finally(() => (done = true))
    await waitFor(() => phases.includes('waiting'), 10_000, 'the installer says it waits')
    expect(done).toBe(false)

    // the holder comes online and serves what it has installed
    await new AppInstaller(holder, held, () => undefined).announceInstalled()
    await connect(holder, relay)
    const manifest = await installing
    expect(manifest.name).toBe('patient')
    expect(phases.at(-1)).toBe('done')
    expect(phases.indexOf('waiting')).toBeLessThan(phases.indexOf('done'))
  })
})
