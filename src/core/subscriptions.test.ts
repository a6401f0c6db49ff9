import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { am, type AutomergeDoc, type Patch, type Prop } from './automerge'
import { addLogSink, setLogLevel, type LogLevel } from './log'
import { SubscriptionTree, type Listener } from './subscriptions'

const FC = { seed: 0x5b5, numRuns: 300 }

const put = (...path: Prop[]): Patch => ({ action: 'put', path, value: 1 })
const del = (...path: Prop[]): Patch => ({ action: 'del', path })
const insert = (...path: Prop[]): Patch => ({ action: 'insert', path, values: [1] })
const splice = (...path: Prop[]): Patch => ({ action: 'splice', path, value: 'x' })
const inc = (...path: Prop[]): Patch => ({ action: 'inc', path, value: 1 })

/** The key paths (joined with "/") that the patches reach, sorted. */
function hits(tree: SubscriptionTree, patches: Patch[]): string[] {
  return tree
    .affected(patches)
    .map((a) => a.keys.join('/'))
    .sort()
}

function tree(paths: string[][]): SubscriptionTree {
  const t = new SubscriptionTree()
  for (const p of paths) t.add(p, () => {})
  return t
}

/** Real patches: what Automerge reports between two states of a document. */
function patchesOf(d: AutomergeDoc, edit: (d: AutomergeDoc) => void): Patch[] {
  const before = d.getHeads()
  edit(d)
  d.commit()
  return d.diff(before, d.getHeads())
}

/** Reaches into the trie to check that unsubscribing prunes it (no public accessor). */
function nodeCount(t: SubscriptionTree): number {
  interface N {
    children: Map<string, N>
  }
  const count = (n: N): number => 1 + [...n.children.values()].reduce((s, c) => s + count(c), 0)
  return count((t as unknown as { root: N }).root)
}

describe('SubscriptionTree.affected', () => {
  const subs = [[], ['a'], ['a', 'b'], ['a', 'b', 'c'], ['a', 'x'], ['l'], ['l', '0'], ['l', '2']]

  it('finds nothing without subscriptions or without patches', () => {
    expect(new SubscriptionTree().affected([put('a')])).toEqual([])
    expect(tree(subs).affected([])).toEqual([])
  })

  it('fires subscriptions at, above and below the changed path, not beside it', () => {
    const t = tree(subs)
    expect(hits(t, [put('a', 'b')])).toEqual(['', 'a', 'a/b', 'a/b/c'])
    expect(hits(t, [put('a', 'b', 'c', 'd')])).toEqual(['', 'a', 'a/b', 'a/b/c'])
    expect(hits(t, [put('a')])).toEqual(['', 'a', 'a/b', 'a/b/c', 'a/x'])
    expect(hits(t, [put('a', 'y')])).toEqual(['', 'a'])
    expect(hits(t, [put('z')])).toEqual([''])
    expect(hits(t, [del('a', 'x')])).toEqual(['', 'a', 'a/x'])
    expect(hits(t, [inc('a', 'b')])).toEqual(['', 'a', 'a/b', 'a/b/c'])
  })

  it('treats a list insert or delete as a change of the whole list', () => {
    const t = tree(subs)
    expect(hits(t, [insert('l', 5)])).toEqual(['', 'l', 'l/0', 'l/2'])
    expect(hits(t, [del('l', 1)])).toEqual(['', 'l', 'l/0', 'l/2'])
    // a put on one element changes only that element
    expect(hits(t, [put('l', 2)])).toEqual(['', 'l', 'l/2'])
    expect(hits(t, [put('l', 1)])).toEqual(['', 'l'])
    // text splices change the text object
    expect(hits(tree([['t'], ['t', '3'], ['u']]), [splice('t', 3)])).toEqual(['t', 't/3'])
  })

  it('matches numeric props with string keys', () => {
    const t = tree([
      ['m', '7', 'x'],
      ['m', '8'],
    ])
    expect(hits(t, [put('m', 7)])).toEqual(['m/7/x'])
    expect(hits(t, [put('m', '7')])).toEqual(['m/7/x'])
  })

  it('reports each subscription once for many patches, with all its listeners', () => {
    const t = new SubscriptionTree()
    const l1: Listener = () => {}
    t.add(['a'], l1)
    t.add(['a'], l1) // the same function twice: two subscriptions
    t.add(['a', 'b'], () => {})
    const found = t.affected([put('a', 'b'), put('a', 'b'), put('a', 'c'), del('a', 'b')])
    expect(found.map((f) => [f.keys, f.listeners.length]).sort()).toEqual([
      [['a'], 2],
      [['a', 'b'], 1],
    ])
    // listeners are wrappers that call the subscribed function
    let calls = 0
    const t2 = new SubscriptionTree()
    t2.add(['q'], (v) => {
      expect(v).toBe('value')
      calls++
    })
    for (const f of t2.affected([put('q')])) for (const l of f.listeners) l('value')
    expect(calls).toBe(1)
  })

  it('agrees with a brute-force check on random subscriptions and patches', () => {
    const seg = fc.constantFrom('a', 'b', 'l', '0', '1')
    const pathArb = fc.array(seg, { maxLength: 4 })
    const patchArb = fc
      .tuple(
        fc.constantFrom('put', 'del', 'insert', 'splice', 'inc', 'mark', 'unmark', 'conflict'),
        pathArb,
        fc.option(fc.nat({ max: 3 }), { nil: undefined }),
      )
      .map(([action, p, index]): Patch => {
        const path: Prop[] = index === undefined ? p : [...p, index]
        return { action, path } as Patch
      })
    fc.assert(
      fc.property(
        fc.array(pathArb, { maxLength: 12 }),
        fc.array(patchArb, { minLength: 1, maxLength: 4 }),
        (subPaths, patches) => {
          const t = tree(subPaths)
          const changed = patches.map((p) => {
            const last = p.path[p.path.length - 1]
            const listish = ['insert', 'del', 'splice', 'mark', 'unmark'].includes(p.action)
            return (listish && typeof last === 'number' ? p.path.slice(0, -1) : p.path).map(String)
          })
          const related = (s: string[], c: string[]): boolean => {
            const n = Math.min(s.length, c.length)
            return s.slice(0, n).join('\u0000') === c.slice(0, n).join('\u0000')
          }
          const expected = [
            ...new Set(
              subPaths.filter((s) => changed.some((c) => related(s, c))).map((s) => s.join('/')),
            ),
          ].sort()
          expect(hits(t, patches)).toEqual(expected)
        },
      ),
      FC,
    )
  })

  it('works with real Automerge patches', () => {
    const d = am().create()
    const todoId = d.putObject('_root', 'todo', [
      { title: 'a', done: false },
      { title: 'b', done: false },
    ])
    const metaId = d.putObject('_root', 'meta', { owner: 'me' })
    const textId = d.putObject('_root', 'text', '')
    d.commit()
    const t = tree([['todo'], ['todo', '0', 'done'], ['todo', '1'], ['meta', 'owner'], ['text']])

    expect(
      hits(
        t,
        patchesOf(d, (x) => x.put(metaId, 'owner', 'you')),
      ),
    ).toEqual(['meta/owner'])
    expect(
      hits(
        t,
        patchesOf(d, (x) => x.put(metaId, 'other', 1)),
      ),
    ).toEqual([])
    const item0 = d.getWithType(todoId, 0)
    expect(item0?.[0]).toBe('map')
    expect(
      hits(
        t,
        patchesOf(d, (x) => x.put(String(item0?.[1]), 'done', true)),
      ),
    ).toEqual(['todo', 'todo/0/done'])
    // inserting at the front moves every element: all list subscriptions fire
    expect(
      hits(
        t,
        patchesOf(d, (x) => x.insert(todoId, 0, 'new')),
      ),
    ).toEqual(['todo', 'todo/0/done', 'todo/1'])
    expect(
      hits(
        t,
        patchesOf(d, (x) => x.delete(todoId, 0)),
      ),
    ).toEqual(['todo', 'todo/0/done', 'todo/1'])
    expect(
      hits(
        t,
        patchesOf(d, (x) => x.splice(textId, 0, 0, 'hello')),
      ),
    ).toEqual(['text'])
    expect(
      hits(
        t,
        patchesOf(d, (x) => x.delete('_root', 'meta')),
      ),
    ).toEqual(['meta/owner'])
  })
})

describe('SubscriptionTree add and remove', () => {
  it('counts subscriptions and unsubscribes each once', () => {
    const t = new SubscriptionTree()
    const off1 = t.add(['a', 'b'], () => {})
    const off2 = t.add(['a', 'b'], () => {})
    const off3 = t.add([], () => {})
    expect(t.size).toBe(3)
    off1()
    off1() // idempotent
    expect(t.size).toBe(2)
    expect(hits(t, [put('a', 'b')])).toEqual(['', 'a/b'])
    off2()
    expect(hits(t, [put('a', 'b')])).toEqual([''])
    off3()
    expect(t.size).toBe(0)
    expect(t.affected([put('a', 'b')])).toEqual([])
  })

  it('prunes emptied branches, keeping those still in use', () => {
    const t = new SubscriptionTree()
    expect(nodeCount(t)).toBe(1)
    const offDeep = t.add(['a', 'b', 'c', 'd'], () => {})
    const offMid = t.add(['a', 'b'], () => {})
    const offOther = t.add(['a', 'x'], () => {})
    expect(nodeCount(t)).toBe(6) // root a b c d x
    offDeep()
    expect(nodeCount(t)).toBe(4) // c and d went, b still has a listener
    offMid()
    expect(nodeCount(t)).toBe(3) // root a x
    offOther()
    expect(nodeCount(t)).toBe(1)
    // subscribing again after pruning works
    const off = t.add(['a', 'b'], () => {})
    expect(hits(t, [put('a')])).toEqual(['a/b'])
    off()
    expect(nodeCount(t)).toBe(1)
  })

  it('prunes to the root whatever the order of unsubscribing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 4 }), { maxLength: 10 }),
        fc.func(fc.integer()),
        (paths, order) => {
          const t = new SubscriptionTree()
          const offs = paths.map((p) => t.add(p, () => {}))
          const shuffled = offs.map((off, i) => ({ off, k: order(i) })).sort((x, y) => x.k - y.k)
          shuffled.forEach(({ off }, i) => {
            off()
            expect(t.size).toBe(offs.length - i - 1)
          })
          expect(nodeCount(t)).toBe(1)
        },
      ),
      FC,
    )
  })
})

describe('SubscriptionTree.call', () => {
  let logged: string[]
  let offSink: () => void
  beforeEach(() => {
    logged = []
    offSink = addLogSink((level, component, msg) => logged.push(`${level} ${component}: ${msg}`))
    setLogLevel('silent')
  })
  afterEach(() => {
    offSink()
    setLogLevel((process.env.ORRERY_LOG as LogLevel | undefined) ?? 'error')
  })

  it('logs a listener that throws, and the others still run', () => {
    const t = new SubscriptionTree()
    const seen: string[] = []
    t.add(['a'], () => seen.push('first'))
    t.add(['a'], () => {
      throw new Error('boom')
    })
    t.add(['a', 'b'], (v) => seen.push(`deep ${String(v)}`))
    expect(() => {
      for (const f of t.affected([put('a')]))
        for (const l of f.listeners) SubscriptionTree.call(l, 7)
    }).not.toThrow()
    expect(seen.sort()).toEqual(['deep 7', 'first'])
    expect(logged).toEqual(['error subscriptions: a subscriber threw'])
  })

  it('passes the value and swallows non-Error throws too', () => {
    const got: unknown[] = []
    SubscriptionTree.call((v) => got.push(v), { x: 1 })
    expect(got).toEqual([{ x: 1 }])
    expect(() =>
      SubscriptionTree.call(() => {
        throw 'a string' // eslint-disable-line @typescript-eslint/only-throw-error
      }, null),
    ).not.toThrow()
    expect(logged).toHaveLength(1)
  })
})
