/**
 * Other people's carets and selections in a ProseMirror editor: a coloured bar at each caret with
 * their name above it, their selection tinted in their colour. The decorations are computed from
 * presence (cursors resolved through the binding) when presence changes, and mapped through every
 * transaction in between.
 *
 * The names are drawn in a layer over the editor, not inside the text: an element (or a
 * pseudo-element) positioned inside an editable line stops Chrome's Home key at the caret.
 */
import { Plugin, PluginKey, type EditorState, type Transaction } from 'prosemirror-state'
import { Decoration, DecorationSet } from 'prosemirror-view'
import type { Node } from 'prosemirror-model'

export interface Caret {
  session: string
  name: string
  color: string
  anchor: number
  head: number
}

const caretsKey = new PluginKey<DecorationSet>('orrery-carets')

export function caretsPlugin(): Plugin<DecorationSet> {
  return new Plugin<DecorationSet>({
    key: caretsKey,
    state: {
      init: () => DecorationSet.empty,
      apply: (tr, set) =>
        (tr.getMeta(caretsKey) as DecorationSet | undefined) ?? set.map(tr.mapping, tr.doc),
    },
    props: { decorations: (state) => caretsKey.getState(state) },
    view: (view) => {
      const layer = document.createElement('div')
      layer.className = 'remote-names'
      layer.setAttribute('aria-hidden', 'true')
      view.dom.parentElement?.append(layer)
      const layout = (): void => {
        const widgets = (caretsKey.getState(view.state) ?? DecorationSet.empty)
          .find()
          .filter((d) => (d.spec as { caret?: Caret }).caret !== undefined)
        if (widgets.length === 0 && layer.childElementCount === 0) return
        const origin = layer.getBoundingClientRect()
        layer.replaceChildren(
          ...widgets.map((d) => {
            const c = (d.spec as { caret: Caret }).caret
            const at = view.coordsAtPos(d.from)
            const label = document.createElement('span')
            label.className = 'remote-name'
            label.dataset['testid'] = 'remote-name'
            label.textContent = c.name
            label.style.backgroundColor = c.color
            label.style.left = `${at.left - origin.left - 2}px`
            label.style.top = `${at.top - origin.top}px`
            return label
          }),
        )
      }
      layout()
      return { update: layout, destroy: () => layer.remove() }
    },
  })
}

/** A transaction that shows these carets (and only these). */
export function showCarets(state: EditorState, carets: readonly Caret[]): Transaction {
  return state.tr.setMeta(caretsKey, decorations(state.doc, carets)).setMeta('addToHistory', false)
}

function decorations(doc: Node, carets: readonly Caret[]): DecorationSet {
  const out: Decoration[] = []
  const size = doc.content.size
  for (const c of carets) {
    const head = Math.max(0, Math.min(c.head, size))
    const anchor = Math.max(0, Math.min(c.anchor, size))
    const [from, to] = anchor < head ? [anchor, head] : [head, anchor]
    if (from < to)
      out.push(
        Decoration.inline(from, to, {
          class: 'remote-selection',
          style: `background-color: color-mix(in srgb, ${c.color} 22%, transparent)`,
        }),
      )
    out.push(
      Decoration.widget(head, () => caretElement(c), {
        key: `${c.session}:${c.color}`,
        caret: c,
        side: -1,
        ignoreSelection: true,
      }),
    )
  }
  return DecorationSet.create(doc, out)
}

function caretElement(c: Caret): HTMLElement {
  const caret = document.createElement('span')
  caret.className = 'remote-caret'
  caret.style.borderColor = c.color
  caret.setAttribute('data-testid', 'remote-caret')
  caret.setAttribute('title', c.name)
  return caret // empty: it adds nothing to the text (an inline box with a border still shows)
}
