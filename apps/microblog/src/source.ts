import type { DocSyncState } from '../../../src/core/apps/api'

/** "just now", "2 minutes ago", "3 hours ago"… */
export function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 60) return 'just now'
  const m = Math.round(s / 60)
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`
  const h = Math.round(m / 60)
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`
  const d = Math.round(h / 24)
  return `${d} day${d === 1 ? '' : 's'} ago`
}

/**
 * Where the community's posts on screen came from, in one line: live with a member, from the
 * mirror (nobody else online), or what is still waiting. Undefined when there is nothing true
 * to say yet (the feed says it: loading, waiting for someone who has it).
 */
export function sourceText(
  s: DocSyncState | undefined,
  name: (did: string) => string,
  now = Date.now(),
): string | undefined {
  if (s === undefined || !s.here) return undefined
  const waiting = s.waiting === 1 ? '1 change' : `${s.waiting} changes`
  switch (s.state) {
    case 'synced': {
      const who = s.confirmed === undefined ? 'a member' : name(s.confirmed.with)
      return s.peers > 0
        ? `Live with ${who}`
        : `Last synced with ${who} ${s.confirmed === undefined ? '' : ago(s.confirmed.at, now)}`.trim()
    }
    case 'mirrored': {
      const when = s.mirrored === undefined ? '' : `, ${ago(s.mirrored.at, now)}`
      const rest = s.waiting > 0 ? ` · ${waiting} of yours not yet with a member` : ''
      return `From the mirror${when}; no member online${rest}`
    }
    case 'waiting':
      return `${waiting} of yours waiting to be shared`
    case 'offline':
      return s.waiting > 0 ? `Offline · ${waiting} of yours waiting` : 'Offline'
    case 'local':
      return 'Only in this browser so far'
    default:
      return undefined
  }
}
