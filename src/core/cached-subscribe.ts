/**
 * Subscribing to a state path while Automerge is still loading: the subscriber gets the
 * document's cached view first (src/core/storage/view-cache.ts), if there is one, then the live
 * value once the state API is up, except when the document has not changed since the view was
 * cached (its heads are the cached ones). No browser dependency: the facade uses it until its
 * local store is ready.
 */
import { parsePath } from './paths'
import type { Repo } from './repo/repo'
import type { StateApi, Unsubscribe } from './state'
import { sameHeads } from './heads'
import { pick, type ViewCache } from './storage/view-cache'
import { SubscriptionTree, type SubscribeOptions } from './subscriptions'
import { mark } from './timings'

/** What the live subscription needs once the local store is up. */
export interface LiveState {
  state: Pick<StateApi, 'subscribe'>
  repo: Pick<Repo, 'get'>
}

function tryParsePath(path: string): { docId: string; keys: readonly string[] } | undefined {
  try {
    return parsePath(path)
  } catch {
    return undefined
  }
}

/**
 * cb(value) from the cached view of `path`'s document (when `views` has one and the live value
 * has not come first), then from the live state once `live` resolves; returns off().
 */
export function subscribeCached(
  path: string,
  cb: (value: unknown) => void,
  views: Pick<ViewCache, 'read'> | undefined,
  live: Promise<LiveState>,
  opts?: SubscribeOptions,
): Unsubscribe {
  let off: Unsubscribe | undefined
  let cancelled = false
  let delivered = false // the live subscription has delivered its first value
  let shown: string[] | undefined
  const parsed = tryParsePath(path)
  if (parsed !== undefined && views !== undefined) {
    views.read(parsed.docId).then(
      (v) => {
        if (v === undefined || cancelled || delivered) return
        mark('cached-view')
        shown = v.heads
        SubscriptionTree.call(cb, pick(v.value, parsed.keys)) // a throwing subscriber is logged
      },
      () => undefined,
    )
  }
  live.then(
    (l) => {
      if (cancelled) return
      off = l.state.subscribe(
        path,
        (value) => {
          delivered = true
          if (shown !== undefined && parsed !== undefined) {
            const heads = l.repo.get(parsed.docId)?.heads
            const unchanged = heads !== undefined && sameHeads(heads, shown)
            shown = undefined
            if (unchanged) return
          }
          cb(value)
        },
        opts,
      )
    },
    () => undefined,
  )
  return () => {
    cancelled = true
    off?.()
  }
}
