import { describe, expect, it, vi } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import * as raw from 'multiformats/codecs/raw'
import * as json from 'multiformats/codecs/json'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import { concatBytes, equalBytes } from '../bytes'
import {
  blockCid,
  chunkFile,
  cidFromBytes,
  cidToBytes,
  isRawCid,
  jsonCid,
  parseCid,
  verifyBlock,
  verifyBlockAsync,
} from './cid'
import { BLOCK_SIZE } from './types'

const FC = { seed: 0xc1d, numRuns: 200 }

async function reference(bytes: Uint8Array, code: number = raw.code): Promise<string> {
  return CID.create(1, code, await sha256.digest(bytes)).toString()
}

/** deterministic pseudo-random bytes */
function bytesOf(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

describe('blockCid and jsonCid', () => {
  it('match the multiformats reference for random inputs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        expect(blockCid(bytes)).toBe(await reference(bytes))
        expect(jsonCid(bytes)).toBe(await reference(bytes, json.code))
      }),
      FC,
    )
  })

  it('are CIDv1 base32 strings with the right codec and hash', () => {
    const c = CID.parse(blockCid(new Uint8Array([1, 2, 3])))
    expect(c.version).toBe(1)
    expect(c.code).toBe(0x55)
    expect(c.multihash.code).toBe(0x12)
    expect(c.toString().startsWith('b')).toBe(true)
    expect(CID.parse(jsonCid(new Uint8Array([1]))).code).toBe(0x0200)
  })
})

describe('chunkFile', () => {
  for (const size of [0, 1, BLOCK_SIZE - 1, BLOCK_SIZE, BLOCK_SIZE + 1, 5 * 1024 * 1024 + 17]) {
    it(`splits a file of ${size} bytes into blocks that match the reference`, async () => {
      const file = bytesOf(size, size + 7)
      const blocks = chunkFile(file)
      expect(blocks.length).toBe(Math.max(1, Math.ceil(size / BLOCK_SIZE)))
      for (const [i, b] of blocks.entries()) {
        expect(b.bytes.length).toBeLessThanOrEqual(BLOCK_SIZE)
        if (i < blocks.length - 1) expect(b.bytes.length).toBe(BLOCK_SIZE)
        expect(b.cid).toBe(await reference(b.bytes))
        expect(verifyBlock(b.cid, b.bytes)).toBe(true)
      }
      expect(equalBytes(concatBytes(blocks.map((b) => b.bytes)), file)).toBe(true)
    })
  }

  it('round-trips random files with random block sizes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 1, max: 700 }),
        (file, size) => {
          const blocks = chunkFile(file, size)
          expect(blocks.length).toBe(Math.max(1, Math.ceil(file.length / size)))
          expect(concatBytes(blocks.map((b) => b.bytes))).toEqual(file)
          for (const b of blocks) expect(b.cid).toBe(blockCid(b.bytes))
        },
      ),
      FC,
    )
  })

  it('refuses a block size that is not a positive integer', () => {
    expect(() => chunkFile(new Uint8Array(3), 0)).toThrow(RangeError)
    expect(() => chunkFile(new Uint8Array(3), 1.5)).toThrow(RangeError)
  })
})

describe('verifyBlock', () => {
  const block = bytesOf(1000, 3)
  const cid = blockCid(block)

  it('verifyBlockAsync (native SHA-256) agrees with verifyBlock, with and without WebCrypto', async () => {
    const bad = block.slice()
    bad[500]! ^= 1
    const cases: [string, Uint8Array][] = [
      [cid, block],
      [cid, bad],
      [cid, block.subarray(1)],
      [jsonCid(block), block],
      ['not a cid', block],
      [CID.createV0(await sha256.digest(block)).toString(), block],
    ]
    const sync = cases.map(([c, b]) => verifyBlock(c, b))
    expect(sync).toEqual([true, false, false, true, false, false])
    expect(await Promise.all(cases.map(([c, b]) => verifyBlockAsync(c, b)))).toEqual(sync)
    vi.stubGlobal('crypto', undefined) // a platform without WebCrypto: the JS hash
    try {
      expect(await Promise.all(cases.map(([c, b]) => verifyBlockAsync(c, b)))).toEqual(sync)
    } finally {
      vi.unstubAllGlobals()
    }
  })

  it('accepts the right bytes, as a string or a parsed CID', () => {
    expect(verifyBlock(cid, block)).toBe(true)
    expect(verifyBlock(CID.parse(cid), block)).toBe(true)
  })

  it('rejects a flipped byte anywhere', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: block.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        (at, x) => {
          const bad = block.slice()
          bad[at]! ^= x
          expect(verifyBlock(cid, bad)).toBe(false)
        },
      ),
      FC,
    )
  })

  it('rejects a truncated or extended block', () => {
    expect(verifyBlock(cid, block.subarray(0, 999))).toBe(false)
    expect(verifyBlock(cid, new Uint8Array(0))).toBe(false)
    expect(verifyBlock(cid, concatBytes([block, new Uint8Array(1)]))).toBe(false)
  })

  it('rejects CIDs of other codecs and hashes, and unparsable ones', async () => {
    const digest = await sha256.digest(block)
    expect(verifyBlock(CID.create(1, 0x71, digest).toString(), block)).toBe(false) // dag-cbor
    expect(verifyBlock(CID.create(1, 0x70, digest).toString(), block)).toBe(false) // dag-pb
    expect(verifyBlock(CID.createV0(digest), block)).toBe(false)
    expect(verifyBlock(CID.createV0(digest).toString(), block)).toBe(false)
    expect(verifyBlock(CID.create(1, raw.code, await sha512.digest(block)).toString(), block)).toBe(
      false,
    )
    expect(verifyBlock(CID.create(1, raw.code, identity.digest(block)).toString(), block)).toBe(
      false,
    )
    for (const s of ['', 'b', 'not a cid', cid.toUpperCase(), cid.slice(0, -1), `${cid}a`]) {
      expect(verifyBlock(s, block)).toBe(false)
    }
    expect(verifyBlock(42 as unknown as string, block)).toBe(false)
  })

  it('verifies json (manifest) CIDs too: both kinds of block live in one store', () => {
    expect(verifyBlock(jsonCid(block), block)).toBe(true)
    expect(verifyBlock(jsonCid(block), block.subarray(1))).toBe(false)
  })
})

describe('parseCid, isRawCid and binary CIDs', () => {
  it('parses canonical CIDv1 strings only', async () => {
    const cid = blockCid(new Uint8Array([9]))
    expect(parseCid(cid).ok).toBe(true)
    const v0 = CID.createV0(await sha256.digest(new Uint8Array([9]))).toString()
    for (const s of [v0, cid.toUpperCase(), CID.parse(cid).toString(base58btc), 'x'.repeat(500)]) {
      const r = parseCid(s)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.code).toBe('INVALID_CID')
    }
  })

  it('refuses a mixed-case spelling (CID.parse reads it and caches it as its string form)', () => {
    const cid = blockCid(new Uint8Array(0))
    for (const at of [1, 7, 20, 58]) {
      const s = cid.slice(0, at) + (cid[at] as string).toUpperCase() + cid.slice(at + 1)
      if (s === cid) continue // a digit has no upper case
      const r = parseCid(s)
      expect(r.ok).toBe(false)
      if (!r.ok) expect(r.error.message).toMatch(/canonical/)
      expect(isRawCid(s)).toBe(false)
    }
  })

  it('tells raw sha2-256 CIDs from others', () => {
    expect(isRawCid(blockCid(new Uint8Array(2)))).toBe(true)
    expect(isRawCid(jsonCid(new Uint8Array(2)))).toBe(false)
    expect(isRawCid('nope')).toBe(false)
  })

  it('tells raw sha2-256 CIDs exactly as parsing them does (the fast check against the parser)', () => {
    const parsedRaw = (s: string): boolean => {
      const p = parseCid(s)
      return (
        p.ok &&
        p.value.code === raw.code &&
        p.value.multihash.code === sha256.code &&
        p.value.multihash.digest.length === 32
      )
    }
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567ABZ01890=-_'
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.tuple(fc.nat(60), fc.nat(alphabet.length - 1), fc.nat(3)), { maxLength: 3 }),
        (bytes, edits) => {
          let s = blockCid(bytes)
          expect(isRawCid(s)).toBe(true)
          for (const [at, c, kind] of edits) {
            const ch = alphabet[c] as string
            // replace, insert or delete a character, or cut the string
            if (kind === 0) s = s.slice(0, at) + ch + s.slice(at + 1)
            else if (kind === 1) s = s.slice(0, at) + ch + s.slice(at)
            else if (kind === 2) s = s.slice(0, at) + s.slice(at + 1)
            else s = s.slice(0, at)
          }
          expect(isRawCid(s)).toBe(parsedRaw(s))
        },
      ),
      { seed: 0xc1d, numRuns: 3000 },
    )
    // every last character, and every character after "bafkrei"
    const cid = blockCid(new Uint8Array([1, 2, 3]))
    for (const ch of alphabet) {
      for (const at of [7, 58]) {
        const s = cid.slice(0, at) + ch + cid.slice(at + 1)
        expect(isRawCid(s)).toBe(parsedRaw(s))
      }
    }
    for (const other of [
      jsonCid(new Uint8Array(2)),
      CID.create(1, raw.code, identity.digest(new Uint8Array(32))),
    ]) {
      expect(isRawCid(other.toString())).toBe(false)
    }
  })

  it('round-trips CIDs through their binary form and rejects garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const cid = blockCid(bytes)
        const back = cidFromBytes(cidToBytes(cid))
        expect(back.ok && back.value).toBe(cid)
      }),
      FC,
    )
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (garbage) => {
        const r = cidFromBytes(garbage)
        if (r.ok) expect(parseCid(r.value).ok).toBe(true)
      }),
      FC,
    )
    expect(() => cidToBytes('garbage')).toThrow()
  })
})
