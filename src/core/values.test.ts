import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { InvalidValueError } from './errors'
import { checkJson, fromAutomergeScalar, normalizeMaterialized } from './values'

const FC = { seed: 0x7a1, numRuns: 300 }

function refusal(value: unknown, where?: string): string {
  try {
    checkJson(value, where)
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidValueError)
    expect((e as InvalidValueError).code).toBe('INVALID_VALUE')
    return (e as InvalidValueError).message
  }
  throw new Error('expected the value to be refused')
}

/** `n` arrays around `leaf`: the leaf sits at depth n. */
const nestArrays = (n: number, leaf: unknown): unknown => {
  let v = leaf
  for (let i = 0; i < n; i++) v = [v]
  return v
}
const nestObjects = (n: number, leaf: unknown): unknown => {
  let v = leaf
  for (let i = 0; i < n; i++) v = { k: v }
  return v
}

/** Independent oracle: does a JSON value contain an object with an empty key? */
function hasEmptyKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasEmptyKey)
  if (v !== null && typeof v === 'object')
    return Object.entries(v).some(([k, x]) => k === '' || hasEmptyKey(x))
  return false
}

function hasUnsafeInteger(v: unknown): boolean {
  if (typeof v === 'number') return Number.isInteger(v) && !Number.isSafeInteger(v)
  if (Array.isArray(v)) return v.some(hasUnsafeInteger)
  if (v !== null && typeof v === 'object') return Object.values(v).some(hasUnsafeInteger)
  return false
}

class Point {
  constructor(
    public x: number,
    public y: number,
  ) {}
}

describe('checkJson', () => {
  it('accepts plain JSON values', () => {
    const ok: unknown[] = [
      null,
      true,
      false,
      0,
      -0,
      -1.5,
      Number.MAX_SAFE_INTEGER,
      Number.MIN_VALUE,
      '',
      'text',
      [],
      {},
      [1, 'two', null, [3], { four: 4 }],
      { a: { b: { c: [true, false] } }, 'key with spaces': 1, 'a/b~c': 2, __proto__x: 3 },
      Object.create(null) as object,
    ]
    for (const v of ok) expect(checkJson(v)).toEqual({ hasUnsafeIntegers: false })
  })

  it('accepts any JSON value without empty keys; refuses exactly those with one', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        if (hasEmptyKey(v)) {
          expect(refusal(v)).toMatch(/empty keys are not addressable/)
        } else {
          expect(checkJson(v)).toEqual({ hasUnsafeIntegers: hasUnsafeInteger(v) })
        }
      }),
      FC,
    )
  })

  it('accepts the same object reached twice (a shared, not circular, reference)', () => {
    const shared = { x: 1 }
    const list = [1, 2]
    expect(() => checkJson({ a: shared, b: shared, c: [shared, list, list] })).not.toThrow()
  })

  it('refuses undefined, functions, symbols and bigints, naming the place', () => {
    expect(refusal(undefined)).toBe('value: a undefined is not JSON')
    expect(refusal({ a: { b: undefined } })).toBe('value.a.b: a undefined is not JSON')
    expect(refusal([1, undefined])).toBe('value[1]: a undefined is not JSON')
    expect(refusal({ f: () => 1 })).toBe('value.f: a function is not JSON')
    expect(refusal([Symbol('s')])).toBe('value[0]: a symbol is not JSON')
    expect(refusal({ n: 10n })).toBe('value.n: a bigint is not JSON')
    expect(refusal({ x: [{ y: undefined }] }, 'state')).toBe(
      'state.x[0].y: a undefined is not JSON',
    )
  })

  it('refuses holes in sparse arrays (Automerge would fail on them later)', () => {
    const sparse: unknown[] = []
    sparse[2] = 1
    expect(refusal(sparse)).toBe('value[0]: a undefined is not JSON')
    expect(refusal({ l: new Array(3) })).toBe('value.l[0]: a undefined is not JSON')
  })

  it('refuses NaN and infinities', () => {
    expect(refusal(Number.NaN)).toBe('value: NaN is not a JSON number')
    expect(refusal({ a: Infinity })).toBe('value.a: Infinity is not a JSON number')
    expect(refusal([-Infinity])).toBe('value[0]: -Infinity is not a JSON number')
  })

  it('refuses Dates, class instances, maps, sets, typed arrays and boxed values', () => {
    expect(refusal(new Date(0))).toMatch(/only plain objects are JSON \(got Date\)/)
    expect(refusal({ p: new Point(1, 2) })).toMatch(/^value\.p: only plain objects .*got Point/)
    expect(refusal(new Map())).toMatch(/got Map/)
    expect(refusal(new Set([1]))).toMatch(/got Set/)
    expect(refusal(new Uint8Array(2))).toMatch(/got Uint8Array/)
    expect(refusal(Object(1) as object)).toMatch(/got Number/)
    expect(refusal(/re/)).toMatch(/got RegExp/)
    // an object whose prototype is another plain object is not plain either
    expect(refusal(Object.create({ inherited: 1 }) as object)).toMatch(/only plain objects/)
  })

  it('refuses circular references', () => {
    const o: Record<string, unknown> = { a: 1 }
    o.self = o
    expect(refusal(o)).toBe('value.self: circular reference')
    const a: unknown[] = [1]
    a.push([a])
    expect(refusal(a)).toBe('value[1][0]: circular reference')
    const deep: Record<string, unknown> = {}
    deep.x = { y: { z: deep } }
    expect(refusal({ root: deep })).toBe('value.root.x.y.z: circular reference')
  })

  it('refuses empty keys', () => {
    expect(refusal({ '': 1 })).toBe('value: empty keys are not addressable')
    expect(refusal({ a: { '': null } })).toBe('value.a: empty keys are not addressable')
  })

  it('allows nesting 64 deep and refuses 65', () => {
    expect(() => checkJson(nestArrays(64, null))).not.toThrow()
    expect(() => checkJson(nestObjects(64, 1))).not.toThrow()
    expect(refusal(nestArrays(65, null))).toMatch(/nested deeper than 64/)
    expect(refusal(nestObjects(65, 1))).toMatch(/^value(\.k){65}: nested deeper than 64$/)
    // a very deep value fails cleanly (no stack overflow)
    expect(refusal(nestArrays(100_000, null))).toMatch(/nested deeper than 64/)
  })

  it('reports integers that are not exactly representable as 64-bit-safe JS numbers', () => {
    expect(checkJson(2 ** 53 - 1).hasUnsafeIntegers).toBe(false)
    expect(checkJson(-(2 ** 53) + 1).hasUnsafeIntegers).toBe(false)
    expect(checkJson(2 ** 53).hasUnsafeIntegers).toBe(true)
    expect(checkJson(-(2 ** 53)).hasUnsafeIntegers).toBe(true)
    expect(checkJson({ a: [1, { b: 1e300 }] }).hasUnsafeIntegers).toBe(true)
    expect(checkJson(Number.MAX_VALUE).hasUnsafeIntegers).toBe(true)
    expect(checkJson([1.5, 2 ** 60 + 0.5]).hasUnsafeIntegers).toBe(true) // 2**60+0.5 is an integer
    expect(checkJson([1.5, 0.1, -3]).hasUnsafeIntegers).toBe(false)
  })
})

describe('Automerge value conversion', () => {
  it('turns bigints into numbers', () => {
    expect(fromAutomergeScalar('int', 5n)).toBe(5)
    expect(fromAutomergeScalar('counter', 3)).toBe(3)
    expect(fromAutomergeScalar('str', 'x')).toBe('x')
    expect(normalizeMaterialized({ a: 1n, b: [2n, { c: 3n }], d: 'x', e: null })).toEqual({
      a: 1,
      b: [2, { c: 3 }],
      d: 'x',
      e: null,
    })
  })

  it('leaves bytes and dates alone', () => {
    const bytes = new Uint8Array([1])
    const date = new Date(5)
    const out = normalizeMaterialized({ bytes, date }) as { bytes: unknown; date: unknown }
    expect(out.bytes).toBe(bytes)
    expect(out.date).toBe(date)
  })
})
