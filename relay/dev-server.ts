/**
 * `npm run dev`: Vite serves the app from source through the relay's HTTP port (middleware mode,
 * its hot-reload socket on the same server), and with `--publish apps/<name>` every save
 * rebuilds, signs, seeds and announces that app (live-publish.ts).
 */
import type http from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RelayConfig } from './config'
import { devApps, type DevApp } from './dev-apps'
import { LivePublisher, type ReleaseSink } from './live-publish'

type Middleware = (req: IncomingMessage, res: ServerResponse, next: () => void) => void

export interface DevServing {
  middlewares: Middleware
  /** the body of /orrery/dev.json */
  status(): { apps: DevApp[]; publishing: ReturnType<LivePublisher['describe']> | undefined }
  close(): Promise<void>
}

export async function startDevServing(
  server: http.Server,
  config: Pick<RelayConfig, 'publish' | 'publisherFile' | 'seedDirs'>,
  /** announces live-published versions (the relay's seed announcer) */
  releases: ReleaseSink,
  /** adds the relay's description to the app's HTML */
  injectRelay: (html: string) => string,
): Promise<DevServing> {
  // Vite decides development or production from NODE_ENV, not from its mode: a shell (or a
  // parent process that ran a Vite build) with NODE_ENV=production would get a dev server that
  // serves production code (import.meta.env.DEV false: it registers /sw.js, which dev lacks)
  process.env.NODE_ENV = 'development'
  const { createServer } = await import('vite')
  const dev = await createServer({
    server: { middlewareMode: true, ws: { server } },
    appType: 'spa',
    plugins: [{ name: 'orrery-relay-meta', transformIndexHtml: injectRelay }],
  })
  let live: LivePublisher | undefined
  if (config.publish.length > 0) {
    const { loadPublisher } = await import('./app-build')
    const publisher = new LivePublisher({
      dirs: config.publish,
      seedDir: config.seedDirs[0] as string,
      identity: loadPublisher(config.publisherFile),
      releases,
      // the editing tab hears of each version too (it shows the address it can share)
      onPublished: (v) => dev.ws.send({ type: 'custom', event: 'orrery:published', data: v }),
      onFailed: (f) => dev.ws.send({ type: 'custom', event: 'orrery:publish-failed', data: f }),
    })
    live = publisher
    dev.watcher.on('change', (f) => publisher.changed(f))
    dev.watcher.on('add', (f) => publisher.changed(f))
    await Promise.all(config.publish.map((d) => publisher.publish(d)))
  }
  return {
    middlewares: dev.middlewares,
    status: () => ({ apps: devApps(), publishing: live?.describe() }),
    close: () => dev.close(),
  }
}
