/**
 * Rich text in a low-level Automerge document: a text object at a path of map keys, holding
 * characters, marks (bold, links…) and block markers (paragraph, heading, list item…), the
 * structure of Automerge's rich-text schema. Editors see it as spans (`Span[]`) and follow it by
 * patches.
 *
 * One wrinkle: the schema keeps a block's `type` and `parents` as scalar strings, which
 * Automerge's JS layer (and `@automerge/prosemirror`, built on it) represents as
 * `ImmutableString`; the low-level API Orrery uses turns a plain JS string inside an object into
 * a collaborative text object instead (one op per character, and not the schema). Writes of block
 * values therefore run with Automerge's `str` datatype registered (`withScalarStrings`), and what
 * editors read has block strings lifted to `ImmutableString` (`liftSpans`, `liftPatches`).
 */
import { next as A } from '@automerge/automerge/slim'
import type { AutomergeDoc, Patch, Prop } from '../automerge'
import { PathConflictError, InvalidPathError } from '../errors'
import type { MarkRange, MarkSet, Span, UpdateSpansConfig } from 'automerge-wasm'

export type { MarkRange, MarkSet, Span, UpdateSpansConfig }

/** Runs `f` with ImmutableString written (and read) as Automerge scalar strings. */
export function withScalarStrings<T>(doc: AutomergeDoc, f: () => T): T {
  doc.registerDatatype(
    'str',
    (s: string) => new A.ImmutableString(s),
    (v: unknown) => (A.isImmutableString(v) ? v.val : undefined),
  )
  try {
    return f()
  } finally {
    // a non-function unregisters: every other read keeps plain strings
    doc.registerDatatype('str', undefined as never, undefined as never)
  }
}

const lift = (v: unknown): unknown => (typeof v === 'string' ? new A.ImmutableString(v) : v)

function liftBlock(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...value, type: lift(value['type']) }
  const parents = value['parents']
  out['parents'] = Array.isArray(parents) ? parents.map(lift) : []
  return out
}

/** Spans as the rich-text schema's readers expect them (block strings as ImmutableString). */
export function liftSpans(spans: Span[]): Span[] {
  return spans.map((s) =>
    s.type === 'block' ? { type: 'block', value: liftBlock(s.value as never) as never } : s,
  )
}

/**
 * Patches into the text at `path`, lifted like `liftSpans`: a value written inside a block
 * (its type, its parents) is a scalar string, a character splice stays text.
 */
export function liftPatches(patches: readonly Patch[], path: readonly Prop[]): Patch[] {
  return patches.map((p) => {
    if (p.path.length <= path.length + 1 || p.action === 'splice') return p
    if (p.action === 'put') return { ...p, value: lift(p.value) as never }
    if (p.action === 'insert') return { ...p, values: p.values.map(lift) as never }
    return p
  })
}

/** What a patch means for an editor of the text at `path`. */
export function patchTouches(p: Patch, path: readonly Prop[]): 'inside' | 'replaced' | 'none' {
  const n = Math.min(p.path.length, path.length)
  for (let i = 0; i < n; i++) if (p.path[i] !== path[i]) return 'none'
  if (p.path.length > path.length) return 'inside'
  // a patch at the text's own key, or at an ancestor (which may have replaced the whole branch)
  if (p.path.length === path.length)
    return p.action === 'put' || p.action === 'del' ? 'replaced' : 'inside'
  return 'replaced'
}

/** The text object at `keys`, or undefined while there is none (nothing there, or a scalar). */
export function findText(doc: AutomergeDoc, keys: readonly string[]): string | undefined {
  let obj = '_root'
  for (let i = 0; i < keys.length; i++) {
    const got = doc.getWithType(obj, keys[i] as string) as [string, unknown] | null | undefined
    if (got === null || got === undefined) return undefined
    const [datatype, value] = got
    if (i === keys.length - 1) return datatype === 'text' ? (value as string) : undefined
    if (datatype !== 'map') return undefined
    obj = value as string
  }
  return undefined
}

/**
 * A cursor before the character at `index` (Automerge's: it names that character, `e` past the
 * end), clamped to the text; undefined when Automerge refuses it.
 */
export function textCursor(doc: AutomergeDoc, obj: string, index: number): string | undefined {
  try {
    return doc.getCursor(obj, Math.max(0, Math.min(Math.trunc(index), doc.length(obj))))
  } catch {
    return undefined
  }
}

/**
 * Where a cursor is in the text now. A cursor from a peer may name a character this replica does
 * not have yet (or garbage): undefined then, never a throw.
 */
export function cursorPosition(doc: AutomergeDoc, obj: string, cursor: string): number | undefined {
  try {
    return doc.getCursorPosition(obj, cursor)
  } catch {
    return undefined
  }
}

/**
 * The text object at `keys`, made if missing (maps on the way, as `state.set` makes them). A
 * scalar string already there becomes the text's first paragraph; anything else is a conflict.
 */
export function ensureText(doc: AutomergeDoc, keys: readonly string[]): string {
  if (keys.length === 0) throw new InvalidPathError('text lives under a key, not at the root')
  let obj = '_root'
  for (let i = 0; i < keys.length - 1; i++) {
    const key = keys[i] as string
    const got = doc.getWithType(obj, key) as [string, unknown] | null | undefined
    if (got === null || got === undefined) obj = doc.putObject(obj, key, {})
    else if (got[0] === 'map') obj = got[1] as string
    else throw new PathConflictError(`/${keys.slice(0, i + 1).join('/')} is not a map`)
  }
  const last = keys[keys.length - 1] as string
  const got = doc.getWithType(obj, last) as [string, unknown] | null | undefined
  if (got !== null && got !== undefined && got[0] === 'text') return got[1] as string
  if (got !== null && got !== undefined && got[0] !== 'str') {
    throw new PathConflictError(`/${keys.join('/')} holds a ${got[0]}, not text`)
  }
  const before = got === null || got === undefined ? '' : String(got[1])
  const text = doc.putObject(obj, last, '')
  if (before !== '') doc.splice(text, 0, 0, before)
  return text
}

/** The low-level operations on one text object that an editor binding uses (see DocHandle). */
export interface TextOps {
  splice(index: number, deleteCount: number, insert: string): void
  mark(range: MarkRange, name: string, value: string | number | boolean | null): void
  unmark(range: MarkRange, name: string): void
  /** the marks on the character at `index` */
  marksAt(index: number): MarkSet
  /** the character (or block marker, '\ufffc') at `index`, or undefined past the end */
  charAt(index: number): string | undefined
  /** the text's spans now, lifted (see liftSpans) */
  spans(): Span[]
  /** a block marker at `index` (a new paragraph, heading… starts there) */
  splitBlock(index: number, type: string, attrs?: Record<string, string | number | boolean>): void
  /** rewrites the text to `spans` (block strings as ImmutableString), changing only what differs */
  updateSpans(spans: Span[], config?: UpdateSpansConfig): void
}

export function textOps(doc: AutomergeDoc, obj: string): TextOps {
  return {
    splice: (index, del, insert) => doc.splice(obj, index, del, insert),
    mark: (range, name, value) => doc.mark(obj, range, name, value),
    unmark: (range, name) => doc.unmark(obj, range, name),
    // not `doc.marksAt`: in Automerge 3.5 it misses a mark that grew over a character typed at its
    // edge (found by the random editing test, with 'both' and again with 'after' marks), while
    // `marks` agrees with `spans`. It costs ~3 ms in a text of 667 marks: typing reads the marks
    // of what it typed from the edit's patch instead (pm-steps.ts, markFixes)
    marksAt: (index) => {
      const out: MarkSet = {}
      for (const m of doc.marks(obj)) if (m.start <= index && index < m.end) out[m.name] = m.value
      return out
    },
    charAt: (index) => {
      const got = doc.getWithType(obj, index) as [string, unknown] | null | undefined
      if (got === null || got === undefined) return undefined
      return got[0] === 'str' ? String(got[1]) : '\ufffc'
    },
    spans: () => liftSpans(doc.spans(obj)),
    splitBlock: (index, type, attrs = {}) =>
      withScalarStrings(doc, () =>
        doc.splitBlock(obj, index, {
          type: new A.ImmutableString(type) as never,
          parents: [],
          attrs,
        }),
      ),
    updateSpans: (spans, config) =>
      withScalarStrings(doc, () => doc.updateSpans(obj, spans, config)),
  }
}
