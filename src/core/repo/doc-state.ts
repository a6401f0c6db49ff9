/**
 * A document's sync state, computed from facts: the one answer the shell's top bar, its
 * document list and editor, and apps all read (`window.orrery.docs.state`, an app's
 * `docState`). Pure: no clock, no I/O; the facts come from the DocHandle (what arrived from
 * whom, who confirmed what), the repo's records (changes waiting, the last confirmation) and the
 * network (relay link, the document's discovery topic, direct peers).
 *
 * The states, in the order they are decided:
 *
 *   locked   this tab holds no read key for the document (a link from before keys, an id typed
 *            by hand): it is neither announced nor served, and nobody will send it
 *   loading  a peer told us heads we do not have (or its changes are being applied): from whom,
 *            and how much has arrived from them so far
 *   unknown  nothing of the document is here, and nobody reachable has it (yet): "waiting for
 *            someone who has this"; `searching` while the relay or attached peers may still answer
 *   offline  no relay link and no direct peer; `waiting` says how many local changes are stuck
 *   waiting  local changes that no peer has confirmed: `waiting` of them
 *   synced   a peer told us heads that include every change we have, and nothing changed here
 *            since: with whom, when
 *   mirrored an always-on mirror acknowledged every change we have (mirror/mirror-sync.ts), and
 *            no peer confirmed them: safe while everyone sleeps, "on the mirror since…"; it also
 *            wins over `waiting` (the changes no peer has are on the mirror)
 *   local    here, nothing waiting, but no peer has confirmed these heads (a new document nobody
 *            opened yet, changes that came from another tab of this browser)
 */
import { sameHeads } from '../heads'

/** How far a document is known to be shared. */
export type DocSyncKind =
  'locked' | 'unknown' | 'loading' | 'offline' | 'waiting' | 'synced' | 'mirrored' | 'local'

export type RelayLinkState = 'connecting' | 'connected' | 'offline'

/** What one attached peer (a sync session) has told us about the document. */
export interface PeerSyncFacts {
  /** libp2p peer id of the remote tab */
  peer: string
  /** the remote person's identity (did:key) when known, else the peer id */
  who: string
  /** it has sent at least one sync message for this document */
  heard: boolean
  /** the heads it last told us were non-empty: it holds something of the document */
  hasContent: boolean
  /** it told us heads we do not have (yet) */
  ahead: boolean
  /** messages from it that are not applied yet */
  pending: boolean
  /** changes and bytes of changes it sent us for this document (this session) */
  changes: number
  bytes: number
}

export interface Confirmation {
  /** identity (did:key) when known, else the peer id */
  with: string
  /** ms since the epoch */
  at: number
  /** our heads that the peer confirmed having */
  heads: string[]
}

export interface DocFacts {
  id: string
  /** our heads after the last flush (empty: nothing of the document is here) */
  heads: string[]
  /** the document was made in this browser (empty is then its true content) */
  createdHere: boolean
  /** local changes no peer has confirmed yet (the repo's record: one count everywhere) */
  waiting: number
  /** the peers this document is syncing with now */
  peers: PeerSyncFacts[]
  /** the last time a peer confirmed all of our heads (kept across reloads) */
  confirmation: Confirmation | undefined
  /** the link to the relay (discovery) */
  relay: RelayLinkState
  /** this tab holds the document's read key (without it, nothing is announced or served) */
  keyed: boolean
  /** the relay answered our JOIN of the document's topic */
  topicAnswered: boolean
  /** peers the relay says have the document open */
  topicMembers: number
  /** remote tabs we have a direct (sync) connection with, for any document */
  directPeers: number
  /** what the tab's mirror said of the document (undefined: this tab has no mirror) */
  mirror?: MirrorFacts
}

export interface MirrorFacts {
  /** the mirror answered a pull of the document in this session */
  answered: boolean
  /** the last time the mirror held every change up to these heads of ours */
  confirmed: { at: number; heads: string[] } | undefined
}

export interface DocSyncState {
  id: string
  state: DocSyncKind
  /** something of the document is here (stored or received) */
  here: boolean
  /** local changes no peer has confirmed: "N changes waiting" */
  waiting: number
  /** peers syncing this document now */
  peers: number
  /** peers the relay says have this document open */
  topicMembers: number
  /** unknown: the relay or an attached peer may still answer (else nobody reachable has it) */
  searching: boolean
  /** loading: from whom (identities or peer ids) and what has arrived from them so far */
  loading?: { from: string[]; changes: number; bytes: number }
  /** the last confirmation by a peer; `state` is 'synced' while it covers our current heads */
  confirmed?: { with: string; at: number }
  /** when the mirror last acknowledged all of our changes, while that is still true */
  mirrored?: { at: number }
}

/** The sync state the facts add up to (see the module comment for each state). */
export function computeDocState(f: DocFacts): DocSyncState {
  const here = f.heads.length > 0
  const offline = f.relay !== 'connected' && f.relay !== 'connecting' && f.directPeers === 0
  const onMirror =
    here && f.mirror?.confirmed !== undefined && sameHeads(f.mirror.confirmed.heads, f.heads)
  const base = {
    id: f.id,
    here,
    waiting: f.waiting,
    peers: f.peers.length,
    topicMembers: f.topicMembers,
    searching: false,
    ...(f.confirmation === undefined
      ? {}
      : { confirmed: { with: f.confirmation.with, at: f.confirmation.at } }),
    ...(onMirror ? { mirrored: { at: f.mirror?.confirmed?.at ?? 0 } } : {}),
  }
  if (!f.keyed) return { ...base, state: 'locked' }
  const sending = f.peers.filter((p) => p.ahead || (p.pending && p.changes > 0))
  if (sending.length > 0) {
    return {
      ...base,
      state: 'loading',
      loading: {
        from: sending.map((p) => p.who),
        changes: sending.reduce((n, p) => n + p.changes, 0),
        bytes: sending.reduce((n, p) => n + p.bytes, 0),
      },
    }
  }
  if (!here && !f.createdHere) {
    if (offline) return { ...base, state: 'offline' }
    const searching =
      f.relay === 'connecting' ||
      (f.relay === 'connected' && !f.topicAnswered) ||
      f.peers.some((p) => !p.heard) ||
      (f.mirror !== undefined && !f.mirror.answered)
    return { ...base, state: 'unknown', searching }
  }
  if (f.waiting > 0)
    return { ...base, state: onMirror ? 'mirrored' : offline ? 'offline' : 'waiting' }
  if (here && f.confirmation !== undefined && sameHeads(f.confirmation.heads, f.heads))
    return { ...base, state: 'synced' }
  if (onMirror) return { ...base, state: 'mirrored' }
  if (offline) return { ...base, state: 'offline' }
  return { ...base, state: 'local' }
}

/** Summing the documents' states for the top bar: what "all synced" may claim. */
export interface SyncSummary {
  /** changes waiting in every document this tab knows (the sum the document list shows) */
  waiting: number
  /** open documents by state */
  docs: Partial<Record<DocSyncKind, number>>
}

export function summarize(waiting: number, states: Iterable<DocSyncState>): SyncSummary {
  const docs: Partial<Record<DocSyncKind, number>> = {}
  for (const s of states) {
    if (s.state === 'local' && !s.here) continue // a new, empty document: nothing to confirm
    docs[s.state] = (docs[s.state] ?? 0) + 1
  }
  return { waiting, docs }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

const kib = (bytes: number): string => `${(bytes / 1024).toFixed(bytes < 10_240 ? 1 : 0)} KiB`

const shortId = (id: string): string => (id.length > 12 ? `…${id.slice(-8)}` : id)

/** One line for people: what the shell's document editor shows. */
export function describeDocState(s: DocSyncState, now = Date.now()): string {
  const confirmed =
    s.confirmed === undefined
      ? ''
      : `synced with ${shortId(s.confirmed.with)} ${when(s.confirmed.at, now)}`
  switch (s.state) {
    case 'locked':
      return 'no key for this document here: open it from a share link'
    case 'unknown':
      return `waiting for someone who has this${s.searching ? ' (looking…)' : ''}`
    case 'loading': {
      const l = s.loading
      const from = l === undefined ? '' : ` from ${l.from.map(shortId).join(', ')}`
      const got = l === undefined || l.bytes === 0 ? '' : `: ${kib(l.bytes)} received`
      return `loading${from}${got}`
    }
    case 'offline':
      return s.waiting > 0
        ? `offline · ${plural(s.waiting, 'change')} waiting`
        : s.here
          ? `offline${confirmed === '' ? '' : ` · last ${confirmed}`}`
          : 'offline: waiting for someone who has this'
    case 'waiting':
      return `${plural(s.waiting, 'change')} waiting for a peer`
    case 'synced':
      return confirmed
    case 'mirrored': {
      const at = s.mirrored === undefined ? '' : ` ${ago(s.mirrored.at, now)}`
      const rest =
        s.waiting > 0
          ? ` · no peer has ${plural(s.waiting, 'change')} yet`
          : confirmed === ''
            ? ''
            : ` · last ${confirmed}`
      return `on the mirror${at}${rest}`
    }
    case 'local':
      return s.here ? 'only here: no peer has confirmed it yet' : 'new: only here so far'
  }
}

/** "just now", "2 minutes ago", "3 hours ago"… */
function ago(at: number, now: number): string {
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 60) return 'just now'
  const m = Math.round(s / 60)
  if (m < 60) return `${plural(m, 'minute')} ago`
  const h = Math.round(m / 60)
  return h < 48 ? `${plural(h, 'hour')} ago` : `${plural(Math.round(h / 24), 'day')} ago`
}

function when(at: number, now: number): string {
  const d = new Date(at)
  const sameDay = new Date(now).toDateString() === d.toDateString()
  return sameDay ? `at ${d.toLocaleTimeString()}` : `on ${d.toLocaleString()}`
}

/** The top bar's chip: "all synced" only when every open document is confirmed or empty-new. */
export function describeSummary(s: SyncSummary): { text: string; ok: boolean } {
  const mirrored = s.docs.mirrored ?? 0
  const stuck = (s.docs.waiting ?? 0) + (s.docs.offline ?? 0)
  // changes no peer has, all of them on the mirror: safe, and said so
  if (s.waiting > 0 && mirrored > 0 && stuck === 0)
    return { text: `${plural(s.waiting, 'change')} on the mirror, not yet with a peer`, ok: true }
  if (s.waiting > 0) return { text: `${plural(s.waiting, 'change')} waiting`, ok: false }
  const unknown = s.docs.unknown ?? 0
  if (unknown > 0)
    return {
      text: `waiting for someone who has ${unknown === 1 ? 'a document' : `${unknown} documents`}`,
      ok: false,
    }
  const loading = s.docs.loading ?? 0
  if (loading > 0) return { text: `loading ${plural(loading, 'document')}`, ok: false }
  const offline = s.docs.offline ?? 0
  if (offline > 0) return { text: 'offline', ok: false }
  const local = s.docs.local ?? 0
  if (local > 0) return { text: `${plural(local, 'document')} not confirmed by a peer`, ok: false }
  if (mirrored > 0)
    return { text: `all saved (${plural(mirrored, 'document')} on the mirror only)`, ok: true }
  return { text: 'all synced', ok: true }
}
