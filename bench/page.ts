/**
 * Small helpers that run inside the peers' pages (through window.orrery only): waits armed on a
 * state path, and the init script that times a page load until a document is complete.
 */
import type { LinkKeys } from '../src/core/link-keys'
import type { Page } from 'playwright-core'

interface Wait {
  /** performance.timeOrigin + performance.now() when the condition held: a shared wall clock */
  at?: number
  promise: Promise<number>
}

/** What `loadProbe` records: ms since navigation start. */
export interface LoadProbe {
  ready?: number
  done?: number
  /** window.orrery.timings() when the document was complete */
  timings?: Record<string, number>
  error?: string
}

declare global {
  interface Window {
    __bench?: { waits: Record<string, Wait>; offs: (() => void)[]; load?: LoadProbe }
  }
}

/** Subscribes on `page` to `path`; the wait `name` ends once the value has `count` keys. */
export async function arm(page: Page, name: string, path: string, count: number): Promise<void> {
  await page.evaluate(
    ({ name, path, count }) => {
      const g = (window.__bench ??= { waits: {}, offs: [] })
      const wait = { at: undefined } as Wait
      wait.promise = new Promise<number>((resolve) => {
        const off = window.orrery.state.subscribe(path, (v) => {
          if (wait.at !== undefined || v === null || typeof v !== 'object') return
          if (Object.keys(v).length < count) return
          wait.at = performance.timeOrigin + performance.now()
          resolve(wait.at)
          setTimeout(off, 0)
        })
      })
      g.waits[name] = wait
    },
    { name, path, count },
  )
}

/** Resolves with the wall-clock time the armed wait ended; rejects with what is there instead. */
export async function armed(page: Page, name: string, path: string, ms: number): Promise<number> {
  return page.evaluate(
    async ({ name, path, ms }) => {
      const wait = window.__bench?.waits[name]
      if (wait === undefined) throw new Error(`no wait ${name} armed`)
      let timer: ReturnType<typeof setTimeout> | undefined
      const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, ms, 'late')))
      const at = await Promise.race([wait.promise, late])
      clearTimeout(timer)
      if (at !== 'late') return at
      const v = await window.orrery.state.get(path)
      const keys = v !== null && typeof v === 'object' ? Object.keys(v).length : 0
      throw new Error(`${name}: after ${ms} ms ${path} has ${keys} keys (${JSON.stringify(v)})`)
    },
    { name, path, ms },
  )
}

/**
 * Init script (page.addInitScript): waits for window.orrery (created by the app's module script),
 * opens `docId` and subscribes to `path` in it at once (the state API answers from the local store
 * before `ready`) and records ms since navigation start once `path` has `count` keys, and when
 * `ready` came.
 */
export function loadProbe({
  docId,
  keys,
  path,
  count,
}: {
  docId: string
  /** what the document's share link carries */
  keys: LinkKeys
  path: string
  count: number
}): void {
  const load: LoadProbe = {}
  window.__bench = { waits: {}, offs: [], load }
  const start = (): void => {
    if (!('orrery' in window)) {
      setTimeout(start, 1)
      return
    }
    // the shell opens the document it shows; a bare page has only this probe to open it
    window.orrery.docs.open(docId, keys).catch((e: unknown) => (load.error = `open: ${String(e)}`))
    const off = window.orrery.state.subscribe(path, (v) => {
      if (load.done !== undefined || v === null || typeof v !== 'object') return
      if (Object.keys(v).length < count) return
      load.done = performance.now()
      load.timings = window.orrery.timings()
      setTimeout(off, 0)
    })
    window.orrery.ready.then(
      () => (load.ready = performance.now()),
      (e: unknown) => (load.error = `orrery.ready rejected: ${String(e)}`),
    )
  }
  start()
}

/** Waits for `loadProbe` to finish on `page`; returns ms from navigation start to complete. */
export async function probed(page: Page, path: string, ms: number): Promise<Required<LoadProbe>> {
  const handle = await page
    .waitForFunction(
      () => {
        // done, and ready too (a document shown from its cached view is complete before then)
        const l = window.__bench?.load
        return l !== undefined &&
          ((l.done !== undefined && l.ready !== undefined) || l.error !== undefined)
          ? l
          : undefined
      },
      undefined,
      { timeout: ms, polling: 20 },
    )
    .catch(async (e: unknown) => {
      const seen = await page
        .evaluate(async (p) => {
          const v = await window.orrery.state.get(p)
          const keys = v !== null && typeof v === 'object' ? Object.keys(v).length : 0
          return { probe: window.__bench?.load, keys }
        }, path)
        .catch((e2: unknown) => String(e2))
      const why = (e instanceof Error ? e.message : String(e)).split('\n')[0]
      throw new Error(`document not complete (${why}); in the page: ${JSON.stringify(seen)}`, {
        cause: e,
      })
    })
  const load = (await handle.jsonValue()) as LoadProbe
  if (load.error !== undefined) throw new Error(load.error)
  return {
    ready: load.ready ?? NaN,
    done: load.done ?? NaN,
    timings: load.timings ?? {},
    error: '',
  }
}
