import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { fromUtf8, toBase64Url, utf8 } from '../bytes'
import { identityFromSeed } from '../identity'
import type { OrreryError } from '../errors'
import { blockCid, jsonCid, verifyBlock } from './cid'
import {
  buildApp,
  canonicalJson,
  decodeManifest,
  encodeManifest,
  ManifestError,
  MAX_FILES,
  signManifest,
  type BuildAppInput,
  type UnsignedManifest,
} from './manifest'
import { BLOCK_SIZE, MAX_MANIFEST_BYTES, type AppManifest } from './types'

const FC = { seed: 0x3a41f, numRuns: 300 }
const alice = identityFromSeed(new Uint8Array(32).fill(1), 1)
const mallory = identityFromSeed(new Uint8Array(32).fill(2), 1)

const big = new Uint8Array(BLOCK_SIZE * 2 + 100).map((_, i) => (i ^ (i >>> 8) ^ (i >>> 16)) & 0xff)
const input: BuildAppInput = {
  name: 'Notes',
  appVersion: '1.2.0',
  entry: 'index.js',
  element: 'notes-app',
  createdAt: 1_700_000_000_000,
  files: [
    { path: 'index.js', mime: 'text/javascript', bytes: utf8('export {}') },
    { path: 'assets/logo.svg', mime: 'image/svg+xml', bytes: utf8('<svg/>') },
    { path: 'assets/copy.svg', mime: 'image/svg+xml', bytes: utf8('<svg/>') },
    { path: 'data/big.bin', mime: 'application/octet-stream', bytes: big },
    { path: 'empty.txt', mime: 'text/plain; charset=utf-8', bytes: new Uint8Array(0) },
  ],
}
const built = buildApp(input, alice)

function expectError(r: ReturnType<typeof decodeManifest>, code: string, message?: RegExp): void {
  expect(r.ok).toBe(false)
  if (r.ok) return
  expect(r.error).toBeInstanceOf(ManifestError)
  expect((r.error as OrreryError).code).toBe(code)
  if (message) expect(r.error.message).toMatch(message)
}

/** The manifest's fields with `edit` applied, signed again by alice (so only the edit is wrong). */
function resigned(edit: (m: Record<string, unknown>) => void): Uint8Array {
  const m = structuredClone(built.manifest) as unknown as Record<string, unknown>
  delete m.signature
  edit(m)
  return utf8(canonicalJson(signManifest(m as unknown as UnsignedManifest, alice)))
}
const fileEdit =
  (i: number, edit: (f: Record<string, unknown>) => void) =>
  (m: Record<string, unknown>): void =>
    edit((m.files as Record<string, unknown>[])[i] as Record<string, unknown>)

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, has no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: true, c: null }], é: 'x\n"' })).toBe(
      '{"a":[3,{"c":null,"d":true}],"b":1,"é":"x\\n\\""}',
    )
  })

  it('does not depend on key insertion order and is a fixed point of JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const s = canonicalJson(v)
        expect(canonicalJson(JSON.parse(s))).toBe(s)
        if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
          const reversed = Object.fromEntries(Object.entries(v).reverse())
          expect(canonicalJson(reversed)).toBe(s)
        }
      }),
      FC,
    )
  })

  it('refuses what is not JSON', () => {
    for (const v of [
      NaN,
      Infinity,
      undefined,
      () => 1,
      1n,
      new Date(),
      new Uint8Array(1),
      [undefined],
    ]) {
      expect(() => canonicalJson(v)).toThrow(TypeError)
    }
  })
})

describe('buildApp', () => {
  it('chunks files, signs the manifest and lists every block once, manifest first', () => {
    const { manifest, manifestBytes, manifestCid, blocks } = built
    expect(manifestCid).toBe(jsonCid(manifestBytes))
    expect(blocks[0]).toEqual({ cid: manifestCid, bytes: manifestBytes })
    const big = manifest.files.find((f) => f.path === 'data/big.bin')!
    expect(big.blocks).toHaveLength(3)
    expect(big.cid).toBe(blockCid(input.files[3]!.bytes))
    const logo = manifest.files.find((f) => f.path === 'assets/logo.svg')!
    expect(logo.cid).toBe(logo.blocks[0])
    expect(manifest.files.find((f) => f.path === 'empty.txt')!.blocks).toEqual([
      blockCid(new Uint8Array(0)),
    ])
    const cids = blocks.map((b) => b.cid)
    expect(new Set(cids).size).toBe(cids.length) // the two identical svgs are one block
    expect(cids).toHaveLength(1 + 1 + 1 + 3 + 1)
    for (const b of blocks) expect(verifyBlock(b.cid, b.bytes)).toBe(true)
    expect(manifest.publisher).toBe(alice.id)
  })

  it('refuses to build an invalid app', () => {
    expect(() => buildApp({ ...input, entry: 'missing.js' }, alice)).toThrow(/not one of the files/)
    expect(() => buildApp({ ...input, element: 'nohyphen' }, alice)).toThrow(ManifestError)
  })
})

describe('decodeManifest', () => {
  it('round-trips a built manifest', () => {
    const r = decodeManifest(built.manifestBytes, built.manifestCid)
    expect(r.ok && r.value).toEqual(built.manifest)
    expect(encodeManifest(built.manifest)).toEqual(built.manifestBytes)
    expect(decodeManifest(built.manifestBytes).ok).toBe(true)
  })

  it('rejects bytes that are not the ones the expected CID names', async () => {
    expectError(
      decodeManifest(built.manifestBytes, jsonCid(utf8('{}'))),
      'BAD_MANIFEST',
      /not the ones/,
    )
    // same bytes, raw codec: a different CID
    const raw = CID.create(1, 0x55, await sha256.digest(built.manifestBytes)).toString()
    expectError(decodeManifest(built.manifestBytes, raw), 'BAD_MANIFEST', /not the ones/)
  })

  describe('signatures', () => {
    const m = built.manifest
    const cases: [string, () => Uint8Array][] = [
      ['a field changed after signing', () => encodeManifest({ ...m, name: 'Evil notes' })],
      ['a newer createdAt', () => encodeManifest({ ...m, createdAt: m.createdAt + 1 })],
      [
        'a file pointing at other bytes',
        () =>
          encodeManifest({
            ...m,
            files: m.files.map((f) =>
              f.path === 'index.js'
                ? { ...f, cid: blockCid(utf8('evil')), blocks: [blockCid(utf8('evil'))] }
                : f,
            ),
          }),
      ],
      [
        "a signature by another identity (claiming alice's)",
        () => encodeManifest({ ...signManifest({ ...m }, mallory), publisher: alice.id }),
      ],
      [
        "alice's signature claimed by another publisher",
        () => encodeManifest({ ...m, publisher: mallory.id }),
      ],
      [
        'a zeroed signature',
        () => encodeManifest({ ...m, signature: toBase64Url(new Uint8Array(64)) }),
      ],
    ]
    for (const [name, bytes] of cases) {
      it(`rejects ${name} with BAD_SIGNATURE`, () => {
        expectError(decodeManifest(bytes()), 'BAD_SIGNATURE', /signature does not verify/)
      })
    }

    it('accepts a manifest signed by another publisher who names itself', () => {
      const other = encodeManifest(signManifest({ ...m, publisher: mallory.id }, mallory))
      expect(decodeManifest(other).ok).toBe(true)
    })
  })

  describe('shape', () => {
    const longPath = 'a/'.repeat(130) + 'x'
    const notRaw = jsonCid(utf8('x'))
    const cases: [string, () => Uint8Array, RegExp][] = [
      ['too large', () => new Uint8Array(MAX_MANIFEST_BYTES + 1), /more than/],
      ['not UTF-8', () => new Uint8Array([0x7b, 0xff, 0x7d]), /not UTF-8/],
      ['not JSON', () => utf8('{"type":'), /not JSON/],
      ['a list', () => utf8('[]'), /not an object/],
      ['null', () => utf8('null'), /not an object/],
      ['a missing field', () => resigned((m) => delete m.name), /has no "name"/],
      ['an unknown field', () => resigned((m) => (m.extra = 1)), /unknown field "extra"/],
      ['a wrong type', () => resigned((m) => (m.type = 'orrery-doc')), /type is "orrery-doc"/],
      ['another version', () => resigned((m) => (m.version = 2)), /version 2/],
      ['an empty name', () => resigned((m) => (m.name = '  ')), /name is empty/],
      ['a long name', () => resigned((m) => (m.name = 'x'.repeat(101))), /name is longer/],
      [
        'a name with a control character',
        () => resigned((m) => (m.name = 'a\u0007b')),
        /name contains control/,
      ],
      [
        'a name with a lone surrogate',
        () => resigned((m) => (m.name = 'a\ud800')),
        /broken Unicode/,
      ],
      [
        'a numeric appVersion',
        () => resigned((m) => (m.appVersion = 1)),
        /appVersion is not a string/,
      ],
      [
        'a long appVersion',
        () => resigned((m) => (m.appVersion = '1'.repeat(65))),
        /appVersion is longer/,
      ],
      ['a negative createdAt', () => resigned((m) => (m.createdAt = -1)), /createdAt/],
      ['a fractional createdAt', () => resigned((m) => (m.createdAt = 1.5)), /createdAt/],
      ['files not a list', () => resigned((m) => (m.files = {})), /files is not a list/],
      ['no files', () => resigned((m) => (m.files = [])), /files is empty/],
      [
        'too many files',
        () =>
          resigned((m) => {
            const f = (m.files as AppManifest['files'])[1]!
            m.files = Array.from({ length: MAX_FILES + 1 }, (_, i) => ({ ...f, path: `f${i}` }))
          }),
        /more than 1024 files/,
      ],
      [
        'a file that is not an object',
        () => resigned((m) => ((m.files as unknown[])[1] = 'x')),
        /files\[1\] is not an object/,
      ],
      [
        'a file with an unknown field',
        () => resigned(fileEdit(1, (f) => (f.hash = 'x'))),
        /files\[1\] has an unknown field "hash"/,
      ],
      [
        'a file without a mime',
        () => resigned(fileEdit(1, (f) => delete f.mime)),
        /files\[1\] has no "mime"/,
      ],
      [
        'an absolute path',
        () => resigned(fileEdit(1, (f) => (f.path = '/etc/passwd'))),
        /starts with "\/"/,
      ],
      [
        'a path with ..',
        () => resigned(fileEdit(1, (f) => (f.path = 'assets/../../x'))),
        /leaves the app/,
      ],
      ['a path that is ..', () => resigned(fileEdit(1, (f) => (f.path = '..'))), /leaves the app/],
      [
        'a path with a backslash',
        () => resigned(fileEdit(1, (f) => (f.path = 'assets\\logo.svg'))),
        /backslash/,
      ],
      [
        'a path with an empty segment',
        () => resigned(fileEdit(1, (f) => (f.path = 'assets//logo.svg'))),
        /empty or "\." segment/,
      ],
      [
        'a path ending in /',
        () => resigned(fileEdit(1, (f) => (f.path = 'assets/'))),
        /empty or "\." segment/,
      ],
      [
        'a path with a . segment',
        () => resigned(fileEdit(1, (f) => (f.path = './logo.svg'))),
        /empty or "\." segment/,
      ],
      [
        'a path with a query',
        () => resigned(fileEdit(1, (f) => (f.path = 'logo.svg?x'))),
        /"\?" or "#"/,
      ],
      ['an empty path', () => resigned(fileEdit(1, (f) => (f.path = ''))), /path is empty/],
      ['a long path', () => resigned(fileEdit(1, (f) => (f.path = longPath))), /path is longer/],
      [
        'a path with a control character',
        () => resigned(fileEdit(1, (f) => (f.path = 'a\nb'))),
        /control/,
      ],
      [
        'a duplicate path',
        () => resigned(fileEdit(1, (f) => (f.path = 'index.js'))),
        /appears twice/,
      ],
      [
        'a mime without a subtype',
        () => resigned(fileEdit(1, (f) => (f.mime = 'image'))),
        /not a media type/,
      ],
      [
        'a mime with spaces',
        () => resigned(fileEdit(1, (f) => (f.mime = 'image/svg xml'))),
        /not a media type/,
      ],
      [
        'a mime with a broken parameter',
        () => resigned(fileEdit(1, (f) => (f.mime = 'text/plain; charset'))),
        /not a media type/,
      ],
      [
        'a long mime',
        () => resigned(fileEdit(1, (f) => (f.mime = 'a/' + 'b'.repeat(127)))),
        /mime is longer/,
      ],
      [
        'a negative size',
        () => resigned(fileEdit(1, (f) => (f.size = -1))),
        /size is not a non-negative integer/,
      ],
      [
        'a string size',
        () => resigned(fileEdit(1, (f) => (f.size = '6'))),
        /size is not a non-negative integer/,
      ],
      [
        'a size too big for its blocks',
        () => resigned(fileEdit(1, (f) => (f.size = BLOCK_SIZE + 1))),
        /has 1 blocks; a file of 262145 bytes has 2/,
      ],
      [
        'a size too small for its blocks',
        () => resigned(fileEdit(3, (f) => (f.size = BLOCK_SIZE))),
        /has 3 blocks; a file of 262144 bytes has 1/,
      ],
      [
        'an empty file without a block',
        () => resigned(fileEdit(4, (f) => (f.blocks = []))),
        /has 0 blocks; a file of 0 bytes has 1/,
      ],
      [
        'blocks not a list',
        () => resigned(fileEdit(1, (f) => (f.blocks = 'x'))),
        /blocks is not a list/,
      ],
      [
        'a garbage file cid',
        () => resigned(fileEdit(1, (f) => (f.cid = 'bafyfake'))),
        /cid "bafyfake" is not a CIDv1 raw sha2-256/,
      ],
      [
        'a json file cid',
        () => resigned(fileEdit(3, (f) => (f.cid = notRaw))),
        /files\[3\]\.cid .* is not a CIDv1 raw/,
      ],
      [
        'a garbage block cid',
        () => resigned(fileEdit(3, (f) => ((f.blocks as string[])[2] = 'x'))),
        /files\[3\]\.blocks\[2\] "x"/,
      ],
      [
        'a numeric block cid',
        () => resigned(fileEdit(3, (f) => ((f.blocks as unknown[])[0] = 5))),
        /blocks\[0\] 5/,
      ],
      [
        'a one-block file whose cid is not its block',
        () => resigned(fileEdit(1, (f) => (f.cid = blockCid(utf8('other'))))),
        /must be that block's/,
      ],
      [
        'an entry that is not a file',
        () => resigned((m) => (m.entry = 'main.js')),
        /entry "main.js" is not one of the files/,
      ],
      [
        'an entry that is not JavaScript',
        () => resigned((m) => (m.entry = 'assets/logo.svg')),
        /not JavaScript/,
      ],
      [
        'an element without a hyphen',
        () => resigned((m) => (m.element = 'notes')),
        /not a custom element name/,
      ],
      [
        'an element with capitals',
        () => resigned((m) => (m.element = 'Notes-app')),
        /not a custom element name/,
      ],
      [
        'an element starting with a digit',
        () => resigned((m) => (m.element = '1-app')),
        /not a custom element name/,
      ],
      [
        'an element with a space',
        () => resigned((m) => (m.element = 'my app-x')),
        /not a custom element name/,
      ],
      ['a reserved element', () => resigned((m) => (m.element = 'font-face')), /reserved name/],
      [
        "the shell's element prefix",
        () => resigned((m) => (m.element = 'orrery-app')),
        /the shell's/,
      ],
      [
        'a long element',
        () => resigned((m) => (m.element = 'a-' + 'b'.repeat(99))),
        /element is longer/,
      ],
      [
        'a publisher that is not a did:key',
        () => resigned((m) => (m.publisher = 'did:web:example.com')),
        /not an Ed25519 did:key/,
      ],
      [
        'a truncated did:key',
        () => resigned((m) => (m.publisher = alice.id.slice(0, -3))),
        /not an Ed25519 did:key/,
      ],
      [
        'a signature of the wrong length',
        () => encodeManifest({ ...built.manifest, signature: toBase64Url(new Uint8Array(63)) }),
        /64 bytes/,
      ],
      [
        'a signature that is not base64url',
        () => encodeManifest({ ...built.manifest, signature: '+/+/' }),
        /64 bytes/,
      ],
      [
        'pretty-printed JSON',
        () => utf8(JSON.stringify(JSON.parse(fromUtf8(built.manifestBytes)), null, 2)),
        /canonical form/,
      ],
      [
        'keys out of order',
        () => utf8(JSON.stringify(built.manifest)), // insertion order, not sorted
        /canonical form/,
      ],
      [
        'a duplicated key',
        () =>
          utf8(
            fromUtf8(built.manifestBytes).replace(
              '{"appVersion":"1.2.0",',
              '{"appVersion":"1.2.0","appVersion":"1.2.0",',
            ),
          ),
        /canonical form/,
      ],
      [
        'a needless escape',
        () => utf8(fromUtf8(built.manifestBytes).replace('"Notes"', '"\\u004eotes"')),
        /canonical form/,
      ],
    ]
    for (const [name, bytes, message] of cases) {
      it(`rejects ${name} with BAD_MANIFEST`, () => {
        expectError(decodeManifest(bytes()), 'BAD_MANIFEST', message)
      })
    }
  })

  describe('fuzz', () => {
    it('never throws on garbage bytes', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
          expect(decodeManifest(bytes).ok).toBe(false)
        }),
        FC,
      )
    })

    it('never throws on random JSON and never accepts it', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (v) => {
          expect(decodeManifest(utf8(JSON.stringify(v))).ok).toBe(false)
        }),
        FC,
      )
    })

    it('never accepts a mutated manifest', () => {
      const original = built.manifestBytes
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 1, max: 255 })), {
            minLength: 1,
            maxLength: 4,
          }),
          fc.nat(original.length),
          (flips, cut) => {
            const bytes = original.slice(0, Math.max(cut, 1))
            for (const [at, x] of flips) if (at < bytes.length) bytes[at]! ^= x
            const r = decodeManifest(bytes, built.manifestCid)
            expect(r.ok).toBe(false)
            // without the CID check, the signature still catches every change
            const r2 = decodeManifest(bytes)
            if (r2.ok) expect(bytes).toEqual(original)
          },
        ),
        FC,
      )
    })

    it('checks random values in every field without throwing', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...Object.keys(built.manifest).filter((k) => k !== 'signature')),
          fc.jsonValue(),
          (key, v) => {
            const r = decodeManifest(resigned((m) => (m[key] = v)))
            // a value may happen to be valid (a random name); then it is exactly what was signed
            if (r.ok)
              expect(canonicalJson(r.value[key as keyof AppManifest])).toBe(canonicalJson(v))
          },
        ),
        FC,
      )
    })

    it('survives deep nesting', () => {
      const deep = '['.repeat(100_000) + ']'.repeat(100_000)
      expectError(decodeManifest(utf8(deep)), 'BAD_MANIFEST')
      const deepField = `{"x":${'['.repeat(50_000)}${']'.repeat(50_000)}}`
      expectError(decodeManifest(utf8(deepField)), 'BAD_MANIFEST')
    })
  })
})
