/// <reference lib="webworker" />
/**
 * The service worker (workbox): keeps the shell offline (precached at install: HTML, scripts,
 * styles, the Automerge wasm, icons) and serves apps at /app/<manifest CID>/<path> out of the
 * IndexedDB block store, verifying every byte it serves. A new version waits until the page asks
 * it to take over (the shell shows "update available"); the very first one takes control at once.
 */
import {
  cleanupOutdatedCaches,
  createHandlerBoundToURL,
  precacheAndRoute,
} from 'workbox-precaching'
import { NavigationRoute, registerRoute } from 'workbox-routing'
import { serveAppFile } from './app-files'

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: { url: string; revision: string | null }[]
}

// The build replaces self.__WB_MANIFEST with the precache list. In development (Vite serving the
// sources, see ServiceWorkerLink) there is none: this worker then only serves apps, and the shell
// comes from Vite with hot reload.
const precache = self.__WB_MANIFEST as typeof self.__WB_MANIFEST | undefined
if (precache !== undefined) {
  precacheAndRoute(precache)
  cleanupOutdatedCaches()
  // App routes (/#/doc/…, /#/app/…) are fragments: every navigation gets the shell.
  registerRoute(
    new NavigationRoute(createHandlerBoundToURL('/index.html'), {
      denylist: [
        /^\/app\//,
        /^\/orrery\//,
        /^\/health/,
        /^\/metrics/,
        /^\/e2e\//,
        /^\/@/,
        /^\/src\//,
      ],
    }),
  )
}

registerRoute(
  ({ url, request }) =>
    request.method === 'GET' &&
    url.origin === self.location.origin &&
    url.pathname.startsWith('/app/'),
  ({ url }) => serveAppFile(url),
)

self.addEventListener('activate', (event) => {
  // the first installation controls the open pages at once (so apps can load); updates wait
  event.waitUntil(self.clients.claim())
})

self.addEventListener('message', (event: ExtendableMessageEvent) => {
  const data = event.data as { type?: string } | null
  if (data?.type === 'SKIP_WAITING') void self.skipWaiting()
})
