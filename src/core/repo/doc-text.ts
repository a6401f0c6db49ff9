/**
 * Editors of a document's rich text (src/core/text/rich-text.ts), for DocHandle. An editor opens
 * a `TextSession` on one text object: it reads the spans, edits through the low-level text
 * operations, and is told every change that did not come from itself, as patches in the order
 * they happened. Its own edits come back to it at once (the patches of that edit alone), so it
 * keeps one consistent view without reading the whole text after every keystroke.
 *
 * How the patches are kept apart: each edit is committed as its own change and its patches taken
 * from Automerge at once (`DocHandle.editText`), labelled with the session that made it. The
 * flush hands every group of patches, in order, to every session, which skips its own.
 */
import type { Patch, Prop } from '../automerge'
import { createLogger } from '../log'
import { liftPatches, patchTouches, type Span, type TextOps } from '../text/rich-text'

const log = createLogger('text')

/** Patches made together: by one text edit (`origin`, the session), or by anything else. */
export interface PatchGroup {
  patches: Patch[]
  origin?: TextSession
}

/** What changed in a text, for its editor: patches into it, or "read it again" (`reset`). */
export type TextEvent = { kind: 'patches'; patches: Patch[] } | { kind: 'reset' }

/** What a session needs of its document (DocHandle implements it). */
export interface TextHost {
  /** commits pending local edits and keeps their patches for the next flush */
  settle(): void
  /** the text's spans now (lifted), or [] while there is no text at `keys` */
  readSpans(keys: readonly string[]): Span[]
  /** the patch groups taken from Automerge but not yet handed out */
  pending(): readonly PatchGroup[]
  /** runs `fn` on the text (made if missing) as one signed change; its patches */
  edit(keys: readonly string[], origin: TextSession, fn: (ops: TextOps) => void): Patch[]
  closeSession(session: TextSession): void
  /** why this tab may not write the text at `keys` now, if it may not */
  refusal(keys: readonly string[]): Error | undefined
  /** a cursor at a character index of the text (undefined while there is no text) */
  cursor(keys: readonly string[], index: number): string | undefined
  /** where a cursor is now; undefined while its character has not arrived or is unknown */
  position(keys: readonly string[], cursor: string): number | undefined
}

export class TextSession {
  readonly path: Prop[]
  private listener: ((e: TextEvent) => void) | undefined
  /** groups already reflected in what this session read */
  private seen = new WeakSet<PatchGroup>()
  private closed = false

  constructor(
    private readonly host: TextHost,
    readonly keys: readonly string[],
  ) {
    this.path = [...keys]
  }

  /** The text now (block strings as ImmutableString); later events start from this state. */
  spans(): Span[] {
    this.host.settle()
    for (const g of this.host.pending()) this.seen.add(g)
    return this.host.readSpans(this.keys)
  }

  /**
   * Changes the text (one signed change); throws NOT_A_MEMBER / NOT_ALLOWED / OWNED_PATH as
   * `state.set` does. What the edit did, for this session's own view.
   */
  edit(fn: (ops: TextOps) => void): TextEvent {
    return eventFor(this.host.edit(this.keys, this, fn), this.path)
  }

  /**
   * A stable name for the place before the character at `index` (presence: where this tab's
   * selection is). It follows that character through everyone's edits; `position` finds it.
   */
  cursor(index: number): string | undefined {
    return this.host.cursor(this.keys, index)
  }

  /** Where a cursor (a peer's, from presence) is in the text now, if this replica knows it. */
  position(cursor: string): number | undefined {
    return this.host.position(this.keys, cursor)
  }

  /** Whether this tab may change the text now (a reader's editor is read-only). */
  writable(): boolean {
    return this.host.refusal(this.keys) === undefined
  }

  /** `listener` is told what other sessions, tabs and peers change, in order. */
  onChange(listener: (e: TextEvent) => void): void {
    this.listener = listener
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.listener = undefined
    this.host.closeSession(this)
  }

  /** From the flush: every group, in order; this session's own and those it read are skipped. */
  deliver(groups: readonly PatchGroup[]): void {
    const mine = groups.filter((g) => g.origin !== this && !this.seen.has(g))
    if (mine.length === 0 || this.listener === undefined) return
    const event = eventFor(
      mine.flatMap((g) => g.patches),
      this.path,
    )
    if (event.kind === 'patches' && event.patches.length === 0) return
    try {
      this.listener(event)
    } catch (e) {
      log.error('a text editor threw on a change', e)
    }
  }
}

function eventFor(patches: readonly Patch[], path: readonly Prop[]): TextEvent {
  const inside: Patch[] = []
  for (const p of patches) {
    const t = patchTouches(p, path)
    if (t === 'replaced') return { kind: 'reset' }
    if (t === 'inside') inside.push(p)
  }
  return { kind: 'patches', patches: liftPatches(inside, path) }
}
