import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { ProtocolError } from '../errors'
import { Writer } from '../wire/codec'
import { blockCid, cidToBytes, jsonCid } from './cid'
import {
  decodeBlocksMessage,
  encodeBlocksMessage,
  MAX_BLOCKS_MESSAGE,
  MAX_CIDS_PER_MESSAGE,
  type BlocksMessage,
} from './messages'
import { BLOCK_SIZE } from './types'

const FC = { seed: 0xb10c, numRuns: 300 }

const cidArb = fc
  .tuple(fc.uint8Array({ maxLength: 40 }), fc.boolean())
  .map(([b, json]) => (json ? jsonCid(b) : blockCid(b)))
const cidsArb = fc.array(cidArb, { minLength: 1, maxLength: MAX_CIDS_PER_MESSAGE })

const messageArb: fc.Arbitrary<BlocksMessage> = fc.oneof(
  fc.record({ type: fc.constant('want' as const), cids: cidsArb }),
  fc.record({ type: fc.constant('dont-have' as const), cids: cidsArb }),
  fc.record({ type: fc.constant('cancel' as const), cids: cidsArb }),
  fc.record({
    type: fc.constant('block' as const),
    cid: cidArb,
    bytes: fc.uint8Array({ maxLength: 3000 }),
  }),
)

function decodeError(bytes: Uint8Array): ProtocolError {
  const r = decodeBlocksMessage(bytes)
  expect(r.ok).toBe(false)
  if (r.ok) throw new Error('decoded')
  expect(r.error).toBeInstanceOf(ProtocolError)
  return r.error
}

describe('blocks messages', () => {
  it('round-trip', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const r = decodeBlocksMessage(encodeBlocksMessage(m))
        expect(r.ok && r.value).toEqual(m)
      }),
      FC,
    )
  })

  it('carry a full block and 256 CIDs within the framing limit', () => {
    const bytes = new Uint8Array(BLOCK_SIZE).fill(7)
    const block = encodeBlocksMessage({ type: 'block', cid: blockCid(bytes), bytes })
    expect(block.length).toBeLessThanOrEqual(MAX_BLOCKS_MESSAGE)
    const cids = Array.from({ length: MAX_CIDS_PER_MESSAGE }, (_, i) =>
      jsonCid(new Uint8Array([i])),
    )
    const want = encodeBlocksMessage({ type: 'want', cids })
    expect(want.length).toBeLessThanOrEqual(MAX_BLOCKS_MESSAGE)
    const r = decodeBlocksMessage(block)
    expect(r.ok && r.value.type === 'block' && r.value.bytes.length).toBe(BLOCK_SIZE)
  })

  it('refuse to encode what breaks the limits', () => {
    expect(() => encodeBlocksMessage({ type: 'want', cids: [] })).toThrow(RangeError)
    const many = Array.from({ length: MAX_CIDS_PER_MESSAGE + 1 }, () => blockCid(new Uint8Array()))
    expect(() => encodeBlocksMessage({ type: 'cancel', cids: many })).toThrow(RangeError)
    const big = new Uint8Array(BLOCK_SIZE + 1)
    expect(() => encodeBlocksMessage({ type: 'block', cid: blockCid(big), bytes: big })).toThrow(
      RangeError,
    )
  })

  it('enforce the limits on decode', () => {
    const cid = cidToBytes(blockCid(new Uint8Array([1])))
    const many = new Writer().u8(1).varint(MAX_CIDS_PER_MESSAGE + 1)
    for (let i = 0; i <= MAX_CIDS_PER_MESSAGE; i++) many.bytes(cid)
    expect(decodeError(many.finish()).message).toMatch(/above limit 256/)
    expect(decodeError(new Writer().u8(3).varint(0).finish()).message).toMatch(/empty CID list/)
    const oversized = new Writer()
      .u8(2)
      .bytes(cid)
      .bytes(new Uint8Array(BLOCK_SIZE + 1))
      .finish()
    expect(decodeError(oversized).message).toMatch(/above limit/)
    const longCid = new Writer().u8(1).varint(1).bytes(new Uint8Array(65)).finish()
    expect(decodeError(longCid).message).toMatch(/above limit 64/)
  })

  it('reject bad CIDs, unknown types and trailing bytes', async () => {
    const v0 = CID.createV0(await sha256.digest(new Uint8Array([1]))).bytes
    expect(decodeError(new Writer().u8(4).varint(1).bytes(v0).finish()).message).toMatch(
      /invalid CID/,
    )
    const junk = new Writer()
      .u8(1)
      .varint(1)
      .bytes(new Uint8Array([1, 2, 3]))
      .finish()
    expect(decodeError(junk).message).toMatch(/invalid CID/)
    expect(decodeError(new Uint8Array([9, 1, 2])).message).toMatch(/unknown blocks message type 9/)
    expect(decodeError(new Uint8Array(0)).message).toMatch(/empty blocks message/)
    expect(decodeError(new Uint8Array([2])).message).toMatch(/truncated/)
    const ok = encodeBlocksMessage({ type: 'want', cids: [blockCid(new Uint8Array())] })
    const trailing = new Uint8Array([...ok, 0])
    expect(decodeError(trailing).message).toMatch(/trailing/)
  })

  it('never throw on garbage or truncation', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const r = decodeBlocksMessage(bytes)
        if (r.ok) expect(decodeBlocksMessage(encodeBlocksMessage(r.value))).toEqual(r)
      }),
      FC,
    )
    fc.assert(
      fc.property(messageArb, fc.nat(), (m, cut) => {
        const bytes = encodeBlocksMessage(m)
        const at = cut % bytes.length
        expect(decodeBlocksMessage(bytes.subarray(0, at)).ok).toBe(false)
      }),
      FC,
    )
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, at, x) => {
        const bytes = encodeBlocksMessage(m).slice()
        bytes[at % bytes.length]! ^= x
        decodeBlocksMessage(bytes) // any result, no throw
      }),
      FC,
    )
  })
})
