/**
 * Page entry. `window.orrery` exists from here on (its `ready` resolves when the peer is up);
 * the shell renders at once and shows boot progress while the wasm, IndexedDB and network start.
 */
import { boot } from './boot'
import { OrreryApi } from './orrery'
import './dev'
import './ui/app'

declare global {
  interface Window {
    orrery: OrreryApi
  }
}

window.orrery = new OrreryApi((api) =>
  boot((step, done, total) => api.reportBoot(step, done, total)),
)
window.orrery.ready.catch((e: unknown) => console.error('Orrery did not start', e))
