/**
 * Other people's carets and selections in a ProseMirror editor: a coloured bar at each caret with
 * their name above it, their selection tinted in their colour. They are computed from presence
 * (cursors resolved through the binding) when presence changes, and mapped through every
 * transaction in between.
 *
 * Carets and names are drawn in a layer over the editor, never inside the editable text: an
 * element there (a widget, or a positioned name) stopped Chrome's Home key at the caret, and a
 * widget next to this person's own caret is where the browser's typing goes astray. Only the
 * selections are decorations (inline, tinting the text).
 */
import { Plugin, PluginKey, type EditorState, type Transaction } from 'prosemirror-state'
import { Decoration, DecorationSet, type EditorView } from 'prosemirror-view'
import type { Node } from 'prosemirror-model'

export interface Caret {
  session: string
  name: string
  color: string
  anchor: number
  head: number
}

interface Carets {
  /** the selections, tinted */
  tints: DecorationSet
  /** where each caret is now */
  carets: readonly Caret[]
}

const caretsKey = new PluginKey<Carets>('orrery-carets')

export function caretsPlugin(): Plugin<Carets> {
  return new Plugin<Carets>({
    key: caretsKey,
    state: {
      init: () => ({ tints: DecorationSet.empty, carets: [] }),
      apply: (tr, was) => {
        const fresh = tr.getMeta(caretsKey) as Carets | undefined
        if (fresh !== undefined) return fresh
        if (!tr.docChanged) return was
        return {
          tints: was.tints.map(tr.mapping, tr.doc),
          carets: was.carets.map((c) => ({
            ...c,
            anchor: tr.mapping.map(c.anchor, -1),
            head: tr.mapping.map(c.head, -1),
          })),
        }
      },
    },
    props: { decorations: (state) => caretsKey.getState(state)?.tints },
    view: (view) => {
      const layer = document.createElement('div')
      layer.className = 'remote-carets'
      layer.setAttribute('aria-hidden', 'true')
      view.dom.parentElement?.append(layer)
      // drawn in the next frame, once for a burst of updates: measuring a caret's place forces a
      // layout, which must not happen inside every keystroke's own update
      let frame: number | undefined
      const layout = (): void => {
        if (frame !== undefined) return
        if (caretsKey.getState(view.state)?.carets.length === 0 && layer.childElementCount === 0)
          return
        frame = requestAnimationFrame(() => {
          frame = undefined
          draw(view, layer)
        })
      }
      layout()
      return {
        update: layout,
        destroy: () => {
          if (frame !== undefined) cancelAnimationFrame(frame)
          layer.remove()
        },
      }
    },
  })
}

/** Draws each caret (a bar the height of its line, the name above it) in the layer. */
function draw(view: EditorView, layer: HTMLElement): void {
  const carets = caretsKey.getState(view.state)?.carets ?? []
  if (carets.length === 0 && layer.childElementCount === 0) return
  const origin = layer.getBoundingClientRect()
  const size = view.state.doc.content.size
  layer.replaceChildren(
    ...carets.flatMap((c) => {
      let at
      try {
        at = view.coordsAtPos(Math.max(0, Math.min(c.head, size)))
      } catch {
        return [] // a place not on screen (yet)
      }
      const left = `${at.left - origin.left - 1}px`
      const bar = document.createElement('div')
      bar.className = 'remote-caret'
      bar.dataset['testid'] = 'remote-caret'
      bar.style.borderColor = c.color
      bar.style.left = left
      bar.style.top = `${at.top - origin.top}px`
      bar.style.height = `${Math.max(1, at.bottom - at.top)}px`
      const label = document.createElement('span')
      label.className = 'remote-name'
      label.dataset['testid'] = 'remote-name'
      label.textContent = c.name
      label.style.backgroundColor = c.color
      label.style.left = left
      label.style.top = `${at.top - origin.top}px`
      return [bar, label]
    }),
  )
}

/** A transaction that shows these carets (and only these). */
export function showCarets(state: EditorState, carets: readonly Caret[]): Transaction {
  return state.tr
    .setMeta(caretsKey, { tints: tints(state.doc, carets), carets } satisfies Carets)
    .setMeta('addToHistory', false)
}

function tints(doc: Node, carets: readonly Caret[]): DecorationSet {
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
  }
  return DecorationSet.create(doc, out)
}
