/**
 * The blocks the selection is in are always rendered. The editor's blocks have
 * `content-visibility: auto` (a long page lays out only what is on screen), and Chromium decides
 * whether a block is on screen at the next frame: a paragraph made by Enter was skipped for that
 * long, and a key typed into it at once had its caret placed before the new character, so the
 * rest of the word went in front of it (e2e/text.spec.ts found it). A node decoration in the
 * same transaction as the selection keeps those blocks out of the skipping.
 */
import { Plugin } from 'prosemirror-state'
import { Decoration, DecorationSet } from 'prosemirror-view'

export function editingBlocksPlugin(): Plugin {
  return new Plugin({
    props: {
      decorations: (state) => {
        const { from, to } = state.selection
        const size = state.doc.content.size
        const out: Decoration[] = []
        // the top-level blocks touching the selection (and a neighbour at a boundary)
        state.doc.nodesBetween(Math.max(0, from - 1), Math.min(size, to + 1), (node, pos) => {
          out.push(Decoration.node(pos, pos + node.nodeSize, { class: 'editing' }))
          return false
        })
        return DecorationSet.create(state.doc, out)
      },
    },
  })
}
