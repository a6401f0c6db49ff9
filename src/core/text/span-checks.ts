/**
 * Checks on the spans a ProseMirror binding keeps (pm-binding.ts): which changes it may map
 * incrementally with `@automerge/prosemirror`, and which shapes the editor can show. The library
 * maps characters and marks well, but places some positions at block edges in the wrong block and
 * keeps some deletions wrong in its spans; the random editing test (test/text-convergence) found
 * each case below, and the binding reads the text afresh for them instead.
 */
import { next as A } from '@automerge/automerge/slim'
import type { SchemaAdapter } from '@automerge/prosemirror'
import { patchSpans } from '@automerge/prosemirror/dist/maintainSpans.js'
import { pmDocFromSpans } from '@automerge/prosemirror/dist/traversal.js'
import type { Node } from 'prosemirror-model'
import type { Patch, Prop } from '../automerge'
import { createLogger } from '../log'
import type { Span } from './rich-text'

const log = createLogger('text')

/**
 * `spans`, or, when the schema cannot show their block structure (concurrent edits can merge
 * list nesting into a shape no editor made: `@automerge/prosemirror` then throws), the same
 * characters and block markers with the nesting dropped, or else every block a paragraph. Only
 * blocks' `parents` and `type` change, never an index, so edits still land where they belong;
 * the next structural edit writes the simplified shape back. With the editor's document for them
 * (rendering is how the shape is tried: ~18 ms for 2,000 paragraphs, not to be done twice).
 */
export function renderable(adapter: SchemaAdapter, spans: Span[]): { spans: Span[]; doc: Node } {
  const flat = (): Span[] =>
    reshape(spans, () => ({ type: new A.ImmutableString('paragraph'), parents: [], attrs: {} }))
  const tries = [spans, reshape(spans, (v) => ({ ...v, parents: [] }))]
  for (const [i, candidate] of tries.entries()) {
    try {
      const doc = pmDocFromSpans(adapter, candidate as never)
      if (i > 0) log.warn('the text has a block structure the editor cannot show; simplified')
      return { spans: candidate, doc }
    } catch {
      // next, simpler shape
    }
  }
  log.warn('the text has a block structure the editor cannot show; every block a paragraph')
  const simplest = flat()
  return { spans: simplest, doc: pmDocFromSpans(adapter, simplest as never) }
}

function reshape(
  spans: Span[],
  f: (v: Record<string, unknown>) => Record<string, unknown>,
): Span[] {
  return spans.map((s) => (s.type === 'block' ? { type: 'block', value: f(s.value) as never } : s))
}

/**
 * Whether `patches` need the text read again rather than mapped by amToPm: they change blocks
 * (insert, delete or alter a block marker), or they begin or end where `@automerge/prosemirror`
 * maps positions into the wrong block (see `ambiguous`). Each patch is checked against the spans
 * as they are when it applies.
 */
export function needsRead(
  spans: Span[],
  patches: readonly Patch[],
  path: readonly Prop[],
): boolean {
  for (const p of patches) {
    if (p.action === 'mark' && p.path.length === path.length) continue
    if (p.path.length !== path.length + 1) return true
    if (p.action !== 'del' && p.action !== 'splice') return true
  }
  const copy = spans.map((s) =>
    s.type === 'text' ? { ...s, ...(s.marks === undefined ? {} : { marks: { ...s.marks } }) } : s,
  )
  for (const p of patches) {
    if (p.action === 'mark') {
      if (p.marks.some((m) => ambiguous(copy, m.start) || ambiguous(copy, m.end))) return true
    } else {
      const index = p.path[path.length] as number
      if (ambiguous(copy, index)) return true
      // maintainSpans mangles a deletion over several spans (marks change inside it)
      if (p.action === 'del' && !inOneSpan(copy, index, p.length ?? 1)) return true
    }
    patchSpans(path as Prop[], copy as never, p as never)
  }
  return false
}

/**
 * A text index amToPm may place in the wrong block: the very start, just after a block marker
 * (an empty list item, text before the first marker), or just before a marker that opens an
 * empty block or a nested one (the editor shows the nesting as list items no marker stands
 * for). The end of a paragraph followed by a paragraph, where people type most, is not.
 */
function ambiguous(spans: readonly Span[], index: number): boolean {
  if (index === 0) return true
  let at = 0
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i] as Span
    const length = s.type === 'block' ? 1 : s.value.length
    if (at + length === index) {
      if (s.type === 'block') return true
      const next = spans[i + 1]
      const after = spans[i + 2]
      if (next?.type !== 'block') return false
      const parents = (next.value as { parents?: unknown }).parents
      return (
        after === undefined ||
        after.type === 'block' ||
        (Array.isArray(parents) && parents.length > 0)
      )
    }
    if (at + length > index) return false
    at += length
  }
  return false
}

/** Whether characters [index, index + length) all lie inside one text span. */
function inOneSpan(spans: readonly Span[], index: number, length: number): boolean {
  let at = 0
  for (const s of spans) {
    const size = s.type === 'block' ? 1 : s.value.length
    if (index < at + size) return s.type === 'text' && index + length <= at + size
    at += size
  }
  return false
}
