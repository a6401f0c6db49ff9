/**
 * The page-wide registry of lit elements that `ui/define.ts` keeps (live instances, elements
 * replaced in place, reasons a new version could not be patched in place), outside `ui/` so that
 * the facade can ask for the reload reasons without importing the shell.
 *
 * The registry is global (a symbol on globalThis), because the shell and each app bundle carry
 * their own copy of this module.
 */
import type { LitElement } from 'lit'

export interface ElementRegistry {
  live: Map<string, Set<LitElement>>
  /** why the running code could not be patched in place (since the last `takeReloadReasons`) */
  reloadReasons: string[]
  /** elements replaced in place, in order (name and time), for tests and the bench */
  replaced: { name: string; at: number }[]
}

const KEY = Symbol.for('orrery.elements')
export const registry: ElementRegistry =
  ((globalThis as Record<symbol, unknown>)[KEY] as ElementRegistry | undefined) ??
  ((globalThis as Record<symbol, unknown>)[KEY] = {
    live: new Map(),
    reloadReasons: [],
    replaced: [],
  })

/** Reasons collected since the last call (a swap reloads the page when there are any). */
export function takeReloadReasons(): string[] {
  return registry.reloadReasons.splice(0)
}
