/**
 * ProseMirror editors over real peers, for tests: the editor's state machine (EditorState with
 * the binding's plugin, exactly what an EditorView runs) without the screen.
 */
import type { Node } from 'prosemirror-model'
import { setBlockType, splitBlock, toggleMark } from 'prosemirror-commands'
import { EditorState, TextSelection, type Command, type Transaction } from 'prosemirror-state'
import { TextBinding, type EditorHost } from '../src/core/text/pm-binding'
import type { DocHandle } from '../src/core/repo/doc-handle'
import { afterEach, expect } from 'vitest'
import type { OrreryPeer } from '../src/core/peer'
import { makePeer, type TestPeerOptions } from './peers'

/**
 * `const { peer, editor } = textTestbed()` at a file's top level: peers (identity ready) and
 * editors made in a test are closed after it, and every editor must have shown the text as the
 * document holds it after each of its transactions.
 */
export function textTestbed(defaults: TestPeerOptions = {}): {
  peer: (opts?: TestPeerOptions) => Promise<OrreryPeer>
  editor: (...args: ConstructorParameters<typeof TestEditor>) => TestEditor
} {
  const running: OrreryPeer[] = []
  const editors: TestEditor[] = []
  afterEach(async () => {
    for (const e of editors) expect(e.mismatches).toEqual([])
    for (const e of editors.splice(0)) e.close()
    await Promise.all(running.splice(0).map(async (p) => p.stop()))
  })
  return {
    peer: async (opts = {}) => {
      const p = await makePeer({ ...defaults, ...opts })
      running.push(p)
      await p.identityReady
      return p
    },
    editor: (...args) => {
      const e = new TestEditor(...args)
      editors.push(e)
      return e
    },
  }
}

export class TestEditor implements EditorHost {
  state: EditorState
  readonly binding: TextBinding
  refused: unknown[] = []

  constructor(handle: DocHandle, keys: string[] = ['text']) {
    this.binding = new TextBinding(handle.openText(keys))
    this.binding.onRefused = (e) => this.refused.push(e)
    this.state = EditorState.create({
      schema: this.binding.schema,
      doc: this.binding.doc(),
      plugins: [this.binding.plugin],
    })
    this.binding.attach(this)
  }

  /** transactions after which the editor did not show the text as the document holds it */
  mismatches: string[] = []

  dispatch(tr: Transaction): void {
    this.state = this.state.apply(tr)
    // checked after every transaction, not only at the end: a view that is wrong for a while
    // puts the person's next keystrokes in the wrong place
    if (!this.state.doc.eq(this.fresh())) {
      const steps = JSON.stringify(tr.steps.map((s) => s.toJSON() as unknown))
      this.mismatches.push(
        `${steps}: shows ${this.state.doc.toString()}, text ${this.fresh().toString()}`,
      )
    }
  }

  get text(): string {
    return this.state.doc.textBetween(0, this.state.doc.content.size, '\n')
  }

  get doc(): Node {
    return this.state.doc
  }

  /** the text as the document holds it, rendered fresh (what a newly opened editor shows) */
  fresh(): Node {
    return this.binding.fresh()
  }

  /** types `text` at position `at` (clamped into the nearest place text can go) */
  type(text: string, at?: number): void {
    const pos = this.textPos(at ?? this.state.selection.from)
    this.dispatch(
      this.state.tr.setSelection(TextSelection.create(this.state.doc, pos)).insertText(text),
    )
  }

  /** selects from `from` to `to` (a caret when `to` is left out) */
  select(from: number, to = from): void {
    this.dispatch(this.state.tr.setSelection(TextSelection.create(this.state.doc, from, to)))
  }

  /** runs a ProseMirror command (a toolbar button or key) on this editor */
  run(cmd: Command): boolean {
    return cmd(this.state, (tr) => this.dispatch(tr))
  }

  /**
   * What a person writes first: `line`, its first word marked `mark`, then a new paragraph
   * `second` made a heading of `level`.
   */
  writeSample(line: string, mark: string, second: string, level: number): void {
    this.type(line)
    this.select(1, 1 + line.indexOf(' '))
    this.run(toggleMark(this.binding.schema.marks[mark]!))
    this.select(this.doc.content.size - 1)
    this.run(splitBlock)
    this.type(second)
    this.run(setBlockType(this.binding.schema.nodes['heading']!, { level }))
  }

  /** a valid text position near `at`, never between the two halves of a surrogate pair */
  textPos(at: number): number {
    const doc = this.state.doc
    const pos = TextSelection.near(doc.resolve(Math.max(0, Math.min(at, doc.content.size)))).from
    const $pos = doc.resolve(pos)
    const before = $pos.parent.textBetween(0, $pos.parentOffset, undefined, '\ufffc')
    const low = before.charCodeAt(before.length - 1)
    return low >= 0xd800 && low <= 0xdbff ? pos - 1 : pos
  }

  close(): void {
    this.binding.close()
  }
}
