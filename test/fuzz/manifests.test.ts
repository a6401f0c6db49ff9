/**
 * Fuzzing decodeManifest, the only way bytes from the network become an app manifest: byte-level
 * mutations of signed manifests, and field-level ones re-encoded in canonical form under the old
 * signature. Manifests are canonical JSON, so bytes that differ are fields that differ: no input
 * other than the signed bytes themselves may be accepted.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { equalBytes, fromUtf8, utf8 } from '../../src/core/bytes'
import { blockCid } from '../../src/core/blocks/cid'
import {
  buildApp,
  canonicalJson,
  decodeManifest,
  encodeManifest,
  signManifest,
} from '../../src/core/blocks/manifest'
import { BLOCK_SIZE, MAX_MANIFEST_BYTES } from '../../src/core/blocks/types'
import { identityFromSeed } from '../../src/core/identity'
import { fuzz, worstCase } from './harness'

const alice = identityFromSeed(new Uint8Array(32).fill(1), 0)
const bob = identityFromSeed(new Uint8Array(32).fill(2), 0)
const build = (name: string, createdAt: number, extra: number): Uint8Array =>
  buildApp(
    {
      name,
      appVersion: '1.2.0',
      entry: 'index.js',
      element: 'notes-app',
      createdAt,
      files: [
        { path: 'index.js', mime: 'text/javascript', bytes: utf8('export {}') },
        { path: 'assets/logo.svg', mime: 'image/svg+xml', bytes: utf8('<svg/>') },
        ...Array.from({ length: extra }, (_, i) => ({
          path: `data/${i}.txt`,
          mime: 'text/plain; charset=utf-8',
          bytes: utf8(`file ${i}`),
        })),
      ],
    },
    alice,
  ).manifestBytes
const pool = [build('Notes', 1_700_000_000_000, 0), build('Ñotes ✓ "q"', 0, 3)]

const isSigned = (bytes: Uint8Array): boolean => pool.some((p) => equalBytes(p, bytes))

type Json = Record<string, unknown>
const FIELDS = ['name', 'appVersion', 'entry', 'element', 'createdAt', 'publisher', 'type']
const FILE_FIELDS = ['path', 'mime', 'size', 'cid', 'blocks']

/** One field changed (or files reordered, dropped, duplicated), re-encoded canonically. */
function changeField(
  bytes: Uint8Array,
  which: number,
  i: number,
  s: string,
  n: number,
): Uint8Array {
  const m = JSON.parse(fromUtf8(bytes)) as Json
  const files = m.files as Json[]
  const values: unknown[] = [s, n, -n, n + 0.5, '', bob.id, blockCid(utf8(s)), null, [s]]
  const value = values[i % values.length]
  const kind = which % 5
  if (kind === 0) m[FIELDS[i % FIELDS.length] as string] = value
  else if (kind === 1) {
    const f = files[i % files.length] as Json
    f[FILE_FIELDS[n % FILE_FIELDS.length] as string] = value
  } else if (kind === 2) m.files = [...files].reverse()
  else if (kind === 3) m.files = files.filter((_, j) => j !== i % files.length)
  else m.files = [...files, files[i % files.length]]
  return utf8(canonicalJson(m))
}

describe('fuzz: app manifests', () => {
  it('answers every mutated manifest with a typed error; only the signed bytes pass', async () => {
    const report = await fuzz({
      name: 'manifest',
      pool,
      run: (input) => decodeManifest(input),
      check: (input, out) => {
        if (out.ok) expect(isSigned(input)).toBe(true)
      },
    })
    expect(report.outcomes.BAD_MANIFEST).toBeGreaterThan(0)
  })

  it('never accepts a changed field under the old signature (2,000 field changes)', async () => {
    const report = await fuzz({
      name: 'manifest fields',
      pool,
      runs: 2000,
      arbitrary: fc
        .tuple(fc.nat(pool.length - 1), fc.nat(), fc.nat(), fc.string({ maxLength: 12 }), fc.nat())
        .map(([p, which, i, s, n]) => changeField(pool[p] as Uint8Array, which, i, s, n)),
      run: (input) => decodeManifest(input),
      check: (input, out) => {
        if (out.ok) expect(isSigned(input)).toBe(true)
      },
    })
    expect(report.outcomes.BAD_SIGNATURE).toBeGreaterThan(0)
  })

  it('checks the largest manifest its limit allows within the time and allocation limits', async () => {
    // one file listing as many block CIDs as fit: the most CIDs a manifest can make us parse
    const cid = blockCid(utf8('x'))
    const signed = (n: number): Uint8Array =>
      encodeManifest(
        signManifest(
          {
            type: 'orrery-app',
            version: 1,
            name: 'Big',
            appVersion: '1',
            entry: 'index.js',
            element: 'big-app',
            files: [
              { path: 'index.js', mime: 'text/javascript', size: n * BLOCK_SIZE, cid, blocks: [] },
            ].map((f) => ({ ...f, blocks: new Array<string>(n).fill(cid) })),
            publisher: alice.id,
            createdAt: 1,
          },
          alice,
        ),
      )
    // each entry is `"<cid>",`; room left for the other fields
    const n = Math.floor(MAX_MANIFEST_BYTES / (cid.length + 3)) - 20
    const big = signed(n)
    expect(big.length).toBeLessThanOrEqual(MAX_MANIFEST_BYTES)
    expect(decodeManifest(big).ok).toBe(true)
    await worstCase(`manifest of ${n} block CIDs (${big.length} bytes)`, () => decodeManifest(big))
  })
})
