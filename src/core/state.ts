/**
 * The state API: a hierarchical key-value view of documents (the "statebus" idea). The first
 * path segment names the document, the rest a place inside it; values are JSON.
 *
 *   await state.set('/<docId>/todo/1', { title: 'milk' })
 *   await state.get('/<docId>/todo/1/title')        // 'milk'
 *   const off = state.subscribe('/<docId>/todo', cb) // cb(current), then after every change
 *
 * `set` and `delete` resolve once the change is applied in this tab (reads see it, subscribers
 * will be told); it reaches the disk, other tabs and peers in the next task. `flush()` resolves
 * when everything so far is on disk. Documents open on first use.
 *
 * Owned paths: in a document of a space, a top-level key `~<did>` (written `~0<did>` in a path)
 * and everything below it belong to that identity. `set` and `delete` there (or a `set` of the
 * whole document that would change it) by anyone else throw a SpaceError `OWNED_PATH` at once,
 * and every peer refuses such a change from a peer (src/core/spaces/owned.ts).
 *
 *   await state.set(`/<docId>/~0${me}/posts/1`, { text: 'hi' })   // only `me` may write here
 */
import { OrreryError } from './errors'
import { parsePath } from './paths'
import type { DocHandle } from './repo/doc-handle'
import type { SubscribeOptions } from './subscriptions'
import type { Repo } from './repo/repo'

export type Unsubscribe = () => void

export class StateApi {
  constructor(private readonly repo: Repo) {}

  private handle(docId: string): DocHandle | Promise<DocHandle> {
    const h = this.repo.get(docId)
    return h !== undefined && !h.isClosed ? h : this.repo.open(docId)
  }

  async get(path: string): Promise<unknown> {
    const { docId, keys } = parsePath(path)
    const h = await this.handle(docId)
    return h.read(keys)
  }

  async set(path: string, value: unknown): Promise<void> {
    const { docId, keys } = parsePath(path)
    const h = this.handle(docId)
    ;(h instanceof Promise ? await h : h).write(keys, value)
  }

  async delete(path: string): Promise<void> {
    const { docId, keys } = parsePath(path)
    const h = this.handle(docId)
    ;(h instanceof Promise ? await h : h).remove(keys)
  }

  /** cb(value) now and after every change; `deferred`: see SubscribeOptions (for views). */
  subscribe(path: string, cb: (value: unknown) => void, opts?: SubscribeOptions): Unsubscribe {
    if (typeof cb !== 'function')
      throw new OrreryError('INVALID_VALUE', 'subscribe needs a callback')
    const { docId, keys } = parsePath(path)
    let off: Unsubscribe | undefined
    let cancelled = false
    const h = this.handle(docId)
    const attach = (handle: DocHandle): void => {
      if (!cancelled) off = handle.subscribe(keys, cb, opts)
    }
    if (h instanceof Promise) {
      h.then(attach, (e: unknown) => console.error(`subscribe ${path}:`, e))
    } else attach(h)
    return () => {
      cancelled = true
      off?.()
    }
  }

  /** Resolves when every change made so far in this tab is on disk. */
  async flush(): Promise<void> {
    await this.repo.flushAll()
  }
}
