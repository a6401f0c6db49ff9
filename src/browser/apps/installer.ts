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
import { AskSchedule } from '../../core/blocks/ask-schedule'
import { OrreryError } from '../../core/errors'
import { createLogger } from '../../core/log'
import type { OrreryPeer } from '../../core/peer'

const log = createLogger('apps')

export type InstallPhase = 'finding' | 'waiting' | 'manifest' | 'blocks' | 'done'

export type InstallProgress = FetchProgress & {
  /**
   * finding: looking for peers that have the app; waiting: nobody reachable has it (asked and
   * refused, or nobody to ask), still trying; manifest, blocks: fetching; done
   */
  phase: InstallPhase
  /** providers reachable now (the seeding relay, app topic members connected directly) */
  providers?: number
}

export interface InstallOptions {
  onProgress?: (p: InstallProgress) => void
  /** give up after this long without the app (ms); by default an install keeps trying */
  timeoutMs?: number
  signal?: AbortSignal
}

/** how often the reachable providers are looked at while waiting (ms) */
const LOOK_MS = 300

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

  /**
   * Fetches until done. While nobody reachable has the blocks it says so (phase "waiting") and
   * keeps asking: a provider that appears is asked at once, the others again after a backoff
   * (AskSchedule). Only a deadline (`timeoutMs`) or the signal ends it without the blocks.
   */
  private async fetchAll(
    cid: string,
    cids: string[],
    opts: InstallOptions,
    phase: 'manifest' | 'blocks',
    totalBytes: number,
  ): Promise<void> {
    const started = Date.now()
    const until = opts.timeoutMs === undefined ? Infinity : started + opts.timeoutMs
    const schedule = new AskSchedule(started)
    let lastError: unknown
    let told = ''
    let got = { blocks: 0, bytes: 0 } // what earlier rounds fetched (kept in the store)
    for (;;) {
      opts.signal?.throwIfAborted()
      const providers = this.providers(cid)
      if (schedule.shouldAsk(providers, Date.now())) {
        schedule.asking(providers, Date.now())
        try {
          await this.peer.node.services.blocks.fetch(cids, providers, {
            ...(opts.signal ? { signal: opts.signal } : {}),
            onProgress: (p) => {
              got = { blocks: p.blocks, bytes: p.bytes }
              opts.onProgress?.({
                ...p,
                totalBytes: p.totalBytes || totalBytes,
                phase,
                providers: providers.length,
              })
            },
          })
          return
        } catch (e) {
          lastError = e
          if ((e as { code?: string }).code !== 'BLOCKS_UNAVAILABLE') throw e
          schedule.unavailable()
          told = ''
        }
      }
      const now = Date.now()
      const waiting = schedule.phase(now, providers.length)
      const news = `${waiting}/${providers.length}`
      if (news !== told) {
        told = news
        if (waiting === 'waiting')
          log.info(
            `nobody reachable has ${cid.slice(0, 16)}… yet (${providers.length} asked); still looking`,
          )
        opts.onProgress?.({
          ...got,
          totalBlocks: cids.length,
          totalBytes,
          phase: waiting,
          providers: providers.length,
        })
      }
      if (now > until) {
        throw new OrreryError(
          'BLOCKS_UNAVAILABLE',
          `no reachable peer has this app (${lastError instanceof Error ? lastError.message : 'no peers found'})`,
        )
      }
      await sleep(LOOK_MS, opts.signal)
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

/** Resolves after `ms`, or at once when the signal aborts (the loop then throws). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
    function done(): void {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
  })
}
