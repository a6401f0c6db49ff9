/**
 * Hot replacement of lit elements without boilerplate (dev server only): every module that
 * registers an element through `defineElement('<name>', Class)` becomes self-accepting, so an
 * edit re-executes just that module and `defineElement` patches the live class and re-renders its
 * instances (src/browser/ui/define.ts). Modules that are not elements propagate to the element
 * modules importing them; anything else makes Vite reload the page, and the shell says why.
 */
import type { Plugin } from 'vite'

const DEFINES_ELEMENT = /\bdefineElement\(\s*['"`][a-z][a-z0-9]*-[a-z0-9-]*['"`]/

export function litHmr(): Plugin {
  return {
    name: 'orrery-lit-hmr',
    apply: 'serve',
    transform(code, id) {
      if (id.includes('/node_modules/') || !/\.[cm]?[jt]s(\?|$)/.test(id)) return undefined
      if (!DEFINES_ELEMENT.test(code) || code.includes('import.meta.hot.accept(')) return undefined
      return { code: `${code}\nif (import.meta.hot) import.meta.hot.accept()\n`, map: null }
    },
  }
}
