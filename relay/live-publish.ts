/**
 * Releases announced by the relay. At start and whenever `npm run publish-app` writes to the
 * relay's seed directory, every seeded app's manifest is offered to the releases service, so
 * followers hear of new versions (and catch up when they connect). In `npm run dev -- --publish
 * apps/<name>`, each save under that folder rebuilds the app (unminified, ~0.1 s), signs it with
 * the developer's key, seeds its blocks and announces it: following peers swap it in.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { PublishedVersion } from '../src/browser/dev'
import type { Identity } from '../src/core/identity'
import { createLogger } from '../src/core/log'
import type { ReleaseService } from '../src/core/releases/service'
import { readAppConfig } from './app-config'
import type { FileBlockStore } from './file-blocks'

const log = createLogger('live-publish')

export type ReleaseSink = Pick<ReleaseService, 'publish'>

/**
 * Offers every app listed in the seed directories (and later additions) to the releases service.
 * Live publishing announces through it too, so the listing it writes is not offered twice.
 */
export class SeedAnnouncer implements ReleaseSink {
  private readonly offered = new Set<string>()
  private watcher: fs.FSWatcher | undefined

  constructor(
    private readonly blocks: FileBlockStore,
    private readonly releases: ReleaseSink,
    private readonly watchDir: string,
  ) {}

  async start(): Promise<void> {
    await this.scan()
    fs.mkdirSync(this.watchDir, { recursive: true })
    let timer: NodeJS.Timeout | undefined
    this.watcher = fs.watch(this.watchDir, (_, file) => {
      if (file !== 'apps.json') return
      clearTimeout(timer)
      timer = setTimeout(
        () => void this.scan().catch((e: unknown) => log.warn('scan failed', e)),
        20,
      )
    })
    this.watcher.on('error', (e) => log.warn('cannot watch the seed directory', e))
  }

  stop(): void {
    this.watcher?.close()
  }

  publish(bytes: Uint8Array): ReturnType<ReleaseSink['publish']> {
    const r = this.releases.publish(bytes)
    if (r.ok) this.offered.add(r.value.cid)
    return r
  }

  async scan(): Promise<void> {
    for (const app of await this.blocks.listings()) {
      if (this.offered.has(app.cid)) continue
      this.offered.add(app.cid)
      const bytes = await this.blocks.get(app.cid)
      if (bytes === undefined) continue
      const r = this.publish(bytes)
      if (!r.ok) log.warn(`seeded app ${app.name} ${app.cid} not announced: ${r.error.message}`)
    }
  }
}

export interface LivePublisherOptions {
  /** app folders to rebuild on change */
  dirs: string[]
  /** where blocks go (the relay's first seed directory) */
  seedDir: string
  identity: Identity
  releases: ReleaseSink
  /** called after each publish (the dev page shows it) */
  onPublished?: (v: PublishedVersion) => void
  /** called when a build or publish fails (the dev page shows why; followers keep their version) */
  onFailed?: (f: { name: string; error: string }) => void
}

/** Rebuilds and announces an app folder on every change, one build at a time per folder. */
export class LivePublisher {
  readonly versions: PublishedVersion[] = []
  private readonly state = new Map<string, { running: boolean; again: boolean }>()
  private readonly timers = new Map<string, NodeJS.Timeout>()

  constructor(private readonly o: LivePublisherOptions) {}

  describe(): { publisher: string; dirs: string[]; versions: PublishedVersion[] } {
    return {
      publisher: this.o.identity.id,
      dirs: this.o.dirs.map((d) => path.relative(process.cwd(), d)),
      versions: this.versions.slice(-20),
    }
  }

  /** The app folder a changed file belongs to, if it is one we publish. */
  folderOf(file: string): string | undefined {
    const abs = path.resolve(file)
    return this.o.dirs.find((d) => abs.startsWith(path.resolve(d) + path.sep))
  }

  changed(file: string): void {
    const dir = this.folderOf(file)
    if (dir === undefined) return
    clearTimeout(this.timers.get(dir))
    // editors write a file in several steps: wait for the burst to end
    this.timers.set(
      dir,
      setTimeout(() => void this.publish(dir), 15),
    )
  }

  async publish(dir: string): Promise<void> {
    const s = this.state.get(dir) ?? { running: false, again: false }
    this.state.set(dir, s)
    if (s.running) {
      s.again = true
      return
    }
    s.running = true
    try {
      do {
        s.again = false
        await this.once(dir)
      } while (s.again)
    } finally {
      s.running = false
    }
  }

  private async once(dir: string): Promise<void> {
    const started = performance.now()
    try {
      const { buildAppDir, writeSeed } = await import('./app-build')
      const config = readAppConfig(dir)
      const at = Date.now()
      const { app } = await buildAppDir(dir, this.o.identity, {
        appVersion: `${config.version}+dev.${at}`,
        minify: false,
      })
      await writeSeed(this.o.seedDir, config, app)
      const r = this.o.releases.publish(app.manifestBytes)
      if (!r.ok) throw r.error
      const v = { name: config.name, cid: app.manifestCid, ms: performance.now() - started, at }
      this.versions.push(v)
      log.info(
        `published ${config.name} ${app.manifest.appVersion} ${v.cid} (${Math.round(v.ms)} ms)`,
      )
      this.o.onPublished?.(v)
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e)
      log.error(`live publish of ${dir} failed: ${error}`)
      this.o.onFailed?.({ name: path.basename(dir), error })
    }
  }
}
