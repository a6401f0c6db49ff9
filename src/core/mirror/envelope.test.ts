import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { concatBytes, equalBytes, randomBytes, sha256, utf8 } from '../bytes'
import { OrreryError, ProtocolError, type Result } from '../errors'
import { generateIdentity, identityFromSeed, sign, type Identity } from '../identity'
import { docIdToBytes, newDocId, newDocIdIn, newSpaceId, type DocId } from '../ids'
import { deriveKey, encrypt, keyedTag, randomKey } from '../keys/aead'
import { Writer } from '../wire/codec'
import {
  MAX_ENVELOPE_BYTES,
  NO_ROSTER,
  encodeEnvelopeHeader,
  mirrorDocTag,
  openEnvelope,
  parseEnvelope,
  sealEnvelope,
  verifyEnvelope,
  type EnvelopeChange,
  type EnvelopeHeader,
  type SealInput,
} from './envelope'
import type { ChangeSignature } from '../sync/signature-list'

// Ed25519 in pure JS costs a millisecond or two per verification: few runs for the properties
const FC = { seed: 0x3e1a, numRuns: 150 }

const alice = identityFromSeed(new Uint8Array(32).fill(1))
const bob = identityFromSeed(new Uint8Array(32).fill(2))
const docId: DocId = newDocId()
const readKey = randomKey()

const signed = (text: string): EnvelopeChange => ({
  change: utf8(text),
  author: randomBytes(32),
  signature: randomBytes(64),
})
const changes: EnvelopeChange[] = [
  signed('first change'),
  { change: utf8('unsigned change') },
  signed('third'),
  { change: new Uint8Array(300).fill(7) },
]

/** a space's roster id, as a header names it */
const roster = randomBytes(32)

const seal = (over: Partial<Parameters<typeof sealEnvelope>[0]> = {}): Uint8Array =>
  sealEnvelope({ docId, readKey, epoch: 3, uploader: alice, seq: 1, changes, ...over })

/** one small envelope: every bit of it is flipped below */
const small = seal({ changes: [signed('x'), { change: utf8('y') }] })

const varint = (n: number): Uint8Array => new Writer().varint(n).finish()

/** An envelope made by hand: `header` bytes, a body box, signed by `signer`. */
function assemble(header: Uint8Array, ciphertext: Uint8Array, signer: Identity): Uint8Array {
  const signature = sign(signer, concatBytes([header, sha256(ciphertext)]))
  return concatBytes([header, varint(ciphertext.length), ciphertext, signature])
}

const headerOf = (over: Partial<EnvelopeHeader> = {}): EnvelopeHeader => ({
  version: 2,
  docTag: mirrorDocTag(docId, readKey),
  roster: NO_ROSTER,
  epoch: 0,
  covers: 0,
  uploader: alice.publicKey,
  seq: 1,
  ...over,
})

/** The body key as the format defines it (recomputed here, not taken from the module). */
const bodyKey = (id: DocId, key: Uint8Array): Uint8Array =>
  deriveKey(key, 'mirror-body/v1', docIdToBytes(id))

/** An envelope whose plaintext is `plaintext`, however malformed, well encrypted and signed. */
function withPlaintext(plaintext: Uint8Array, over: Partial<EnvelopeHeader> = {}): Uint8Array {
  const header = encodeEnvelopeHeader(headerOf(over))
  return assemble(header, encrypt(bodyKey(docId, readKey), plaintext, header), alice)
}

function codeOf(r: Result<unknown>): string {
  if (r.ok) return 'ok'
  expect(r.error).toBeInstanceOf(OrreryError)
  return r.error.code
}

/** `needle` as a contiguous run anywhere in `haystack` */
function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}

describe('mirror envelopes', () => {
  it('round-trips changes, with and without signatures', () => {
    const opened = openEnvelope(
      seal({ epoch: 2 ** 40, seq: Number.MAX_SAFE_INTEGER, roster }),
      docId,
      readKey,
    )
    if (!opened.ok) throw opened.error
    expect(opened.value.header).toEqual({
      version: 2,
      docTag: mirrorDocTag(docId, readKey),
      roster,
      epoch: 2 ** 40,
      covers: 0,
      uploader: alice.publicKey,
      seq: Number.MAX_SAFE_INTEGER,
    })
    expect(opened.value.changes).toEqual(changes)
    expect(opened.value.changes[1]).not.toHaveProperty('author')
    expect(opened.value.changes[1]).not.toHaveProperty('signature')
  })

  it('lays the bytes out as the format says', () => {
    const bytes = seal({ epoch: 300, seq: 5, roster })
    const tag = keyedTag(deriveKey(readKey, 'mirror-doc/v1', docIdToBytes(docId)))
    const header = concatBytes([
      Uint8Array.of(2),
      tag,
      roster,
      Uint8Array.of(0xac, 0x02),
      Uint8Array.of(0),
      alice.publicKey,
      Uint8Array.of(5),
    ])
    expect(bytes.subarray(0, header.length)).toEqual(header)
    const parsed = parseEnvelope(bytes)
    if (!parsed.ok) throw parsed.error
    const { ciphertext, signature } = parsed.value
    expect(parsed.value.signed).toEqual(concatBytes([header, sha256(ciphertext)]))
    expect(bytes).toEqual(concatBytes([header, varint(ciphertext.length), ciphertext, signature]))
    expect(ciphertext[0]).toBe(1) // an aead.ts box
  })

  it('is parsed and its uploader checked without the key (what the mirror runs)', () => {
    const parsed = parseEnvelope(small)
    if (!parsed.ok) throw parsed.error
    expect(parsed.value.header.uploader).toEqual(alice.publicKey)
    expect(parsed.value.header.docTag).toEqual(mirrorDocTag(docId, readKey))
    expect(parsed.value.header.epoch).toBe(3)
    expect(parsed.value.header.seq).toBe(1)
    expect(verifyEnvelope(parsed.value)).toBe(true)
    // a header edited after parsing no longer verifies
    const relabelled = { ...parsed.value.header, uploader: bob.publicKey }
    expect(verifyEnvelope({ ...parsed.value, header: relabelled })).toBe(false)
    expect(verifyEnvelope({ ...parsed.value, header: { ...parsed.value.header, seq: 2 } })).toBe(
      false,
    )
  })

  it('tags a document the same under one key, and differently for another id or key', () => {
    expect(mirrorDocTag(docId, readKey)).toEqual(mirrorDocTag(docId, readKey.slice()))
    expect(mirrorDocTag(docId, randomKey())).not.toEqual(mirrorDocTag(docId, readKey))
    expect(mirrorDocTag(newDocId(), readKey)).not.toEqual(mirrorDocTag(docId, readKey))
    const space = newSpaceId(alice.id).id
    const inSpace = newDocIdIn(space)
    const opened = openEnvelope(seal({ docId: inSpace }), inSpace, readKey)
    expect(opened.ok).toBe(true)
  })

  it('answers a wrong read key or another document with WRONG_KEY', () => {
    expect(codeOf(openEnvelope(small, docId, randomKey()))).toBe('WRONG_KEY')
    expect(codeOf(openEnvelope(small, newDocId(), readKey))).toBe('WRONG_KEY')
    expect(codeOf(openEnvelope(small, docId, new Uint8Array(16)))).toBe('WRONG_KEY')
    expect(codeOf(openEnvelope(small, 'not an id', readKey))).toBe('INVALID_DOC_ID')
  })

  it('refuses a flipped bit anywhere (never a wrong open)', () => {
    // two bits of every byte (a bit that moves along, and the top one: a varint's continuation
    // bit): each flip costs an Ed25519 verification
    const codes = new Set<string>()
    for (let i = 0; i < small.length; i++) {
      for (const bit of new Set([i % 7, 7])) {
        const bad = small.slice()
        bad[i] = (bad[i] as number) ^ (1 << bit)
        const code = codeOf(openEnvelope(bad, docId, readKey))
        expect(code).not.toBe('ok')
        codes.add(code)
      }
    }
    // which structural code a flipped length gives depends on the random bytes after it (a
    // continuation bit can make the length huge): any of these, never an open
    const allowed = [
      'BAD_SIGNATURE',
      'MALFORMED_MESSAGE',
      'MESSAGE_TOO_LARGE',
      'UNSUPPORTED_VERSION',
    ]
    for (const code of codes) expect(allowed).toContain(code)
    for (const code of ['BAD_SIGNATURE', 'MALFORMED_MESSAGE', 'UNSUPPORTED_VERSION'])
      expect(codes).toContain(code)
  })

  it('refuses a body tampered and re-signed by its uploader (BAD_CIPHERTEXT)', () => {
    const parsed = parseEnvelope(small)
    if (!parsed.ok) throw parsed.error
    const header = encodeEnvelopeHeader(parsed.value.header)
    const ciphertext = parsed.value.ciphertext.slice()
    const at = ciphertext.length - 20
    ciphertext[at] = (ciphertext[at] as number) ^ 1
    expect(codeOf(openEnvelope(assemble(header, ciphertext, alice), docId, readKey))).toBe(
      'BAD_CIPHERTEXT',
    )
  })

  it('refuses every truncation, without throwing', () => {
    for (let n = 0; n < small.length; n++) {
      const cut = small.subarray(0, n)
      expect(codeOf(parseEnvelope(cut))).toBe('MALFORMED_MESSAGE')
      expect(codeOf(openEnvelope(cut, docId, readKey))).toBe('MALFORMED_MESSAGE')
    }
  })

  it('refuses trailing bytes', () => {
    for (const extra of [Uint8Array.of(0), randomBytes(64)]) {
      const long = concatBytes([small, extra])
      expect(codeOf(parseEnvelope(long))).toBe('MALFORMED_MESSAGE')
      expect(codeOf(openEnvelope(long, docId, readKey))).toBe('MALFORMED_MESSAGE')
    }
  })

  it('refuses an envelope naming one uploader and signed by another', () => {
    const parsed = parseEnvelope(small)
    if (!parsed.ok) throw parsed.error
    const { ciphertext, signed: covered } = parsed.value
    const header = encodeEnvelopeHeader(parsed.value.header)
    // alice's header, bob's signature
    const forged = concatBytes([header, varint(ciphertext.length), ciphertext, sign(bob, covered)])
    const reparsed = parseEnvelope(forged)
    if (!reparsed.ok) throw reparsed.error
    expect(verifyEnvelope(reparsed.value)).toBe(false)
    expect(codeOf(openEnvelope(forged, docId, readKey))).toBe('BAD_SIGNATURE')
    // alice's body under a header naming bob, signed by bob: the header is the body's aad
    const claimed = assemble(
      encodeEnvelopeHeader({ ...parsed.value.header, uploader: bob.publicKey }),
      ciphertext,
      bob,
    )
    const reclaimed = parseEnvelope(claimed)
    if (!reclaimed.ok) throw reclaimed.error
    expect(verifyEnvelope(reclaimed.value)).toBe(true)
    expect(codeOf(openEnvelope(claimed, docId, readKey))).toBe('BAD_CIPHERTEXT')
  })

  it('holds no change in the clear', () => {
    const canary = utf8('CANARY-7f3a9c-do-not-leak')
    const bytes = seal({ changes: [{ change: canary }, { change: concatBytes([canary, canary]) }] })
    expect(contains(bytes, canary)).toBe(false)
    expect(contains(bytes, canary.subarray(0, 8))).toBe(false)
    expect(contains(bytes, docIdToBytes(docId))).toBe(false)
    expect(contains(bytes, readKey)).toBe(false)
    const opened = openEnvelope(bytes, docId, readKey)
    if (!opened.ok) throw opened.error
    expect(opened.value.changes[0]?.change).toEqual(canary)
  })

  it('refuses other versions, oversized input and bad header numbers', () => {
    for (const version of [0, 1, 3, 255]) {
      const bad = small.slice()
      bad[0] = version
      expect(codeOf(parseEnvelope(bad))).toBe('UNSUPPORTED_VERSION')
    }
    expect(codeOf(parseEnvelope(new Uint8Array(MAX_ENVELOPE_BYTES + 1)))).toBe('MESSAGE_TOO_LARGE')
    const header = encodeEnvelopeHeader(headerOf())
    const huge = concatBytes([header, varint(MAX_ENVELOPE_BYTES + 1), new Uint8Array(100)])
    expect(codeOf(parseEnvelope(huge))).toBe('MESSAGE_TOO_LARGE')

    const box = encrypt(bodyKey(docId, readKey), utf8('x'), header)
    const tag = mirrorDocTag(docId, readKey)
    // a header made by hand, each number given as its bytes (to spell them wrongly)
    const rawHeader = (epoch = varint(0), seq = varint(1)): Uint8Array =>
      concatBytes([Uint8Array.of(2), tag, NO_ROSTER, epoch, varint(0), alice.publicKey, seq])
    const headers: Uint8Array[] = [
      rawHeader(varint(0), varint(0)), // seq 0
      rawHeader(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10)), // epoch 2^53
      rawHeader(Uint8Array.of(0x80, 0x00)), // epoch 0 spelled in two bytes
      rawHeader(varint(0), Uint8Array.of(0x81, 0x80, 0)), // seq 1 spelled in three bytes
    ]
    for (const h of headers) {
      const bytes = assemble(h, box, alice)
      expect(codeOf(parseEnvelope(bytes))).toBe('MALFORMED_MESSAGE')
      expect(codeOf(openEnvelope(bytes, docId, readKey))).toBe('MALFORMED_MESSAGE')
    }
    // a body too short to be a box
    expect(codeOf(parseEnvelope(assemble(header, new Uint8Array(10), alice)))).toBe(
      'MALFORMED_MESSAGE',
    )
  })

  it('reads the change list strictly', () => {
    const author = randomBytes(32)
    const sig = randomBytes(64)
    const one = concatBytes([varint(1), varint(1), utf8('a')])
    expect(
      openEnvelope(withPlaintext(concatBytes([one, Uint8Array.of(0)])), docId, readKey).ok,
    ).toBe(true)
    const bad: Uint8Array[] = [
      new Uint8Array(0), // nothing
      varint(0), // no changes
      concatBytes([varint(1), varint(0), Uint8Array.of(0)]), // a change of no bytes
      concatBytes([one, Uint8Array.of(2)]), // unknown flag
      concatBytes([one]), // no flag
      concatBytes([one, Uint8Array.of(1), author]), // half a signature
      concatBytes([one, Uint8Array.of(1), author, sig, Uint8Array.of(0)]), // trailing byte
      concatBytes([varint(2), varint(1), utf8('a'), Uint8Array.of(0)]), // one change short
      concatBytes([varint(1), varint(5), utf8('a'), Uint8Array.of(0)]), // change overruns
      concatBytes([Uint8Array.of(0x81, 0x00), varint(1), utf8('a'), Uint8Array.of(0)]), // long count
    ]
    for (const plaintext of bad)
      expect(codeOf(openEnvelope(withPlaintext(plaintext), docId, readKey))).toBe(
        'MALFORMED_MESSAGE',
      )
  })

  it('refuses to seal what it could not open', () => {
    expect(() => seal({ changes: [] })).toThrow(RangeError)
    expect(() => seal({ seq: 0 })).toThrow(RangeError)
    expect(() => seal({ epoch: -1 })).toThrow(RangeError)
    expect(() => seal({ changes: [{ change: new Uint8Array(0) }] })).toThrow(RangeError)
    expect(() => seal({ changes: [{ change: utf8('a'), author: randomBytes(32) }] })).toThrow(
      RangeError,
    )
    expect(() =>
      seal({
        changes: [{ change: utf8('a'), author: randomBytes(31), signature: randomBytes(64) }],
      }),
    ).toThrow(RangeError)
    expect(() => seal({ readKey: new Uint8Array(16) })).toThrow(RangeError)
    expect(() => seal({ docId: 'not an id' })).toThrow(OrreryError)
    let thrown: unknown
    try {
      seal({ changes: [{ change: new Uint8Array(MAX_ENVELOPE_BYTES) }] })
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(ProtocolError)
    expect((thrown as ProtocolError).code).toBe('MESSAGE_TOO_LARGE')
  })

  it('answers random bytes with a typed error, never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          fc.uint8Array({ maxLength: 400 }).map((b) => concatBytes([Uint8Array.of(1), b])),
        ),
        (bytes) => {
          const parsed = parseEnvelope(bytes)
          if (parsed.ok) expect(verifyEnvelope(parsed.value)).toBe(false)
          expect(codeOf(openEnvelope(bytes, docId, readKey))).not.toBe('ok')
        },
      ),
      FC,
    )
  })

  it('opens a mutated envelope only if the mutation changed nothing', () => {
    const edit = fc.oneof(
      fc
        .record({ at: fc.nat(), xor: fc.integer({ min: 0, max: 255 }) })
        .map((e) => (b: Uint8Array): Uint8Array => {
          const out = b.slice()
          if (out.length > 0) out[e.at % out.length] = (out[e.at % out.length] as number) ^ e.xor
          return out
        }),
      fc.nat().map(
        (n) =>
          (b: Uint8Array): Uint8Array =>
            b.slice(0, n % (b.length + 1)),
      ),
      fc
        .record({ at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) })
        .map((e) => (b: Uint8Array): Uint8Array => {
          const at = e.at % (b.length + 1)
          return concatBytes([b.subarray(0, at), e.bytes, b.subarray(at)])
        }),
      fc
        .record({ at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) })
        .map((e) => (b: Uint8Array): Uint8Array => {
          const at = e.at % (b.length + 1)
          return concatBytes([b.subarray(0, at), b.subarray(at + e.n)])
        }),
    )
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
        const bytes = edits.reduce((b, f) => f(b), small)
        const opened = openEnvelope(bytes, docId, readKey)
        expect(opened.ok).toBe(equalBytes(bytes, small))
      }),
      FC,
    )
  })

  it('is sealed afresh each time (a new nonce), and both open', () => {
    const uploader = generateIdentity()
    const a = seal({ uploader })
    const b = seal({ uploader })
    expect(equalBytes(a, b)).toBe(false)
    expect(openEnvelope(a, docId, readKey).ok).toBe(true)
    expect(openEnvelope(b, docId, readKey).ok).toBe(true)
  })
})

describe('snapshots', () => {
  const chunk = utf8('the whole document')
  const sig = (): ChangeSignature => ({
    hash: randomBytes(32),
    author: randomBytes(32),
    signature: randomBytes(64),
  })
  const sigs = [sig(), sig()]
  const heads = [randomBytes(32), randomBytes(32)]
  const snap = (over: Partial<NonNullable<SealInput['snapshot']>> = {}): SealInput['snapshot'] => ({
    covers: 7,
    signatures: sigs,
    heads,
    ...over,
  })
  const open = (bytes: Uint8Array): ReturnType<typeof openEnvelope> =>
    openEnvelope(bytes, docId, readKey)
  // a snapshot's plaintext made by hand: one unsigned chunk, then `table`
  const entry = concatBytes([varint(chunk.length), chunk, Uint8Array.of(0)])
  const body = (table: Uint8Array): Uint8Array => concatBytes([varint(1), entry, table])
  const record = (s: ChangeSignature): Uint8Array => concatBytes([s.hash, s.author, s.signature])
  const table = concatBytes([varint(2), ...sigs.map(record), varint(2), ...heads])

  it('round-trips covers, the chunk, the signatures and the heads', () => {
    for (const snapshot of [snap(), snap({ covers: 2 ** 40, signatures: [], heads: [] })]) {
      const opened = open(seal({ roster, changes: [{ change: chunk }], snapshot }))
      if (!opened.ok) throw opened.error
      expect(opened.value.header.covers).toBe(snapshot?.covers)
      expect(opened.value.changes).toEqual([{ change: chunk }])
      expect(opened.value.snapshot).toEqual({
        signatures: snapshot?.signatures,
        heads: snapshot?.heads,
      })
    }
    // the layout made by hand opens the same: the format is as documented
    const opened = open(withPlaintext(body(table), { covers: 7 }))
    expect(opened.ok && opened.value.snapshot).toEqual({ signatures: sigs, heads })
    // a bundle of changes carries no table
    const bundle = open(small)
    expect(bundle.ok && bundle.value).not.toHaveProperty('snapshot')
  })

  it('refuses to seal a snapshot it could not open', () => {
    const one = [{ change: chunk }]
    expect(() => seal({ changes: [], snapshot: snap() })).toThrow(RangeError)
    expect(() => seal({ changes: [...one, ...one], snapshot: snap() })).toThrow(RangeError)
    const bad = [
      { ...sig(), hash: randomBytes(31) },
      { ...sig(), author: randomBytes(33) },
      { ...sig(), signature: randomBytes(63) },
    ]
    for (const s of bad)
      expect(() => seal({ changes: one, snapshot: snap({ signatures: [s] }) })).toThrow(RangeError)
    expect(() => seal({ changes: one, snapshot: snap({ heads: [randomBytes(31)] }) })).toThrow(
      RangeError,
    )
    expect(() => seal({ changes: one, snapshot: snap({ covers: -1 }) })).toThrow(RangeError)
  })

  it('refuses to seal a snapshot covering nothing (covers 0)', () => {
    let bytes: Uint8Array | undefined
    try {
      bytes = seal({ changes: [{ change: chunk }], snapshot: snap({ covers: 0 }) })
    } catch (e) {
      expect(e).toBeInstanceOf(RangeError)
    }
    // if sealed: a bundle's header (covers 0) over a snapshot's body, which no reader opens
    if (bytes !== undefined) expect(codeOf(open(bytes))).toBe('MALFORMED_MESSAGE')
    expect(bytes).toBeUndefined()
  })

  it('reads the table strictly, never throwing nor allocating for a lying count', () => {
    const bad: Uint8Array[] = [
      body(concatBytes([varint(2 ** 40), record(sig()), varint(0)])),
      body(varint(Number.MAX_SAFE_INTEGER)),
      body(concatBytes([varint(0), varint(2 ** 40), ...heads])),
      body(new Uint8Array(0)), // no table
      body(varint(0)), // no head count
      body(table.subarray(0, table.length - 1)), // a head cut short
      body(table.subarray(0, 100)), // a signature cut short
      body(concatBytes([table, Uint8Array.of(0)])), // trailing
      body(concatBytes([Uint8Array.of(0x80, 0x00), varint(0)])), // a count not shortest
      concatBytes([varint(2), entry, entry, table]), // two chunks
    ]
    for (const plaintext of bad) {
      const bytes = withPlaintext(plaintext, { covers: 3 })
      expect(() => open(bytes)).not.toThrow()
      expect(codeOf(open(bytes))).toBe('MALFORMED_MESSAGE')
    }
    expect(codeOf(open(withPlaintext(body(table), { covers: 3 })))).toBe('ok')
  })

  it('refuses a table after a bundle of changes (trailing bytes)', () => {
    for (const t of [table, concatBytes([varint(0), varint(0)])])
      expect(codeOf(open(withPlaintext(body(t))))).toBe('MALFORMED_MESSAGE')
    expect(codeOf(open(withPlaintext(body(new Uint8Array(0)))))).toBe('ok')
  })
})
