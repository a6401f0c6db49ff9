/**
 * Fuzzing the live releases protocol's decoder (QUERY, ANNOUNCE, DONE) and what the receiver does
 * with an ANNOUNCE: decodeManifest. No announced manifest that differs from a signed one passes.
 */
import { describe, expect, it } from 'vitest'
import { equalBytes, utf8 } from '../../src/core/bytes'
import { jsonCid } from '../../src/core/blocks/cid'
import { buildApp, decodeManifest } from '../../src/core/blocks/manifest'
import { identityFromSeed } from '../../src/core/identity'
import {
  decodeReleasesMessage,
  encodeReleasesMessage,
  keyProblem,
  MAX_KEYS_PER_QUERY,
  type ReleasesMessage,
} from '../../src/core/releases/messages'
import { fuzz } from './harness'

const alice = identityFromSeed(new Uint8Array(32).fill(1), 0)
const bob = identityFromSeed(new Uint8Array(32).fill(2), 0)
const app = (name: string, v: string): Uint8Array =>
  buildApp(
    {
      name,
      appVersion: v,
      entry: 'index.js',
      element: 'notes-app',
      createdAt: 1_700_000_000_000,
      files: [
        { path: 'index.js', mime: 'text/javascript', bytes: utf8('export {}') },
        { path: 'a/logo.svg', mime: 'image/svg+xml', bytes: utf8('<svg/>') },
      ],
    },
    alice,
  ).manifestBytes
const manifests = [app('Notes', '1.0.0'), app('Ñotes ✓', '2.0.0-beta')]

const messages: ReleasesMessage[] = [
  {
    type: 'query',
    keys: [
      { publisher: alice.id, name: 'Notes' },
      { publisher: bob.id, name: 'Chat ✓' },
    ],
  },
  ...manifests.map((manifest) => ({ type: 'announce' as const, manifest })),
  { type: 'done' },
]
const pool = messages.map(encodeReleasesMessage)

describe('fuzz: releases messages', () => {
  it('answers every input with a message or a typed error; no altered manifest passes', async () => {
    const report = await fuzz({
      name: 'releases',
      pool,
      inputs: { firstBytes: [0, 1, 2, 3, 4] },
      // the receiver's path: an ANNOUNCE's manifest is decoded and checked against its CID
      run: (input) => {
        const d = decodeReleasesMessage(input)
        if (!d.ok || d.value.type !== 'announce') return d
        const bytes = d.value.manifest
        const m = decodeManifest(bytes, jsonCid(bytes))
        return m.ok ? d : m
      },
      check: (_input, out) => {
        if (!out.ok) return
        const m = out.value
        if (m.type === 'announce') {
          expect(manifests.some((x) => equalBytes(x, m.manifest))).toBe(true)
        }
        if (m.type === 'query') {
          expect(m.keys.length).toBeGreaterThan(0)
          expect(m.keys.length).toBeLessThanOrEqual(MAX_KEYS_PER_QUERY)
          for (const k of m.keys) expect(keyProblem(k)).toBeUndefined()
        }
      },
    })
    expect(report.outcomes.ok).toBeGreaterThan(0)
    expect(report.outcomes.BAD_MANIFEST).toBeGreaterThan(0)
  })
})
