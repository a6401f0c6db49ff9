/**
 * Knowing when another tab of this profile is gone, whatever way it went (closed, reloaded,
 * crashed): each tab holds a Web Lock named after itself for as long as it lives, and the other
 * tabs wait on it. When it is released, they read from disk what that tab stored in its last
 * moments (`Repo.catchUp`): its last tab-bus message may have been lost with the page, and a
 * page that reloads may start reading before the old one has finished writing.
 *
 * Tabs learn of each other from the locks held when they start and from a `tab-hello` on the
 * tab bus afterwards.
 */
import { createLogger } from '../core/log'
import type { Repo } from '../core/repo/repo'
import type { TabBus } from '../core/tabs/bus'

const log = createLogger('tabs')
const PREFIX = 'orrery-tab:'

export function watchSiblingTabs(repo: Repo, bus: TabBus): void {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks
  if (locks === undefined) return
  const me = repo.tabId
  const watched = new Set<string>([me])
  const watch = (tab: string): void => {
    if (watched.has(tab)) return
    watched.add(tab)
    // granted once that tab's own exclusive hold ends: it is gone
    void locks
      .request(PREFIX + tab, { mode: 'shared' }, async () => {
        watched.delete(tab)
        log.debug(`tab ${tab} is gone`)
        await repo.catchUp()
      })
      .catch(() => undefined)
  }
  void locks.request(PREFIX + me, () => new Promise<never>(() => {})).catch(() => undefined)
  bus.subscribe((m) => {
    if (m.t === 'tab-hello') watch(m.from)
  })
  bus.post({ t: 'tab-hello', from: me })
  void locks.query().then(
    (state) => {
      for (const l of state.held ?? [])
        if (l.name?.startsWith(PREFIX) === true) watch(l.name.slice(PREFIX.length))
    },
    () => undefined,
  )
}
