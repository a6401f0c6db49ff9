/**
 * What one tab tells the peers of a document about itself: that it is here, the name it goes by,
 * and where its cursor and selection are in one of the document's texts. Ephemeral: it travels in
 * PRESENCE frames of the sync session (sync/messages.ts) to the peers the document syncs with,
 * and is never written into the document.
 *
 * A selection is two Automerge cursors (`getCursor`): they name the characters they sit next to,
 * not offsets, so they stay right while either side edits, and a peer that has not yet received
 * the character a cursor names resolves it once the change arrives.
 */
import { err, ok, ProtocolError, type Result } from '../errors'
import type { Reader, Writer } from '../wire/codec'

/** where a selection is: the text's path in the document, and its two ends as cursors */
export interface PresenceSelection {
  /** the keys of the text object (`DocHandle.openText`'s) */
  path: string[]
  anchor: string
  head: string
}

export interface PresenceState {
  /** increases with every state a tab sends about a document; older ones are ignored */
  seq: number
  /** false: the tab left the document (closed it, or the page went away) */
  here: boolean
  /** the name the person chose for themselves ('' when none); the space's record wins */
  name: string
  selection?: PresenceSelection
}

/** a name of up to 100 characters (a space's member names, and the shell's field, allow that) */
export const MAX_PRESENCE_NAME_BYTES = 400
export const MAX_PRESENCE_PATH_KEYS = 8
export const MAX_PRESENCE_KEY_BYTES = 64
/** an Automerge cursor is an op id (`<counter>@<actor hex>`): well under this */
export const MAX_CURSOR_BYTES = 160

const HERE = 1
const SELECTION = 2

export function writePresenceState(w: Writer, s: PresenceState): void {
  w.varint(s.seq)
  w.u8((s.here ? HERE : 0) | (s.selection === undefined ? 0 : SELECTION))
  w.string(s.name)
  const sel = s.selection
  if (sel === undefined) return
  w.varint(sel.path.length)
  for (const k of sel.path) w.string(k)
  w.string(sel.anchor).string(sel.head)
}

export function readPresenceState(r: Reader): PresenceState {
  const seq = r.varint()
  const flags = r.u8()
  if ((flags & ~(HERE | SELECTION)) !== 0) r.fail(`unknown presence flags ${flags}`)
  const name = r.string(MAX_PRESENCE_NAME_BYTES)
  const state: PresenceState = { seq, here: (flags & HERE) !== 0, name }
  if ((flags & SELECTION) === 0) return state
  const n = r.varint(MAX_PRESENCE_PATH_KEYS)
  const path: string[] = []
  for (let i = 0; i < n && r.error === undefined; i++) path.push(r.string(MAX_PRESENCE_KEY_BYTES))
  state.selection = { path, anchor: r.string(MAX_CURSOR_BYTES), head: r.string(MAX_CURSOR_BYTES) }
  return state
}

const encoder = new TextEncoder()
const utf8Length = (s: string): number => encoder.encode(s).length

/**
 * Checks a state before it is sent (what the decoder would refuse is a bug here, not the
 * peer's): sizes, and a name without control characters.
 */
export function checkPresenceState(s: PresenceState): Result<PresenceState, ProtocolError> {
  const bad = (why: string) => err(new ProtocolError('MALFORMED_MESSAGE', `presence: ${why}`))
  if (!Number.isSafeInteger(s.seq) || s.seq < 0) return bad('bad sequence number')
  if (utf8Length(s.name) > MAX_PRESENCE_NAME_BYTES) return bad('name too long')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(s.name)) return bad('control characters in the name')
  const sel = s.selection
  if (sel === undefined) return ok(s)
  if (sel.path.length > MAX_PRESENCE_PATH_KEYS) return bad('path too deep')
  if (sel.path.some((k) => utf8Length(k) > MAX_PRESENCE_KEY_BYTES)) return bad('key too long')
  if (utf8Length(sel.anchor) > MAX_CURSOR_BYTES || utf8Length(sel.head) > MAX_CURSOR_BYTES)
    return bad('cursor too long')
  return ok(s)
}
