/** Waiting for a space's document (its members) to arrive from someone, as a join does. */
import type { Emitter } from '../emitter'
import { OrreryError } from '../errors'

/**
 * Resolves once `arrived()` holds after a `changed` event for the space; rejects when
 * `timeoutMs` passes (BLOCKS_UNAVAILABLE) or the signal aborts (ABORTED).
 */
export function whenMembers(
  events: Emitter<{ changed: string }>,
  arrived: () => boolean,
  spaceId: string,
  opts: { timeoutMs?: number; signal?: AbortSignal },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              finish(
                new OrreryError(
                  'BLOCKS_UNAVAILABLE',
                  'no member of this space could be reached to check the invite',
                ),
              ),
            opts.timeoutMs,
          )
    const aborted = (): void => finish(new OrreryError('ABORTED', 'joining was cancelled'))
    const off = events.on('changed', (id) => {
      if (id === spaceId && arrived()) finish()
    })
    opts.signal?.addEventListener('abort', aborted, { once: true })
    if (opts.signal?.aborted) aborted()
    function finish(error?: OrreryError): void {
      clearTimeout(timer)
      off()
      opts.signal?.removeEventListener('abort', aborted)
      if (error === undefined) resolve()
      else reject(error)
    }
  })
}
