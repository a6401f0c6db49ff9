/**
 * Development hooks (Vite's dev server only; the build drops them): why the page last reloaded
 * when a change could not be applied in place, and the versions live publishing announces.
 */
import { Emitter } from '../core/emitter'

export const RELOAD_REASON = 'orrery:reload-reason'

/** A version live publishing announced (the relay sends it with Vite's `orrery:published`). */
export interface PublishedVersion {
  name: string
  cid: string
  ms: number
  at: number
}

export const devEvents = new Emitter<{
  published: PublishedVersion
  'publish-failed': { name: string; error: string }
}>()
export const published: PublishedVersion[] = []

/** The reason the page was reloaded instead of updated in place, once (then forgotten). */
export function takeReloadNotice(): string | undefined {
  const reason = sessionStorage.getItem(RELOAD_REASON) ?? undefined
  sessionStorage.removeItem(RELOAD_REASON)
  return reason
}

/** Reloads the page, telling the shell (after the reload) why. */
export function reloadBecause(reason: string): void {
  console.info(`[orrery] full reload: ${reason}`)
  sessionStorage.setItem(RELOAD_REASON, reason)
  location.reload()
}

if (import.meta.hot) {
  import.meta.hot.on('vite:beforeFullReload', (p: { path?: string }) => {
    if (sessionStorage.getItem(RELOAD_REASON) !== null) return // a more precise reason is set
    const what = p.path === undefined || p.path === '*' ? 'a changed file' : p.path
    sessionStorage.setItem(
      RELOAD_REASON,
      `${what} cannot be replaced in place (no element module above it accepts the update)`,
    )
  })
  import.meta.hot.on('orrery:published', (v: PublishedVersion) => {
    published.push(v)
    devEvents.emit('published', v)
  })
  import.meta.hot.on('orrery:publish-failed', (f: { name: string; error: string }) =>
    devEvents.emit('publish-failed', f),
  )
}
