/**
 * Passes the booted peer's own events on as `window.orrery.events`: the document list (a few
 * redraws per second at most), app follows and releases, the outbox and inbox, a waiting update;
 * and reloads the page when another tab of this profile replaced the identity.
 */
import type { Emitter } from '../../core/emitter'
import type { Booted } from '../boot'
import type { OrreryEvents } from './types'

export function forwardEvents(b: Booted, events: Emitter<OrreryEvents>): void {
  // the list's records change with every "waiting" / "synced" flip: a few redraws per second
  let docsQueued = false
  b.peer.repo.events.on('docs-changed', () => {
    if (docsQueued) return
    docsQueued = true
    setTimeout(() => {
      docsQueued = false
      events.emit('docs', undefined)
    }, 100)
  })
  b.sw.events.on('update', () => events.emit('pwa', undefined))
  b.follows.events.on('release', (r) => events.emit('release', r))
  b.follows.events.on('refused', (r) => events.emit('refused', r))
  b.follows.events.on('changed', () => events.emit('follows', undefined))
  const outbox = b.peer.node.services.outbox
  outbox.outbox.events.on('changed', () => events.emit('messages', undefined))
  outbox.inbox.events.on('message', () => events.emit('messages', undefined))
  b.bus.subscribe((m) => {
    if (m.t === 'identity-changed') location.reload()
  })
}
