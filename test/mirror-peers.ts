/** Helpers of the tests of tabs syncing through a mirror: a mirror node, tabs using it. */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach } from 'vitest'
import type { Libp2p } from 'libp2p'
import type { DocId } from '../src/core/ids'
import type { OrreryPeer } from '../src/core/peer'
import { mirrorService, type MirrorService } from '../relay/mirror/service'
import type { MirrorStoreOptions } from '../relay/mirror/store'
import { memoryNode, testPeers, waitFor } from './peers'

export type MirrorNode = Libp2p<{ mirror: MirrorService }>

/**
 * Registers its cleanup (afterEach) and returns what a test file needs: `startMirror` (a
 * mirror on LevelDB in a temporary directory, or `dir`), `viaMirror` (a tab syncing through
 * one, pulling often: the tests wait on outcomes) and `peer` (a tab, as testPeers makes them).
 */
export function mirrorPeers() {
  const peer = testPeers()
  const dirs: string[] = []
  const nodes: Libp2p[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map(async (n) => n.stop()))
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
  })
  async function startMirror(
    dir?: string,
    storeOptions?: MirrorStoreOptions,
  ): Promise<{ node: MirrorNode; dir: string }> {
    dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'orrery-mirror-sync-'))
    if (!dirs.includes(dir)) dirs.push(dir)
    const mirror = mirrorService({ dir, ...(storeOptions ? { storeOptions } : {}) })
    const node: MirrorNode = await memoryNode('mirror', { mirror })
    nodes.push(node)
    return { node, dir }
  }
  function viaMirror(mirror: Libp2p, opts: Parameters<typeof peer>[0] = {}) {
    return peer({
      ...opts,
      mirror: { address: mirror.getMultiaddrs(), pullEveryMs: 200, retryMs: 50, timeoutMs: 5000 },
    })
  }
  return { peer, startMirror, viaMirror }
}

export const read = (p: OrreryPeer, id: DocId, key: string): Promise<unknown> =>
  p.state.get(`/${id}/${key}`)

/** Resolves once the mirror confirmed the document's current heads. */
export async function mirrored(p: OrreryPeer, id: DocId): Promise<void> {
  p.repo.get(id)?.flush() // (a write's change is committed in the next task)
  await waitFor(
    () => {
      const heads = p.repo.get(id)?.status().heads ?? []
      const c = p.mirror?.confirmation(id)
      return heads.length > 0 && c !== undefined && heads.every((h) => c.heads.includes(h))
    },
    10_000,
    'the mirror confirms the heads',
  )
}
