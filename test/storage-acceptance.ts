/**
 * The StorageAdapter contract (src/core/storage/types.ts), stated once and run over every
 * implementation: each adapter's test file calls `describeStorageAdapter` with a factory.
 *
 *   describeStorageAdapter('memory', async () => ({ adapter: new MemoryStorageAdapter() }))
 *
 * What it holds an adapter to: bytes round-trip (empty and 1 MiB too); a missing key loads as
 * undefined; a save overwrites; removing a missing key is fine; a range is exactly the keys
 * under its prefix (not those of a sibling sharing a string prefix: ['doc','a'] vs ['doc','ab']);
 * `listKeys` agrees with `loadRange`; `removeRange` removes that range only; a batch applies its
 * ops in order and all or nothing (a bad key in it: none applied); `batchNow` is a batch;
 * concurrent saves all land; bytes saved are not the caller's buffer (mutating it after the
 * save does not change what loads); `checkKey`'s rules are enforced by every write and read.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StorageAdapter, StorageKey, StorageOp } from '../src/core/storage/types'

export interface AdapterUnderTest {
  adapter: StorageAdapter
  /** called after each test (close the database, …) */
  close?: () => Promise<void> | void
}

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)
const keyStr = (k: StorageKey): string => k.join('/')
const sorted = (keys: StorageKey[]): string[] => keys.map(keyStr).sort()

/** Settles as the call did, whether it threw at once or returned a rejected promise. */
const settle = async <T>(call: () => Promise<T>): Promise<T> => await call()

/** Keys whose joined form shares a string prefix with "doc/a" but that are not under ['doc','a']. */
const SIBLINGS: StorageKey[] = [
  ['doc', 'ab', 'x'],
  ['doc', 'a-b', 'x'],
  ['doc', 'a.b', 'x'],
  ['doc', 'a0', 'x'],
  ['doc', 'ab'],
  ['do', 'c'],
]
const UNDER_A: StorageKey[] = [
  ['doc', 'a', 'x'],
  ['doc', 'a', 'y', 'z'],
  ['doc', 'a', 'Z-9_.k'],
]

const BAD_KEYS: StorageKey[] = [[], [''], ['a/b'], ['a', 'b c'], ['ü'], ['x'.repeat(129)]]

export function describeStorageAdapter(
  name: string,
  make: () => Promise<AdapterUnderTest> | AdapterUnderTest,
): void {
  describe(`StorageAdapter contract: ${name}`, () => {
    let s: StorageAdapter
    let close: AdapterUnderTest['close']

    beforeEach(async () => {
      const made = await make()
      s = made.adapter
      close = made.close
    })

    afterEach(async () => {
      await close?.()
    })

    /** Every key and its bytes, through `loadRange` of each top-level part used here. */
    async function everything(): Promise<Record<string, number[]>> {
      const out: Record<string, number[]> = {}
      for (const top of ['doc', 'do', 'k', 'b', 'c', 'a', 'x']) {
        for (const c of await s.loadRange([top])) out[keyStr(c.key)] = [...c.data]
      }
      return out
    }

    /** The batch entry points: `batch`, and `batchNow` where the adapter has it. */
    const batchers = (): [string, (ops: readonly StorageOp[]) => Promise<void>][] => {
      const out: [string, (ops: readonly StorageOp[]) => Promise<void>][] = [
        ['batch', (ops) => s.batch(ops)],
      ]
      const now = s.batchNow?.bind(s)
      if (now !== undefined) out.push(['batchNow', now])
      return out
    }

    describe('bytes', () => {
      it('round-trips bytes, the empty array and 1 MiB', async () => {
        const big = new Uint8Array(1 << 20)
        for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 8)) & 0xff
        await s.save(['k', 'small'], bytes(0, 1, 127, 128, 255))
        await s.save(['k', 'empty'], new Uint8Array(0))
        await s.save(['k', 'big'], big)
        expect(await s.load(['k', 'small'])).toEqual(bytes(0, 1, 127, 128, 255))
        const empty = await s.load(['k', 'empty'])
        expect(empty).toBeInstanceOf(Uint8Array)
        expect(empty).toHaveLength(0)
        const back = await s.load(['k', 'big'])
        expect(back).toBeInstanceOf(Uint8Array)
        expect(back?.length).toBe(big.length)
        expect(Buffer.from(back!).equals(Buffer.from(big))).toBe(true)
      })

      it('loads a missing key as undefined', async () => {
        expect(await s.load(['k', 'missing'])).toBeUndefined()
        await s.save(['k', 'there'], bytes(1))
        expect(await s.load(['k', 'there', 'below'])).toBeUndefined()
        expect(await s.load(['k'])).toBeUndefined()
      })

      it('overwrites a key with a later save', async () => {
        await s.save(['k', 'a'], bytes(1, 2, 3))
        await s.save(['k', 'a'], bytes(4))
        expect(await s.load(['k', 'a'])).toEqual(bytes(4))
        expect(sorted((await s.loadRange(['k'])).map((c) => c.key))).toEqual(['k/a'])
      })

      it('keeps what was saved when the caller reuses its buffer after the save', async () => {
        const buf = bytes(1, 2, 3)
        await s.save(['k', 'a'], buf)
        buf.fill(9)
        expect(await s.load(['k', 'a'])).toEqual(bytes(1, 2, 3))
        const inBatch = bytes(4, 5)
        await s.batch([{ type: 'put', key: ['k', 'b'], data: inBatch }])
        inBatch.fill(9)
        expect(await s.load(['k', 'b'])).toEqual(bytes(4, 5))
        expect((await s.loadRange(['k'])).find((c) => keyStr(c.key) === 'k/b')?.data).toEqual(
          bytes(4, 5),
        )
      })

      it('lands every one of many concurrent saves to different keys', async () => {
        const n = 200
        await Promise.all(
          Array.from({ length: n }, (_, i) => s.save(['c', `k${i}`], bytes(i & 0xff, i >> 8))),
        )
        const range = await s.loadRange(['c'])
        expect(range).toHaveLength(n)
        for (let i = 0; i < n; i++)
          expect(await s.load(['c', `k${i}`])).toEqual(bytes(i & 0xff, i >> 8))
      })
    })

    describe('remove', () => {
      it('removes a key, and removing a missing key is fine', async () => {
        await s.save(['k', 'a'], bytes(1))
        await s.save(['k', 'b'], bytes(2))
        await s.remove(['k', 'a'])
        expect(await s.load(['k', 'a'])).toBeUndefined()
        expect(await s.load(['k', 'b'])).toEqual(bytes(2))
        await s.remove(['k', 'a'])
        await s.remove(['k', 'never'])
        await s.remove(['nowhere', 'at', 'all'])
        expect(await everything()).toEqual({ 'k/b': [2] })
      })
    })

    describe('ranges', () => {
      beforeEach(async () => {
        let i = 0
        for (const k of [...UNDER_A, ...SIBLINGS]) await s.save(k, bytes(++i))
      })

      it('loadRange returns exactly the keys under the prefix, with their bytes', async () => {
        const range = await s.loadRange(['doc', 'a'])
        expect(sorted(range.map((c) => c.key))).toEqual(UNDER_A.map(keyStr).sort())
        for (const c of range) {
          expect(c.key.every((p) => typeof p === 'string')).toBe(true)
          expect(c.data).toEqual(await s.load(c.key))
        }
        expect(sorted((await s.loadRange(['doc', 'ab'])).map((c) => c.key))).toEqual(['doc/ab/x'])
        expect(sorted((await s.loadRange(['doc'])).map((c) => c.key))).toEqual(
          [...UNDER_A, ...SIBLINGS]
            .filter((k) => k[0] === 'doc')
            .map(keyStr)
            .sort(),
        )
        expect(await s.loadRange(['doc', 'none'])).toEqual([])
        expect(await s.loadRange(['zzz'])).toEqual([])
      })

      it('listKeys, where present, agrees with loadRange', async () => {
        if (s.listKeys === undefined) return
        for (const prefix of [['doc', 'a'], ['doc', 'ab'], ['doc'], ['do'], ['doc', 'none']]) {
          const keys = await s.listKeys(prefix)
          const range = await s.loadRange(prefix)
          expect(sorted(keys)).toEqual(sorted(range.map((c) => c.key)))
        }
      })

      it('removeRange removes the keys under the prefix and nothing else', async () => {
        const before = await everything()
        await s.removeRange(['doc', 'a'])
        expect(await s.loadRange(['doc', 'a'])).toEqual([])
        for (const k of UNDER_A) expect(await s.load(k)).toBeUndefined()
        const after = await everything()
        for (const k of UNDER_A) delete before[keyStr(k)]
        expect(after).toEqual(before)
        await s.removeRange(['doc', 'none']) // an empty range is fine
        expect(await everything()).toEqual(before)
      })
    })

    describe('batch', () => {
      it('resolves an empty batch and changes nothing', async () => {
        await s.save(['k', 'a'], bytes(1))
        for (const [, run] of batchers()) await run([])
        expect(await everything()).toEqual({ 'k/a': [1] })
      })

      it('applies every op in order: the last op of a key wins', async () => {
        for (const [via, run] of batchers()) {
          await s.save(['b', via, 'removed'], bytes(1))
          await run([
            { type: 'put', key: ['b', via, 'saved-then-removed'], data: bytes(1) },
            { type: 'remove', key: ['b', via, 'saved-then-removed'] },
            { type: 'remove', key: ['b', via, 'removed-then-saved'] },
            { type: 'put', key: ['b', via, 'removed-then-saved'], data: bytes(2) },
            { type: 'put', key: ['b', via, 'twice'], data: bytes(3) },
            { type: 'put', key: ['b', via, 'twice'], data: bytes(4) },
            { type: 'remove', key: ['b', via, 'removed'] },
            { type: 'remove', key: ['b', via, 'never-there'] },
          ])
          expect(await s.load(['b', via, 'saved-then-removed'])).toBeUndefined()
          expect(await s.load(['b', via, 'removed-then-saved'])).toEqual(bytes(2))
          expect(await s.load(['b', via, 'twice'])).toEqual(bytes(4))
          expect(await s.load(['b', via, 'removed'])).toBeUndefined()
          expect(sorted((await s.loadRange(['b', via])).map((c) => c.key))).toEqual([
            `b/${via}/removed-then-saved`,
            `b/${via}/twice`,
          ])
        }
      })

      it('applies nothing of a batch that holds a bad key', async () => {
        await s.save(['k', 'kept'], bytes(1))
        await s.save(['k', 'overwritten'], bytes(2))
        const before = await everything()
        for (const [via, run] of batchers()) {
          for (const bad of BAD_KEYS) {
            const ops: StorageOp[] = [
              { type: 'put', key: ['k', 'new', via], data: bytes(3) },
              { type: 'put', key: ['k', 'overwritten'], data: bytes(4) },
              { type: 'remove', key: ['k', 'kept'] },
              { type: 'put', key: bad, data: bytes(5) },
              { type: 'put', key: ['k', 'after', via], data: bytes(6) },
            ]
            await expect(
              settle(() => run(ops)),
              `${via} ${JSON.stringify(bad)}`,
            ).rejects.toThrow()
            await expect(
              settle(() => run([...ops.slice(0, 3), { type: 'remove', key: bad }])),
            ).rejects.toThrow()
            expect(await everything(), `${via} ${JSON.stringify(bad)}`).toEqual(before)
          }
        }
      })
    })

    describe('keys', () => {
      it('refuses keys that checkKey refuses, on every write and read of one key', async () => {
        for (const bad of BAD_KEYS) {
          const what = JSON.stringify(bad)
          await expect(
            settle(() => s.save(bad, bytes(1))),
            `save ${what}`,
          ).rejects.toThrow()
          await expect(
            settle(() => s.remove(bad)),
            `remove ${what}`,
          ).rejects.toThrow()
          await expect(
            settle(() => s.load(bad)),
            `load ${what}`,
          ).rejects.toThrow()
        }
        expect(await everything()).toEqual({})
      })

      it('takes every character and length that checkKey allows', async () => {
        const key = ['A-Za-z0-9._-', 'x'.repeat(128), '.', '-', '_']
        await s.save(key, bytes(1))
        expect(await s.load(key)).toEqual(bytes(1))
        expect((await s.loadRange(['A-Za-z0-9._-'])).map((c) => [...c.key])).toEqual([key])
      })
    })
  })
}
