/**
 * ProseMirror steps into Automerge text operations: `@automerge/prosemirror`'s pmToAm, rewritten
 * against Orrery's low-level text operations (`TextOps`) instead of the JS layer's document
 * proxy. Typing (a replace step holding one text node) and marks become `splice`/`mark`/`unmark`
 * at the mapped index; anything structural (a new paragraph, a heading, a list) rewrites the text
 * to the step's result with `updateSpans`, which changes only what differs.
 */
import type { MarkType, Node } from 'prosemirror-model'
import type { AddMarkStep, RemoveMarkStep, ReplaceStep, Step } from 'prosemirror-transform'
import type { SchemaAdapter } from '@automerge/prosemirror'
import { pmNodeToSpans, pmRangeToAmRange } from '@automerge/prosemirror/dist/traversal.js'
import { amMarksFromPmMarks } from '@automerge/prosemirror/dist/schema.js'
import { OrreryError } from '../errors'
import type { Patch } from '../automerge'
import type { Span, TextOps, UpdateSpansConfig } from './rich-text'

type Expand = 'after' | 'none'

/**
 * How a mark grows when text is typed at its edges, as ProseMirror has it: an inclusive mark
 * (bold, italic, code) continues at its end, a link does not; none grows at its start. (Not the
 * 'both' `@automerge/prosemirror` uses: Automerge's marksAt then misreports a character typed just
 * before a mark, and the typed text silently took the mark.)
 */
export function expandOf(type: MarkType): Expand {
  return type.spec.inclusive === false ? 'none' : 'after'
}

/** `updateSpans`' settings with the same growth per mark. */
export function spansConfig(adapter: SchemaAdapter): UpdateSpansConfig {
  const perMarkExpand: Record<string, Expand> = {}
  for (const m of adapter.markMappings)
    perMarkExpand[m.automergeMarkName] = expandOf(m.prosemirrorMark)
  return { defaultExpand: 'after', perMarkExpand }
}

/**
 * Where the paragraph last typed in starts, in both coordinates (`pmFirst`: its first position in
 * the editor; `amFirst`: that place in the text). Typing there maps by offset instead of walking
 * the text from its start (~4 ms per keystroke in a 50-page page). Valid while every edit since
 * was typing or marks inside that paragraph; the binding clears it on anything else.
 */
export interface TypingAnchor {
  value?: { pmFirst: number; amFirst: number }
}

/** Text one step typed: where it went, and the node (its marks) the editor gave it. */
export interface Typed {
  start: number
  length: number
  node: Node
}

/**
 * Applies `steps` (from `pmDoc`) to the text; `spans` is the text before them, `read` reads it
 * again (between steps, whose positions are in the text the previous one left). With `typed`,
 * a lone typing step leaves its marks to be checked against the edit's patch (`markFixes`)
 * instead of reading every mark of the text now.
 */
export function applySteps(
  adapter: SchemaAdapter,
  spans: Span[],
  steps: readonly Step[],
  pmDoc: Node,
  ops: TextOps,
  read: () => Span[],
  typed?: Typed[],
  anchor: TypingAnchor = {},
): void {
  const collect = steps.length === 1 ? typed : undefined
  let marks: AddMarkStep[] = []
  const flushMarks = (): void => {
    if (marks.length > 0) addMarks(adapter, spans, marks, ops)
    marks = []
  }
  steps.forEach((step, i) => {
    const kind = stepType(step)
    if (kind === 'addMark') {
      marks.push(step as AddMarkStep)
      return
    }
    flushMarks()
    if (kind === 'replace')
      replace(adapter, spans, step as ReplaceStep, pmDoc, ops, read, collect, anchor)
    else if (kind === 'removeMark') removeMark(adapter, spans, step as RemoveMarkStep, ops)
    else {
      anchor.value = undefined
      rewrite(adapter, step, pmDoc, ops) // replaceAround, attrs, and anything new
    }
    const next = step.apply(pmDoc).doc
    if (next === null) throw new OrreryError('INVALID_VALUE', 'a ProseMirror step did not apply')
    pmDoc = next
    // the next step's positions are in the text after this one (read only when there is one)
    if (i < steps.length - 1) spans = read()
  })
  flushMarks()
}

const stepType = (step: Step): string => (step.toJSON() as { stepType: string }).stepType

function amRange(adapter: SchemaAdapter, spans: Span[], from: number, to: number) {
  const r = pmRangeToAmRange(adapter, spans as never, { from, to })
  if (r === null || r === undefined) {
    throw new OrreryError('INVALID_VALUE', `no text at ProseMirror range ${from}-${to}`)
  }
  return r.start <= r.end ? r : { start: r.end, end: r.start }
}

function rewrite(adapter: SchemaAdapter, step: Step, pmDoc: Node, ops: TextOps): void {
  const applied = step.apply(pmDoc).doc
  if (applied === null) throw new OrreryError('INVALID_VALUE', 'a ProseMirror step did not apply')
  ops.updateSpans(pmNodeToSpans(adapter, applied) as never, spansConfig(adapter))
}

function replace(
  adapter: SchemaAdapter,
  spans: Span[],
  step: ReplaceStep,
  pmDoc: Node,
  ops: TextOps,
  read: () => Span[],
  typed: Typed[] | undefined,
  anchor: TypingAnchor,
): void {
  const only = step.slice.content.childCount === 1 ? step.slice.content.firstChild : null
  if (only?.isText !== true && step.slice.content.childCount > 0) {
    anchor.value = undefined
    rewrite(adapter, step, pmDoc, ops)
    return
  }
  const $from = pmDoc.resolve(step.from)
  const inParagraph = $from.parent.isTextblock && $from.sameParent(pmDoc.resolve(step.to))
  const first = $from.start()
  const known = inParagraph && anchor.value?.pmFirst === first ? anchor.value : undefined
  let { start, end } =
    known !== undefined
      ? { start: known.amFirst + step.from - first, end: known.amFirst + step.to - first }
      : amRange(adapter, spans, step.from, step.to)
  // the spans this binding keeps can be off (a shape maintainSpans got wrong): if the place does
  // not follow the characters the editor has before it, map again from the text itself
  if (!landsRight(step, pmDoc, ops, start))
    ({ start, end } = amRange(adapter, read(), step.from, step.to))
  anchor.value = inParagraph ? { pmFirst: first, amFirst: start - (step.from - first) } : undefined
  const text = only?.text ?? ''
  ops.splice(start, end - start, text)
  if (only === null || text.length === 0) return
  if (typed !== undefined) typed.push({ start, length: text.length, node: only })
  else reconcileMarks(adapter, ops, start, text.length, only)
}

/**
 * Whether `at`, where the step's start maps, comes right after the characters the editor has
 * before that place (up to 8 of its paragraph). One character is not enough: in "orrery" two
 * places have an "r" before them.
 */
function landsRight(step: ReplaceStep, pmDoc: Node, ops: TextOps, at: number): boolean {
  const $from = pmDoc.resolve(step.from)
  if (!$from.parent.isTextblock || $from.parentOffset === 0) return true
  const n = Math.min($from.parentOffset, 8)
  const before = $from.parent.textBetween(
    $from.parentOffset - n,
    $from.parentOffset,
    undefined,
    '\ufffc',
  )
  let got = ''
  for (let i = at - 1; i >= 0 && got.length < before.length; i--) {
    const c = ops.charAt(i)
    if (c === undefined) return false
    got = c + got
    if (c.length > 1) i-- // a character outside the basic plane reads whole at both its indices
  }
  return got.slice(-before.length) === before
}

/** The inserted text carries exactly its node's marks, whatever it inherited from its place. */
export function reconcileMarks(
  adapter: SchemaAdapter,
  ops: TextOps,
  start: number,
  length: number,
  node: Node,
  current: Record<string, unknown> = ops.marksAt(start) as Record<string, unknown>,
): void {
  const wanted = amMarksFromPmMarks(adapter, node.marks) as Record<string, unknown>
  const range = (expand: Expand) => ({ start, end: start + length, expand })
  for (const [name, value] of Object.entries(wanted)) {
    if (current[name] === value) continue
    const type = node.marks.find((m) => m.type.name === name)?.type
    ops.mark(range(type === undefined ? 'after' : expandOf(type)), name, value as string | boolean)
  }
  for (const name of Object.keys(current)) {
    const known = adapter.markMappings.some((m) => m.automergeMarkName === name)
    if (known && !(name in wanted)) ops.unmark(range('none'), name)
  }
}

/**
 * The typed text whose marks in the document (as the edit's splice patch reports them) differ
 * from the editor's, with the marks it got: usually none, so typing costs no read of the marks.
 */
export function markFixes(
  adapter: SchemaAdapter,
  typed: readonly Typed[],
  patches: readonly Patch[],
): (Typed & { current: Record<string, unknown> | undefined })[] {
  const out: (Typed & { current: Record<string, unknown> | undefined })[] = []
  for (const t of typed) {
    const p = patches.find(
      (x) => x.action === 'splice' && x.path.at(-1) === t.start && x.value.length === t.length,
    )
    if (p === undefined || p.action !== 'splice') {
      out.push({ ...t, current: undefined }) // not found: read the marks
      continue
    }
    const current: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(p.marks ?? {})) if (v !== null) current[k] = v
    const wanted = amMarksFromPmMarks(adapter, t.node.marks) as Record<string, unknown>
    const names = new Set([...Object.keys(current), ...Object.keys(wanted)])
    if ([...names].some((n) => current[n] !== wanted[n])) out.push({ ...t, current })
  }
  return out
}

function markValue(step: AddMarkStep): string | boolean {
  return step.mark.type.name === 'link' ? JSON.stringify(step.mark.attrs) : true
}

function addMarks(adapter: SchemaAdapter, spans: Span[], steps: AddMarkStep[], ops: TextOps): void {
  interface Pending {
    start: number
    end: number
    name: string
    expand: Expand
    value: string | boolean
  }
  const grouped: Pending[] = []
  for (const step of steps) {
    const { start, end } = amRange(adapter, spans, step.from, step.to)
    const mark: Pending = {
      start,
      end,
      name: step.mark.type.name,
      expand: expandOf(step.mark.type),
      value: markValue(step),
    }
    // one mark over several paragraphs is one step per paragraph: merge them back over the
    // block marker between them
    const last = grouped.at(-1)
    const joins =
      last !== undefined &&
      last.name === mark.name &&
      last.expand === mark.expand &&
      last.value === mark.value &&
      mark.start - last.end <= 1
    if (joins) last.end = mark.end
    else grouped.push(mark)
  }
  for (const m of grouped)
    ops.mark({ start: m.start, end: m.end, expand: m.expand }, m.name, m.value)
}

function removeMark(
  adapter: SchemaAdapter,
  spans: Span[],
  step: RemoveMarkStep,
  ops: TextOps,
): void {
  const { start, end } = amRange(adapter, spans, step.from, step.to)
  ops.unmark({ start, end, expand: expandOf(step.mark.type) }, step.mark.type.name)
}
