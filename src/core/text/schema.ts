/**
 * The rich-text schema Orrery's editors use: `@automerge/prosemirror`'s basic schema (paragraphs,
 * headings, block quotes, code blocks, lists, images; bold, italic, links), whose `code` mark has
 * no Automerge name and so came back from the document as an "unknown mark". Here it is stored
 * as the `code` mark, and a link without a title has an empty one (as it reads back).
 */
import type { MarkSpec, NodeSpec } from 'prosemirror-model'
import { basicSchemaAdapter, SchemaAdapter, type MappedSchemaSpec } from '@automerge/prosemirror'

function build(): SchemaAdapter {
  const base = basicSchemaAdapter.schema.spec
  const nodes: Record<string, NodeSpec> = {}
  base.nodes.forEach((name, spec) => (nodes[name] = spec))
  const marks: Record<string, MarkSpec> = {}
  base.marks.forEach((name, spec) => {
    if (name === 'code') marks[name] = { ...spec, automerge: { markName: 'code' } }
    // a link's title comes back from the document as '' when it had none: start it there
    else if (name === 'link') marks[name] = { ...spec, attrs: { href: {}, title: { default: '' } } }
    else marks[name] = spec
  })
  return new SchemaAdapter({ nodes, marks } as MappedSchemaSpec)
}

export const textSchema: SchemaAdapter = build()
