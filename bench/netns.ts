/**
 * The benchmark's network namespace has only `lo`, so Chromium believes it has no network at all:
 * navigator.onLine is false from the start and Playwright's `context.setOffline()` changes
 * nothing a page can observe (no 'offline' / 'online' events). The PWA workloads need those
 * events, as a user's browser has them when the network goes and comes back. `addOnlineInterface`
 * adds a veth pair whose two ends stay inside the namespace (no route leads anywhere else), for
 * the time of one group of workloads, and only when the namespace has nothing but `lo`.
 */
import { execFileSync } from 'node:child_process'

const NAME = 'orrery-v0'

/** Adds the interface when we are root in a namespace that has only `lo`; returns a remover. */
export function addOnlineInterface(note: (line: string) => void): () => void {
  const ip = (...args: string[]): string =>
    execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  let links: string[]
  try {
    // netlink answers for this process's namespace (/sys/class/net may be the host's)
    links = ip('-o', 'link', 'show')
      .split('\n')
      .flatMap((l) => /^\d+: ([^:@]+)/.exec(l)?.[1] ?? [])
  } catch {
    return () => undefined
  }
  if (process.getuid?.() !== 0 || links.length !== 1 || links[0] !== 'lo') {
    note(`[netns] interfaces ${links.join(', ')}: not an lo-only namespace, left as they are`)
    return () => undefined
  }
  ip('link', 'add', NAME, 'type', 'veth', 'peer', 'name', 'orrery-v1')
  ip('addr', 'add', '10.213.0.1/30', 'dev', NAME)
  ip('link', 'set', NAME, 'up')
  ip('link', 'set', 'orrery-v1', 'up')
  return () => {
    try {
      ip('link', 'del', NAME)
    } catch (e) {
      note(`[netns] could not remove ${NAME}: ${String(e)}`)
    }
  }
}
