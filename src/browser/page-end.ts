/**
 * What a resolved `set` promises: its edit survives the page going away at once (a reload, a
 * navigation, a closed tab, `window.close()`), with no `flush()`. Edits reach the disk in group
 * commits a task or two later; when the page is about to go, everything still pending is handed
 * to IndexedDB in one transaction committed on the spot (`Repo.flushNow`), which completes
 * without the page.
 *
 * Measured in Chromium 156: a reload, a navigation and a tab closed from outside run `pagehide`
 * (and `visibilitychange`); a tab closed by its own `window.close()` runs `beforeunload` only and
 * is torn down right after it, sometimes before IndexedDB has taken the transaction (1–2 edits in
 * 15 were lost on a loaded machine). So this page's own `window.close()` first writes what is
 * pending, then closes once it is on disk (or after CLOSE_WAIT_MS, should the disk not answer).
 * Hidden and frozen pages may never come back either (a phone discards them without another
 * event): they write too. Each call writes only what is still pending, so repeats cost little.
 */
import { describeError } from '../core/errors'
import { createLogger } from '../core/log'
import type { Repo } from '../core/repo/repo'

const log = createLogger('page-end')
const CLOSE_WAIT_MS = 2_000

export function keepWritesAtPageEnd(repo: Repo): void {
  const now = (): void => repo.flushNow()
  addEventListener('beforeunload', now)
  addEventListener('pagehide', now)
  addEventListener('freeze', now)
  addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') now()
  })
  const close = window.close.bind(window)
  window.close = () => {
    now()
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))
    const saved = repo
      .flushAll()
      .catch((e: unknown) => log.warn(`closing with writes not confirmed: ${describeError(e)}`))
    void Promise.race([saved, timeout]).then(close)
  }
}
