/**
 * Installing an app from its address: the manifest and every block come from whichever peers have
 * them (the relay when it seeds, and the peers in the app's rendezvous topic, over direct
 * connections), several at once, each block checked against its CID before it is stored. The
 * manifest's signature and CID are checked before anything else is fetched. Installed apps are
 * pinned (kept from garbage collection) and announced, so this tab serves them to others.
 */
import { appTopic } from '../../core/apps/topic'
import { decodeManifest } from '../../core/blocks/manifest'
import type { AppManifest, BlockStore, FetchProgress } from '../../core/blocks/types'
import { OrreryError } from '../../core/errors'
import { createLogger } from '../../core/log'
import type { OrreryPeer } from '../../core/peer'

const log = createLogger('apps')

export interface InstallOptions {
  onProgress?: (p: FetchProgress & { phase: 'finding' | 'manifest' | 'blocks' | 'done' }) => void
  /** how long to look for peers that have the app (ms) */
  timeoutMs?: number
  signal?: AbortSignal
}

export class AppInstaller {
  constructor(
    private readonly peer: OrreryPeer,
    private readonly store: BlockStore,
    private readonly relayPeerId: () => string | undefined,
  ) {}

  /** Peers to ask: the relay (it may seed) and the app's topic members we reach directly. */
  private providers(cid: string): string[] {
    const direct = new Set(
      this.peer.node
        .getConnections()
        .filter((c) => c.limits === undefined && c.status === 'open')
        .map((c) => c.remotePeer.toString()),
    )
    const out = this.peer.node.services.discovery
      .peersIn(appTopic(cid))
      .filter((p) => direct.has(p))
    const relay = this.relayPeerId()
    if (relay !== undefined && direct.has(relay)) out.push(relay)
    return out
  }

  /** Fetches until done; while nobody has the blocks yet, keeps looking until the timeout. */
  private async fetchAll(
    cid: string,
    cids: string[],
    opts: InstallOptions,
    phase: 'manifest' | 'blocks',
    totalBytes: number,
  ): Promise<void> {
    const until = Date.now() + (opts.timeoutMs ?? 30_000)
    let lastError: unknown
    for (;;) {
      opts.signal?.throwIfAborted()
      const providers = this.providers(cid)
      if (providers.length > 0) {
        try {
          await this.peer.node.services.blocks.fetch(cids, providers, {
            ...(opts.signal ? { signal: opts.signal } : {}),
            onProgress: (p) =>
              opts.onProgress?.({ ...p, totalBytes: p.totalBytes || totalBytes, phase }),
          })
          return
        } catch (e) {
          lastError = e
          if ((e as { code?: string }).code !== 'BLOCKS_UNAVAILABLE') throw e
        }
      } else {
        opts.onProgress?.({
          blocks: 0,
          totalBlocks: cids.length,
          bytes: 0,
          totalBytes,
          phase: 'finding',
        })
      }
      if (Date.now() > until) {
        throw new OrreryError(
          'BLOCKS_UNAVAILABLE',
          `no reachable peer has this app (${lastError instanceof Error ? lastError.message : 'no peers found'})`,
        )
      }
      await new Promise((r) => setTimeout(r, 300))
    }
  }

  async install(cid: string, opts: InstallOptions = {}): Promise<AppManifest> {
    const discovery = this.peer.node.services.discovery
    discovery.addTopic(appTopic(cid)) // find holders; from now on this tab serves what it has
    let bytes = await this.store.get(cid)
    if (bytes === undefined) {
      await this.fetchAll(cid, [cid], opts, 'manifest', 0)
      bytes = await this.store.get(cid)
    }
    if (bytes === undefined)
      throw new OrreryError('BLOCKS_UNAVAILABLE', 'the app manifest could not be fetched')
    const decoded = decodeManifest(bytes, cid)
    if (!decoded.ok) {
      await this.store.delete(cid)
      discovery.removeTopic(appTopic(cid))
      throw decoded.error
    }
    const manifest = decoded.value
    const all = [...new Set(manifest.files.flatMap((f) => f.blocks))]
    const missing: string[] = []
    for (const c of all) if (!(await this.store.has(c))) missing.push(c)
    const totalBytes = manifest.files.reduce((n, f) => n + f.size, 0)
    if (missing.length > 0) await this.fetchAll(cid, missing, opts, 'blocks', totalBytes)
    await this.store.pin(manifest.name, cid, all)
    opts.onProgress?.({
      blocks: all.length,
      totalBlocks: all.length,
      bytes: totalBytes,
      totalBytes,
      phase: 'done',
    })
    log.info(
      `installed ${manifest.name} ${manifest.appVersion} (${all.length} blocks, ${totalBytes} bytes)`,
    )
    return manifest
  }

  /** Announces the apps installed here, so this tab serves their blocks to peers who look. */
  async announceInstalled(): Promise<void> {
    for (const p of await this.store.pins())
      this.peer.node.services.discovery.addTopic(appTopic(p.root))
  }
}
