/**
 * Cheap checks on Automerge chunks from the network before they reach Automerge: the magic
 * bytes, the declared length, and the checksum (the first 4 bytes of SHA-256 over type, length
 * and data, for document and change chunks). Automerge's own loader quietly drops a truncated
 * trailing chunk, so without this a peer sending garbage would go unnoticed instead of being cut
 * off. A well-framed chunk with nonsense inside is still caught when it is applied.
 */
import { sha256 } from './bytes'

const MAGIC = [0x85, 0x6f, 0x4a, 0x83]
const DOCUMENT = 0
const CHANGE = 1
const COMPRESSED_CHANGE = 2

/** Returns why the bytes are not exactly one Automerge chunk, or undefined when they are. */
export function chunkProblem(c: Uint8Array): string | undefined {
  if (c.length < 10) return 'chunk too short'
  for (let i = 0; i < 4; i++) if (c[i] !== MAGIC[i]) return 'not an Automerge chunk (magic bytes)'
  const type = c[8] as number
  if (type !== DOCUMENT && type !== CHANGE && type !== COMPRESSED_CHANGE)
    return `unknown chunk type ${type}`
  let len = 0
  let mul = 1
  let at = 9
  for (let i = 0; ; i++) {
    if (at >= c.length || i > 7) return 'bad chunk length'
    const b = c[at++] as number
    len += (b & 0x7f) * mul
    if ((b & 0x80) === 0) break
    mul *= 0x80
  }
  if (at + len !== c.length) return `chunk length ${len} does not match its ${c.length - at} bytes`
  if (type !== COMPRESSED_CHANGE) {
    const h = sha256(c.subarray(8, at + len))
    for (let i = 0; i < 4; i++) if (h[i] !== c[4 + i]) return 'chunk checksum does not match'
  }
  return undefined
}
