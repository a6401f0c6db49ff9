/**
 * What hostile peers send, built byte by byte: shared by the attack tests (test/attacks-*.test.ts)
 * and the attacks benchmark (bench/attacks.ts, whose attacker runs in a child process). Pure
 * builders: no vitest, no libp2p.
 */
import { deflateRawSync } from 'node:zlib'
import { generateIdentity, type Identity } from '../src/core/identity'
import { issueTabCert } from '../src/core/tab-cert'
import { encodeSyncFrame } from '../src/core/sync/messages'
import { helloVersion, VERSIONS } from '../src/core/wire/versions'
import { encodeMessage, MAX_FRAME } from '../src/core/wire/framing'
import { Writer } from '../src/core/wire/codec'
import { sha256 } from '../src/core/bytes'

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]

export function uleb(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

/** A chunk: magic, checksum (of type, length and data, as Automerge makes it), type, length, data. */
export function chunk(type: number, data: Uint8Array, checksumOf = data): Uint8Array {
  const sum = sha256(new Uint8Array([type, ...uleb(checksumOf.length), ...checksumOf]))
  return new Uint8Array([...MAGIC, ...sum.subarray(0, 4), type, ...uleb(data.length), ...data])
}

/** The data of a chunk, after its header. */
export function dataOf(c: Uint8Array): Uint8Array {
  let at = 9
  while ((c[at] as number) & 0x80) at++
  return c.subarray(at + 1)
}

/** A real change, compressed the way Automerge compresses one (type 2, same checksum). */
export function compressChange(change: Uint8Array): Uint8Array {
  const data = dataOf(change)
  return chunk(2, deflateRawSync(data), data)
}

/** Type 2: `inflated` zero bytes, deflated (about a thousand to one). */
export const changeBomb = (inflated: number): Uint8Array =>
  chunk(2, deflateRawSync(new Uint8Array(inflated)))

/** A whole-document chunk whose one (deflated) op column inflates to `inflated` bytes. */
export function documentBomb(inflated: number): Uint8Array {
  const column = deflateRawSync(new Uint8Array(inflated))
  // no actors, no heads, no change columns; one op column: id 0, type actor (1), deflate bit (8)
  const data = new Uint8Array([0, 0, 0, 1, 0x09, ...uleb(column.length), ...column])
  return chunk(0, data)
}

/** The part size encodeMessage uses. */
export const PART = MAX_FRAME - 26

/** The first `upTo` bytes of a `total`-byte split message, framed as encodeMessage frames it. */
export function* splitFrames(total: number, upTo: number, part = PART): Generator<Uint8Array> {
  for (let at = 0; at < Math.min(total, upTo); at += part) {
    const data = new Uint8Array(Math.min(part, total - at, upTo - at)).fill(at & 0xff)
    const body = (at === 0 ? new Writer().u8(1).varint(total) : new Writer().u8(2))
      .raw(data)
      .finish()
    yield new Writer().varint(body.length).raw(body).finish()
  }
}

/**
 * A sync HELLO for `peerId`, signed by a fresh identity (or `identity`), as one frame, for a
 * stream of sync major `major`.
 */
export const helloFrame = (
  peerId: string,
  identity: Identity = generateIdentity(),
  major = VERSIONS.sync.current,
): Uint8Array =>
  encodeMessage(
    encodeSyncFrame({
      type: 'hello',
      version: helloVersion('sync', major),
      cert: issueTabCert(identity, peerId, `attacker-${peerId.slice(-6)}`),
    }),
  )[0]!
