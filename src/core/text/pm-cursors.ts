/**
 * Selections between the editor and presence: the editor's positions as Automerge cursors (which
 * name characters, so they survive everyone's edits), and a peer's cursors as positions in the
 * editor's document. Both walk the text's spans; presence does it at most once per send (every
 * 30 ms while the selection moves) and once per peer's change, never per keystroke.
 */
import type { Node } from 'prosemirror-model'
import type { SchemaAdapter } from '@automerge/prosemirror'
import { amSpliceIdxToPmIdx, pmRangeToAmRange } from '@automerge/prosemirror/dist/traversal.js'
import type { TextSession } from '../repo/doc-text'
import type { Span } from './rich-text'

export interface CursorPair {
  anchor: string
  head: string
}

export interface PositionPair {
  anchor: number
  head: number
}

/** The Automerge index where text typed at ProseMirror position `pos` would go. */
export function amIndexAt(adapter: SchemaAdapter, spans: Span[], pos: number): number | undefined {
  try {
    const r = pmRangeToAmRange(adapter, spans as never, { from: pos, to: pos })
    return r === null || r === undefined ? undefined : r.start
  } catch {
    return undefined
  }
}

/** The ProseMirror position of Automerge (splice) index `index`, inside `doc`. */
export function pmPositionAt(
  adapter: SchemaAdapter,
  spans: Span[],
  doc: Node,
  index: number,
): number | undefined {
  try {
    const p = amSpliceIdxToPmIdx(adapter, spans as never, index)
    return p === null ? undefined : Math.max(0, Math.min(p, doc.content.size))
  } catch {
    return undefined
  }
}

/** An editor selection (anchor, head) as cursors into the session's text. */
export function cursorsOf(
  adapter: SchemaAdapter,
  spans: Span[],
  session: TextSession,
  sel: PositionPair,
): CursorPair | undefined {
  const at = (pos: number): string | undefined => {
    const i = amIndexAt(adapter, spans, pos)
    return i === undefined ? undefined : session.cursor(i)
  }
  const anchor = at(sel.anchor)
  const head = sel.head === sel.anchor ? anchor : at(sel.head)
  return anchor === undefined || head === undefined ? undefined : { anchor, head }
}

/**
 * A peer's cursors as positions in `doc` (the editor's document for `spans`); undefined while
 * this replica does not know a character they name (its change has not arrived yet).
 */
export function positionsOf(
  adapter: SchemaAdapter,
  spans: Span[],
  session: TextSession,
  doc: Node,
  cursors: CursorPair,
): PositionPair | undefined {
  const at = (c: string): number | undefined => {
    const i = session.position(c)
    return i === undefined ? undefined : pmPositionAt(adapter, spans, doc, i)
  }
  const anchor = at(cursors.anchor)
  const head = cursors.head === cursors.anchor ? anchor : at(cursors.head)
  return anchor === undefined || head === undefined ? undefined : { anchor, head }
}
