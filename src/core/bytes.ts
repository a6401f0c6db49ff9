import { base58btc } from 'multiformats/bases/base58'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js'

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0
  for (const p of parts) total += p.length
  const out = new Uint8Array(total)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })
export const utf8 = (s: string): Uint8Array => textEncoder.encode(s)
/** Strict UTF-8 decoding: throws on invalid sequences (callers on network input catch it). */
export const fromUtf8 = (b: Uint8Array): string => textDecoder.decode(b)

export const toBase58 = (b: Uint8Array): string => base58btc.baseEncode(b)
export function fromBase58(s: string): Uint8Array | undefined {
  try {
    return base58btc.baseDecode(s)
  } catch {
    return undefined
  }
}

export function toBase64Url(b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i] as number)
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

export function fromBase64Url(s: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return undefined
  try {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'))
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  } catch {
    return undefined
  }
}

export const sha256Hex = (b: Uint8Array): string => bytesToHex(sha256(b))
export { sha256, bytesToHex, hexToBytes }

export function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n)
  crypto.getRandomValues(b)
  return b
}
