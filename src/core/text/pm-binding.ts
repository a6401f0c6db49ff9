/**
 * Binds a ProseMirror editor to one rich text of a document (a `TextSession`, see
 * src/core/repo/doc-text.ts). Runs without a DOM: ProseMirror's state and transforms are plain
 * objects, so the tests drive two editors over real peers in Node, and the browser's EditorView
 * only adds the screen.
 *
 * - The editor's own transactions become text operations (pm-steps.ts) in one signed change
 *   each; a refused edit (a reader, someone else's owned path) puts the editor back to the text.
 * - Changes from elsewhere arrive as patches and become a ProseMirror transaction
 *   (`@automerge/prosemirror`'s amToPm), which keeps the cursor where it belongs. The binding
 *   keeps the text's spans current from the same patches (maintainSpans), so a keystroke costs
 *   no full read of a 150,000-character text.
 * - When patches cannot be mapped (the text was replaced, or an unexpected shape), the editor is
 *   brought to the text by replacing only the range that differs.
 */
import type { Node } from 'prosemirror-model'
import {
  Plugin,
  PluginKey,
  TextSelection,
  type EditorState,
  type Transaction,
} from 'prosemirror-state'
import type { Step } from 'prosemirror-transform'
import type { SchemaAdapter } from '@automerge/prosemirror'
import amToPm from '@automerge/prosemirror/dist/amToPm.js'
import { patchSpans } from '@automerge/prosemirror/dist/maintainSpans.js'
import { pmDocFromSpans } from '@automerge/prosemirror/dist/traversal.js'
import { createLogger } from '../log'
import type { TextEvent, TextSession } from '../repo/doc-text'
import { applySteps, markFixes, reconcileMarks, type Typed, type TypingAnchor } from './pm-steps'
import type { Span } from './rich-text'
import { textSchema } from './schema'
import { needsRead, renderable } from './span-checks'
import { cursorsOf, positionsOf, type CursorPair, type PositionPair } from './pm-cursors'

const log = createLogger('text')

/** marks a transaction the binding made itself (remote changes, repairs): not sent back */
export const textSyncKey = new PluginKey('orrery-text-sync')

/** What the binding drives: an EditorView, or anything holding an EditorState the same way. */
export interface EditorHost {
  readonly state: EditorState
  dispatch(tr: Transaction): void
}

export class TextBinding {
  readonly plugin: Plugin
  /** the text as the editor shows it, kept current from patches */
  private spans: Span[]
  /** the editor's document for `spans`, while known (a read renders it; a patch makes it stale) */
  private rendered: Node | undefined
  private editor: EditorHost | undefined
  private applying = false
  /** the paragraph last typed in, in both coordinates (pm-steps.ts): cleared by any other change */
  private readonly typing: TypingAnchor = {}
  /** told when a local edit was refused (the editor has been put back) */
  onRefused: ((error: unknown) => void) | undefined

  constructor(
    readonly session: TextSession,
    readonly adapter: SchemaAdapter = textSchema,
  ) {
    const { spans, doc } = renderable(adapter, session.spans())
    this.spans = spans
    this.rendered = doc
    session.onChange((e) => this.fromElsewhere(e))
    this.plugin = new Plugin({
      key: textSyncKey,
      appendTransaction: (trs, _old, state) => this.fromEditor(trs, state),
    })
  }

  get schema() {
    return this.adapter.schema
  }

  /** The document to create the editor's state with (the text now). */
  doc(): Node {
    return (this.rendered ??= pmDocFromSpans(this.adapter, this.spans as never))
  }

  /** What a newly opened editor would show: the text read afresh. */
  fresh(): Node {
    return renderable(this.adapter, this.session.spans()).doc
  }

  /** Reads the text again, in a shape the editor can show (see `renderable`). */
  private read(): void {
    this.typing.value = undefined
    const { spans, doc } = renderable(this.adapter, this.session.spans())
    this.spans = spans
    this.rendered = doc
  }

  /** Where the editor's selection is, as cursors into the text (what presence tells peers). */
  selectionCursors(state: EditorState): CursorPair | undefined {
    const { anchor, head } = state.selection
    return cursorsOf(this.adapter, this.spans, this.session, { anchor, head })
  }

  /** A peer's selection (cursors) as positions in the editor's document `doc` now. */
  positions(cursors: CursorPair, doc: Node): PositionPair | undefined {
    return positionsOf(this.adapter, this.spans, this.session, doc, cursors)
  }

  attach(editor: EditorHost): void {
    this.editor = editor
  }

  close(): void {
    this.editor = undefined
    this.session.close()
  }

  private fromElsewhere(e: TextEvent): void {
    this.typing.value = undefined
    const editor = this.editor
    if (editor === undefined) {
      this.follow(e)
      return
    }
    const state = editor.state
    let tr: Transaction
    // amToPm maps characters and marks well but not every reshaping of blocks, nor every place at
    // a block's start: those are shown by re-reading the text (~50 µs per block, only then)
    if (e.kind === 'reset' || needsRead(this.spans, e.patches, this.session.path)) {
      tr = this.resync(state)
    } else {
      try {
        // amToPm patches `this.spans` as it goes
        this.rendered = undefined
        tr = amToPm(
          this.adapter,
          this.spans as never,
          e.patches as never,
          this.session.path,
          state.tr,
        )
      } catch (err) {
        log.warn('a change could not be mapped into the editor; re-reading the text', err)
        tr = this.resync(state)
      }
    }
    keepCaret(tr, state)
    tr.setMeta(textSyncKey, 'elsewhere').setMeta('addToHistory', false)
    this.applying = true
    try {
      editor.dispatch(tr)
    } finally {
      this.applying = false
    }
  }

  /** Keeps `spans` current from an event (this binding's own edits, or while detached). */
  private follow(e: TextEvent): void {
    if (e.kind === 'patches' && !needsRead(this.spans, e.patches, this.session.path)) {
      try {
        this.rendered = undefined
        for (const p of e.patches) patchSpans(this.session.path, this.spans as never, p as never)
        return
      } catch (err) {
        // maintainSpans does not know every shape of block patch: read the text instead
        log.debug('spans could not follow a patch; re-reading the text', err)
      }
    }
    this.read()
  }

  private fromEditor(trs: readonly Transaction[], state: EditorState): Transaction | null {
    if (this.applying) return null
    const mine = trs.filter((t) => t.docChanged && t.getMeta(textSyncKey) === undefined)
    if (mine.length === 0) return null
    let event: TextEvent
    const typed: Typed[] = []
    try {
      event = this.session.edit((ops) => {
        // each transaction's positions are in the text the previous one left
        const read = (): Span[] => renderable(this.adapter, ops.spans()).spans
        const collect = mine.length === 1 ? typed : undefined
        mine.forEach((t, i) => {
          const spans = i === 0 ? this.spans : read()
          applySteps(
            this.adapter,
            spans,
            t.steps,
            t.docs[0] as Node,
            ops,
            read,
            collect,
            this.typing,
          )
        })
      })
      // typed text that took other marks than the editor gave it (it grew into a neighbour's
      // mark): one more change sets them right
      const fixes = event.kind === 'patches' ? markFixes(this.adapter, typed, event.patches) : []
      if (fixes.length > 0) {
        this.follow(event)
        event = this.session.edit((ops) => {
          for (const f of fixes)
            reconcileMarks(this.adapter, ops, f.start, f.length, f.node, f.current)
        })
      }
    } catch (err) {
      this.onRefused?.(err)
      return this.mark(this.resync(state))
    }
    // a structural step went through updateSpans, which may shape blocks differently from what
    // the editor made (a new paragraph becomes a block marker): show the text as it now is
    const structural = mine.some((t) => t.steps.some((s, i) => !isTyping(s, t.docs[i] as Node)))
    if (!structural && event.kind === 'patches') {
      this.follow(event)
      return null
    }
    const tr = this.resync(state)
    return tr.docChanged ? this.mark(tr) : null
  }

  /** A transaction that brings the editor to the text as it is (only the range that differs). */
  private resync(state: EditorState): Transaction {
    this.read()
    return replaceDifference(state.tr, state.doc, this.doc())
  }

  private mark(tr: Transaction): Transaction {
    return tr.setMeta(textSyncKey, 'repair').setMeta('addToHistory', false)
  }
}

/**
 * A step that types, deletes or marks characters inside one paragraph, not at its start: mapped
 * exactly, nothing to repair. (At a block's start `@automerge/prosemirror` may map the position
 * to the wrong side of the block marker.)
 */
function isTyping(step: Step, before: Node): boolean {
  const json = step.toJSON() as { stepType: string; from: number; to: number }
  if (json.stepType !== 'replace' && json.stepType !== 'addMark' && json.stepType !== 'removeMark')
    return false
  const $from = before.resolve(json.from)
  if ($from.parentOffset === 0 || $from.parent !== before.resolve(json.to).parent) return false
  if (json.stepType !== 'replace') return true
  const content = (step as unknown as { slice: { content: Node['content'] } }).slice.content
  return (
    content.childCount === 0 || (content.childCount === 1 && content.firstChild?.isText === true)
  )
}

/**
 * Keeps the person's caret before text someone else inserted exactly where it stands (ProseMirror
 * would move it after). Their next keystroke then follows their own last character, so two people
 * typing at one place each keep their words whole instead of interleaving letter by letter.
 */
function keepCaret(tr: Transaction, before: EditorState): void {
  const sel = before.selection
  if (!(sel instanceof TextSelection) || !tr.docChanged) return
  const map = (pos: number, assoc: number): number => tr.mapping.map(pos, assoc)
  const [anchor, head] = sel.empty
    ? [map(sel.anchor, -1), map(sel.head, -1)]
    : sel.anchor < sel.head
      ? [map(sel.anchor, 1), map(sel.head, -1)]
      : [map(sel.anchor, -1), map(sel.head, 1)]
  try {
    tr.setSelection(TextSelection.create(tr.doc, anchor, head))
  } catch {
    // a position that no longer holds text: ProseMirror's own mapping stands
  }
}

/** Replaces in `tr` only the part of `from` that differs from `to` (so the cursor stays put). */
export function replaceDifference(tr: Transaction, from: Node, to: Node): Transaction {
  const start = from.content.findDiffStart(to.content)
  if (start === null) return tr
  const end = from.content.findDiffEnd(to.content)
  if (end === null) return tr
  let { a: endA, b: endB } = end
  const overlap = start - Math.min(endA, endB)
  if (overlap > 0) {
    endA += overlap
    endB += overlap
  }
  return tr.replace(start, endA, to.slice(start, endB))
}
