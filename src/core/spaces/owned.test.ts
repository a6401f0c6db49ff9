/**
 * Owned paths: only `<did>` may write at or below a document's top-level `~<did>` key, whatever
 * the operation (set, del, make, inc, list insert, text splice, mark) and whatever the arrival
 * order; objects that are not visible any more are still judged by the key they were made under.
 */
import { describe, expect, it, vi } from 'vitest'
import { am, type AutomergeDoc } from '../automerge'
import { bytesToHex, sha256 } from '../bytes'
import type { IncomingChange } from '../repo/governance'
import type { Identity } from '../identity'
import { docGovernance } from './governance'
import { OwnedPaths, mentionsOwnedKey, ownedKey, ownerOfKey, type ChangeBytes } from './owned'
import { DOC, ada, team, wes } from './test-fixtures'

const ADA = ownedKey(ada.id)
const WES = ownedKey(wes.id)

let actors = 0x40
interface Made {
  item: ChangeBytes
  fork: AutomergeDoc
}

/** `author` edits a fork of `base` and commits: the change as the verifier gets it. */
function change(base: AutomergeDoc, author: Identity, edit: (d: AutomergeDoc) => void): Made {
  const fork = base.fork((actors++).toString(16).padStart(32, '0'))
  edit(fork)
  fork.commit()
  const bytes = fork.getLastLocalChange()
  if (bytes === null) throw new Error('no change')
  const { actor, seq } = am().decodeChange(bytes)
  const hash = bytesToHex(sha256(bytes.subarray(8)))
  const change: IncomingChange = { hash, actor, seq, author: author.id, bytes }
  return { item: { change, bytes }, fork }
}

const obj = (d: AutomergeDoc, ...path: string[]): string => {
  let cur = '_root'
  for (const k of path) cur = (d.getWithType(cur, k) as [string, string])[1]
  return cur
}

/** ada's corner: /~ada/posts/p1 = { text: 'hi' (text), likes: 0 (counter) }, /~ada/tags = [] */
function base(): AutomergeDoc {
  const doc = am().create({ actor: '01'.repeat(16) })
  const mine = doc.putObject('_root', ADA, {})
  const posts = doc.putObject(mine, 'posts', {})
  const p1 = doc.putObject(posts, 'p1', {})
  const text = doc.putObject(p1, 'text', '')
  doc.splice(text, 0, 0, 'hello')
  doc.put(p1, 'likes', 0, 'counter')
  doc.putObject(mine, 'tags', ['a'])
  doc.putObject('_root', 'shared', {})
  doc.commit()
  return doc
}

const verdict = (doc: AutomergeDoc, ...made: Made[]) =>
  new OwnedPaths().admit(
    doc,
    made.map((m) => m.item),
  )

function expectRefused(r: ReturnType<typeof verdict>, code = 'OWNED_PATH'): void {
  expect(r.ok).toBe(false)
  if (!r.ok) {
    expect(r.error.code).toBe(code)
    expect(r.error.name).toBe(code === 'OWNED_PATH' ? 'SpaceError' : r.error.name)
  }
}

const edits: [string, (d: AutomergeDoc) => void][] = [
  ['set', (d) => d.put(obj(d, ADA, 'posts', 'p1'), 'author', wes.id)],
  ['del', (d) => d.delete(obj(d, ADA, 'posts'), 'p1')],
  ['makeMap', (d) => d.putObject(obj(d, ADA, 'posts'), 'p2', { text: 'forged' })],
  ['inc', (d) => d.increment(obj(d, ADA, 'posts', 'p1'), 'likes', 1)],
  ['list insert', (d) => d.insert(obj(d, ADA, 'tags'), 0, 'x')],
  ['list delete', (d) => d.delete(obj(d, ADA, 'tags'), 0)],
  ['text splice', (d) => d.splice(obj(d, ADA, 'posts', 'p1', 'text'), 0, 2, 'J')],
  ['mark', (d) => d.mark(obj(d, ADA, 'posts', 'p1', 'text'), { start: 0, end: 2 }, 'bold', true)],
  ['unmark', (d) => d.unmark(obj(d, ADA, 'posts', 'p1', 'text'), { start: 0, end: 2 }, 'bold')],
  ['set ~owner', (d) => d.put('_root', ADA, 'mine now')],
  ['delete ~owner', (d) => d.delete('_root', ADA)],
]

describe('owned paths', () => {
  it('recognises only a canonical did:key after "~" at the top level', () => {
    expect(ownerOfKey(ADA)).toBe(ada.id)
    expect(ownerOfKey(ada.id)).toBeUndefined()
    expect(ownerOfKey('~did:key:zNotAKey')).toBeUndefined()
    expect(ownerOfKey(`~${ada.id}x`)).toBeUndefined()
    expect(ownerOfKey(0)).toBeUndefined()
  })

  for (const [name, edit] of edits) {
    it(`the owner may ${name} under their key; another writer may not`, () => {
      const doc = base()
      expect(verdict(doc, change(doc, ada, edit))).toEqual({ ok: true, value: undefined })
      const r = verdict(doc, change(doc, wes, edit))
      expectRefused(r)
      if (!r.ok) expect(r.error.message).toContain(`/~0${ada.id}`)
    })
  }

  it('names the path of a refused write', () => {
    const doc = base()
    const r = verdict(doc, change(doc, wes, edits[0]![1]))
    expect(!r.ok && r.error.message).toContain(`/~0${ada.id}/posts/p1/author`)
  })

  it('refuses creating another identity’s key, and lets everyone write ordinary keys', () => {
    const doc = am().create({ actor: '02'.repeat(16) })
    const make = (d: AutomergeDoc) => d.putObject('_root', ADA, { profile: { name: 'x' } })
    expectRefused(verdict(doc, change(doc, wes, make)))
    expect(verdict(doc, change(doc, ada, make)).ok).toBe(true)
    const other = base()
    const ordinary = change(other, wes, (d) => {
      d.put(obj(d, 'shared'), 'x', 1)
      d.putObject('_root', WES, { mine: true })
      d.put('_root', '~did:key:zNotAKey', 1)
    })
    expect(verdict(other, ordinary).ok).toBe(true)
  })

  it('judges a change that depends on another of the same batch, in any order', () => {
    const doc = am().create({ actor: '03'.repeat(16) })
    const made = change(doc, ada, (d) => d.putObject('_root', ADA, { posts: {} }))
    const own = change(made.fork, ada, (d) => d.put(obj(d, ADA, 'posts'), 'p', 'mine'))
    const forged = change(made.fork, wes, (d) => d.put(obj(d, ADA, 'posts'), 'p', 'forged'))
    expect(verdict(doc, own, made).ok).toBe(true)
    expectRefused(verdict(doc, forged, made))
    expectRefused(verdict(doc, made, own, forged))
  })

  it('refuses a concurrent creation of the owner’s key, whichever arrives first', () => {
    const doc = am().create({ actor: '04'.repeat(16) })
    const owner = change(doc, ada, (d) => d.putObject('_root', ADA, { a: 1 }))
    const squatter = change(doc, wes, (d) => d.putObject('_root', ADA, { b: 2 }))
    expectRefused(verdict(doc, squatter, owner))
    const after = doc.clone()
    after.applyChanges([owner.item.bytes])
    expectRefused(verdict(after, squatter))
  })

  it('judges writes into a deleted object by the key it was made under', () => {
    const doc = base()
    const before = doc.clone()
    const postsId = obj(doc, ADA, 'posts')
    doc.delete(obj(doc, ADA), 'posts')
    doc.delete('_root', ADA)
    doc.commit()
    // wes writes as of before the deletion (visible there); the verifier has the deletion
    const late = change(before, wes, (d) => d.put(postsId, 'p9', 'zombie'))
    expect(() => doc.objInfo(postsId).path).not.toThrow()
    expect(doc.objInfo(postsId).path).toBeUndefined()
    expectRefused(verdict(doc, late))
    // a fresh rule (a reloaded peer, no cache) reaches the same verdict from the history alone
    const mine = change(before, ada, (d) => d.put(postsId, 'p9', 'fine'))
    expect(verdict(doc, mine).ok).toBe(true)
  })

  it('judges writes into a conflict’s hidden map by the key it was made under', () => {
    // ada's two devices create /~ada concurrently: one map is hidden; wes writes into it
    const doc = am().create({ actor: '05'.repeat(16) })
    const one = change(doc, ada, (d) => d.putObject('_root', ADA, { a: 1 }))
    const two = change(doc, ada, (d) => d.putObject('_root', ADA, { b: 2 }))
    doc.applyChanges([one.item.bytes, two.item.bytes])
    const winner = obj(doc, ADA)
    const hidden = [one, two].find((c) => obj(c.fork, ADA) !== winner)!
    const into = change(hidden.fork, wes, (d) => d.put(obj(d, ADA), 'smuggled', 1))
    expect(doc.objInfo(obj(hidden.fork, ADA)).path).toBeUndefined()
    expectRefused(verdict(doc, into))
  })

  it('holds a change into an unknown object whose dependencies are missing; refuses one without', () => {
    const doc = base()
    const made = change(doc, wes, (d) => d.putObject('_root', 'notes', {}))
    const next = change(made.fork, wes, (d) => d.put(obj(d, 'notes'), 'x', 1))
    expectRefused(verdict(doc, next), 'MISSING_DEPS')
    // the same object id, claimed by a change whose dependencies are all here
    const fake = change(doc, wes, (d) => d.put('_root', 'y', 1))
    const decoded = am().decodeChange(next.item.bytes)
    const api = am() as unknown as { encodeChange(c: unknown): Uint8Array }
    const forged = api.encodeChange({ ...decoded, deps: am().decodeChange(fake.item.bytes).deps })
    const hash = bytesToHex(sha256(forged.subarray(8)))
    const item = { change: { ...next.item.change, hash, bytes: forged }, bytes: forged }
    expectRefused(verdict(doc, { item, fork: next.fork }), 'NOT_ALLOWED')
  })

  it('decodes nothing while neither the document nor the batch has an owned key', () => {
    const doc = am().create({ actor: '06'.repeat(16) })
    doc.putObject('_root', 'shared', { a: 1 })
    doc.commit()
    const rule = new OwnedPaths()
    const spy = vi.spyOn(am(), 'decodeChange')
    try {
      const plain = change(doc, wes, (d) => d.put(obj(d, 'shared'), 'b', 2))
      spy.mockClear()
      expect(rule.admit(doc, [plain.item]).ok).toBe(true)
      expect(spy).not.toHaveBeenCalled()
      const owned = change(doc, wes, (d) => d.putObject('_root', ADA, {}))
      expect(mentionsOwnedKey(owned.item.bytes)).toBe(true)
      expectRefused(rule.admit(doc, [owned.item]))
      expect(spy).toHaveBeenCalled()
    } finally {
      spy.mockRestore()
    }
  })

  it('a reloaded peer still sees an owned key that was deleted before it started', () => {
    const doc = base()
    const before = doc.clone()
    const posts = obj(doc, ADA, 'posts')
    doc.delete('_root', ADA)
    doc.commit()
    const reloaded = am().load(doc.save())
    const late = change(before, wes, (d) => d.put(posts, 'x', 1))
    expectRefused(new OwnedPaths().admit(reloaded, [late.item]))
  })
})

describe('side effects', () => {
  it('looking through the history leaves the incremental-save cursor alone', () => {
    // regression: saveNoCompress on the document itself moved the cursor DocStore saves from
    const doc = base()
    doc.saveIncremental()
    doc.put('_root', 'unsaved', 1)
    doc.commit()
    const plain = change(doc, wes, (d) => d.put('_root', 'x', 1))
    expect(new OwnedPaths().admit(doc, [plain.item]).ok).toBe(true)
    expect(doc.saveIncremental().length).toBeGreaterThan(0)
  })
})

describe('docGovernance', () => {
  const ctx = (me: Identity) => ({ spaceId: 'space', state: team, identity: () => me })

  it('refuses a local write under another identity’s key at once', () => {
    const g = docGovernance(DOC, ctx(wes))
    const r = g.mayWriteLocally([ADA])
    expectRefused(r)
    expect(g.mayWriteLocally([WES]).ok).toBe(true)
    expect(g.mayWriteLocally(['shared']).ok).toBe(true)
    expect(docGovernance(DOC, ctx(ada)).mayWriteLocally([ADA]).ok).toBe(true)
  })

  it('admits by role and by owner', () => {
    const doc = base()
    const g = docGovernance(DOC, ctx(ada))
    const forged = change(doc, wes, edits[0]![1]).item
    const own = change(doc, wes, (d) => d.putObject('_root', WES, {})).item
    expectRefused(g.admit(doc, [forged.change], [forged.bytes]))
    expect(g.admit(doc, [own.change], [own.bytes]).ok).toBe(true)
  })

  it('judges changes that come inside a whole document (a first sync)', () => {
    const doc = base()
    const g = docGovernance(DOC, ctx(ada))
    for (const [edit, refused] of [
      [edits[0]![1], true],
      [(d: AutomergeDoc) => d.putObject('_root', WES, {}), false],
    ] as const) {
      const made = change(doc, wes, edit)
      const { bytes: _bytes, ...withoutBytes } = made.item.change
      const r = g.admit(doc, [withoutBytes], [made.fork.save()])
      if (refused) expectRefused(r)
      else expect(r.ok).toBe(true)
    }
  })
})
