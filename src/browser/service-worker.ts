/**
 * Registers the service worker with workbox-window. `controlled` resolves once a service worker
 * controls this page (apps are served by it). A new version never takes over on its own: the
 * shell shows "update available" and `applyUpdate()` switches when the user says so, after the
 * page has saved everything (the page reloads when the new worker takes control).
 *
 * Registration waits for `registerAfter` (boot: the first direct connection, or a few seconds)
 * unless `registerNow()` comes first (an app is about to be mounted). A first visit's worker
 * precaches the whole build and compiles its scripts for the code cache: on a small machine
 * that is a second or more of CPU, which competed with the page's first connection.
 */
import { Workbox } from 'workbox-window'
import { Emitter } from '../core/emitter'
import { createLogger } from '../core/log'

const log = createLogger('service-worker')

export class ServiceWorkerLink {
  readonly events = new Emitter<{ update: boolean }>()
  readonly controlled: Promise<void>
  updateWaiting = false
  private wb: Workbox | undefined
  private registered = false

  constructor(
    private readonly beforeReload: () => Promise<void>,
    registerAfter: Promise<unknown> = Promise.resolve(),
  ) {
    const sw = typeof navigator === 'undefined' ? undefined : navigator.serviceWorker
    if (sw === undefined) {
      this.controlled = Promise.reject(new Error('this browser has no service workers'))
      this.controlled.catch(() => undefined)
      return
    }
    this.controlled =
      sw.controller !== null
        ? Promise.resolve()
        : new Promise((resolve) =>
            sw.addEventListener('controllerchange', () => resolve(), { once: true }),
          )
    // In development Vite serves the worker's source as a module (the relay allows it the whole
    // origin as its scope): it serves apps from IndexedDB as in production, and caches no shell.
    const wb = import.meta.env.DEV
      ? new Workbox('/src/sw/sw.ts', { type: 'module', scope: '/' })
      : new Workbox('/sw.js', { type: 'module' })
    this.wb = wb
    wb.addEventListener('waiting', () => {
      this.updateWaiting = true
      this.events.emit('update', true)
    })
    registerAfter.then(
      () => this.registerNow(),
      () => this.registerNow(),
    )
  }

  /** Registers the worker now if that has not happened yet (idempotent). */
  registerNow(): void {
    if (this.wb === undefined || this.registered) return
    this.registered = true
    this.wb.register().catch((e: unknown) => log.error('service worker registration failed', e))
  }

  /** Switches to the waiting version: saves, then reloads when it has taken control. */
  async applyUpdate(): Promise<void> {
    if (this.wb === undefined || !this.updateWaiting) return
    await this.beforeReload()
    this.wb.addEventListener('controlling', () => location.reload())
    this.wb.messageSkipWaiting()
  }
}
