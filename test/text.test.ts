/**
 * Issue 20: rich text edited in ProseMirror on several peers over real streams converges to the
 * same text and marks, and every edit is a write like any other (signed, judged by the space).
 */
import { describe, expect, it } from 'vitest'
import { toggleMark } from 'prosemirror-commands'
import { TextSelection } from 'prosemirror-state'
import type { OrreryPeer } from '../src/core/peer'
import type { Spaces } from '../src/core/spaces/manager'
import { connect, openDoc, sleep, waitFor } from './peers'
import { textTestbed, type TestEditor } from './text-editors'

const { peer, editor } = textTestbed()
const same = (a: TestEditor, b: TestEditor): boolean => a.doc.eq(b.doc)

describe('rich text in ProseMirror', () => {
  it('typing, marks and paragraphs on one peer show at the other, and a fresh editor agrees', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    const ea = editor(await openDoc(a, id))
    // "Hello" bold, then a new paragraph turned into a heading
    ea.writeSample('Hello world', 'strong', 'Second', 2)
    expect(ea.doc.eq(ea.fresh())).toBe(true)
    const eb = editor(await openDoc(b, id))
    await connect(a, b)
    await waitFor(() => same(ea, eb), 5000, 'b shows what a wrote')
    expect(eb.doc.toString()).toContain('strong')
    expect(eb.doc.toString()).toContain('heading("Second")')
    expect(eb.doc.eq(eb.fresh())).toBe(true)
    // and back: b types into a's first paragraph
    eb.type(', friends', 12)
    await waitFor(() => same(ea, eb), 5000, 'a shows what b wrote')
    expect(ea.text).toBe('Hello world, friends\nSecond')
  })

  it('text typed next to a mark carries the marks the editor gave it, not the neighbour’s', async () => {
    const a = await peer()
    const id = (await a.repo.create()).id
    const e = editor(await openDoc(a, id))
    e.type('üh')
    for (const mark of ['code', 'strong', 'em', 'link'] as const) {
      const size = e.doc.content.size
      e.select(size - 2, size - 1)
      const type = e.binding.schema.marks[mark]!
      const attrs = mark === 'link' ? { href: 'https://example.org/' } : undefined
      e.run(toggleMark(type, attrs))
      // before the marked character, and after it (where an inclusive mark continues)
      e.type('x', size - 2)
      e.type('y', e.doc.content.size - 1)
      expect(e.doc.eq(e.fresh()), `${mark}: ${e.doc.toString()} / ${e.fresh().toString()}`).toBe(
        true,
      )
    }
    // stored marks at the caret (bold toggled with nothing selected) differ from what the
    // document grows over the next letter: the letter gets the editor's marks (a second change)
    e.type(' bold')
    e.select(e.doc.content.size - 1)
    e.run(toggleMark(e.binding.schema.marks['strong']!))
    e.dispatch(e.state.tr.insertText('z'))
    const marksOfZ = (doc: typeof e.doc): string[][] => {
      const out: string[][] = []
      doc.descendants((n) => {
        if (n.isText && n.text?.endsWith('z') === true) out.push(n.marks.map((m) => m.type.name))
      })
      return out
    }
    expect(marksOfZ(e.fresh())).toEqual(marksOfZ(e.doc))
    expect(e.doc.eq(e.fresh()), `${e.doc.toString()} / ${e.fresh().toString()}`).toBe(true)
  })

  it('two people typing at one place each keep their words whole (no letter-by-letter interleaving)', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    const ea = editor(await openDoc(a, id))
    ea.type('Agreed:')
    const eb = editor(await openDoc(b, id))
    await connect(a, b)
    await waitFor(() => same(ea, eb), 5000, 'b has the line')
    for (const e of [ea, eb]) e.dispatch(e.state.tr.setSelection(TextSelection.atEnd(e.doc)))
    for (let i = 0; i < 8; i++) {
      ea.type('a')
      eb.type('b')
      // each sees the other's letter arrive at its caret before typing the next
      await waitFor(() => same(ea, eb), 5000, `round ${i}`)
    }
    expect(ea.text).toMatch(/aaaaaaaa/)
    expect(ea.text).toMatch(/bbbbbbbb/)
  })

  it('two peers typing at once in the same paragraph converge (each keystroke its own change)', async () => {
    const [a, b] = [await peer(), await peer()]
    const id = (await a.repo.create()).id
    const ea = editor(await openDoc(a, id))
    ea.type('start')
    const eb = editor(await openDoc(b, id))
    await connect(a, b)
    await waitFor(() => eb.text === 'start', 5000, 'b has the start')
    for (let i = 0; i < 20; i++) {
      ea.type('a', 3)
      eb.type('b', 4)
      if (i % 5 === 0) await sleep(5)
    }
    await waitFor(() => same(ea, eb), 8000, 'converged')
    expect(ea.text.length).toBe(45)
    expect([...ea.text].filter((c) => c === 'a').length).toBe(20 + 1) // the 'a' of "start"
    expect(ea.doc.eq(ea.fresh())).toBe(true)
  })
})

describe('rich text in a space: every edit is a signed write the space judges', () => {
  const spaces = (p: OrreryPeer): Spaces => p.spaces!
  it('a writer’s typing, marks and headings reach a member; a reader cannot type; an outsider’s forged text is refused', async () => {
    const [admin, writer, reader, outsider] = [
      await peer(),
      await peer(),
      await peer(),
      await peer(),
    ]
    const space = await spaces(admin).create('writers')
    const doc = await spaces(admin).createDoc(space)
    for (const [p, role] of [
      [writer, 'writer'],
      [reader, 'reader'],
    ] as const) {
      const invite = await spaces(admin).invite(space, { role })
      await connect(p, admin)
      await spaces(p).join(invite)
      await openDoc(p, doc)
    }
    const ew = editor(await openDoc(writer, doc))
    ew.writeSample('Signed words', 'em', 'More', 1)
    const ea = editor(await openDoc(admin, doc))
    const er = editor(await openDoc(reader, doc))
    await waitFor(() => same(ew, ea) && same(ew, er), 8000, 'admin and reader show the text')
    expect(ew.refused).toEqual([])
    // the reader types: refused before anything is written, and the editor shows the text again
    er.type('vandal', 3)
    expect(er.refused).toHaveLength(1)
    expect(er.refused[0]).toMatchObject({ code: 'NOT_ALLOWED' })
    expect(er.doc.eq(ew.doc)).toBe(true)
    // an outsider opens the document by id (no space) and edits its own copy's text
    const eo = editor(await openDoc(outsider, doc))
    await connect(outsider, admin)
    await waitFor(() => same(eo, ea), 8000, 'the outsider reads')
    eo.type('forged ', 1)
    await waitFor(
      () => (admin.firewall.stats()[outsider.id]?.strikes ?? 0) >= 1,
      8000,
      'the admin refuses the forged change and strikes its sender',
    )
    await sleep(300)
    expect(ea.text).not.toContain('forged')
    expect(ea.text).toBe('Signed words\nMore')
  })

  it('text under someone’s own key (~did) is theirs alone', async () => {
    const [admin, writer] = [await peer(), await peer()]
    const space = await spaces(admin).create('owned')
    const doc = await spaces(admin).createDoc(space)
    const invite = await spaces(admin).invite(space, { role: 'writer' })
    await connect(writer, admin)
    await spaces(writer).join(invite)
    const mine = `~${writer.identity.id}`
    const ew = editor(await openDoc(writer, doc), [mine, 'bio'])
    ew.type('my own words')
    const ea = editor(await openDoc(admin, doc), [mine, 'bio'])
    await waitFor(() => ea.text === 'my own words', 8000, 'the admin reads it')
    ea.type('not yours ', 1)
    expect(ea.refused[0]).toMatchObject({ code: 'OWNED_PATH' })
    expect(ea.text).toBe('my own words')
  })
})
