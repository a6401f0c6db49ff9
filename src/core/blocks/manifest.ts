/**
 * App manifests: building, signing, encoding and strict decoding. A manifest is canonical JSON
 * (sorted keys, no whitespace: the same rules as RFC 8785 for the values a manifest holds), signed
 * by its publisher's Ed25519 identity over the canonical JSON of every field except `signature`.
 * Its CID (json codec, sha2-256) is the app's address. `decodeManifest` checks everything before
 * it returns a manifest: it is the only way bytes from the network become an AppManifest.
 */
import { fromBase64Url, fromUtf8, toBase64Url, utf8 } from '../bytes'
import { describeError, err, ok, OrreryError, type Result } from '../errors'
import { didKeyFromPublicKey, publicKeyFromDidKey, sign, verify, type Identity } from '../identity'
import { blockCid, chunkFile, isRawCid, jsonCid } from './cid'
import {
  BLOCK_SIZE,
  MAX_MANIFEST_BYTES,
  type AppManifest,
  type Block,
  type CidString,
  type ManifestFile,
} from './types'

export const MAX_NAME_LENGTH = 100
export const MAX_APP_VERSION_LENGTH = 64
export const MAX_PATH_LENGTH = 256
export const MAX_MIME_LENGTH = 128
export const MAX_ELEMENT_LENGTH = 100
export const MAX_FILES = 1024

export class ManifestError extends OrreryError {
  constructor(code: 'BAD_MANIFEST' | 'BAD_SIGNATURE', message: string) {
    super(code, message)
    this.name = 'ManifestError'
  }
}

export type UnsignedManifest = Omit<AppManifest, 'signature'>

export interface AppFileInput {
  path: string
  bytes: Uint8Array
  mime: string
}

export interface BuildAppInput {
  files: AppFileInput[]
  name: string
  appVersion: string
  entry: string
  element: string
  /** defaults to now */
  createdAt?: number
}

export interface BuiltApp {
  manifest: AppManifest
  manifestBytes: Uint8Array
  manifestCid: CidString
  /** the manifest block first, then every file block (each CID once) */
  blocks: Block[]
}

/** Deterministic JSON: object keys sorted (UTF-16 order), no whitespace; plain data only. */
export function canonicalJson(value: unknown): string {
  if (value === null) return 'null'
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} is not JSON`)
      return JSON.stringify(value)
    case 'string':
      return JSON.stringify(value)
    case 'object': {
      if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError('canonicalJson: only plain objects and arrays')
      }
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort()
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
    }
    default:
      throw new TypeError(`canonicalJson: a ${typeof value} is not JSON`)
  }
}

export function encodeManifest(m: AppManifest): Uint8Array {
  return utf8(canonicalJson(m))
}

function signingBytes(m: UnsignedManifest | AppManifest): Uint8Array {
  const fields: Record<string, unknown> = { ...m }
  delete fields.signature
  return utf8(canonicalJson(fields))
}

/** Signs every field of `fields` (any `signature` in it is ignored and replaced). */
export function signManifest(fields: UnsignedManifest, identity: Identity): AppManifest {
  return { ...fields, signature: toBase64Url(sign(identity, signingBytes(fields))) }
}

/** Chunks the files, writes and signs the manifest; throws a ManifestError if it is not valid. */
export function buildApp(input: BuildAppInput, identity: Identity): BuiltApp {
  const blocks = new Map<CidString, Block>()
  const files: ManifestFile[] = input.files.map((f) => {
    const chunks = chunkFile(f.bytes)
    for (const b of chunks) if (!blocks.has(b.cid)) blocks.set(b.cid, b)
    return {
      path: f.path,
      mime: f.mime,
      size: f.bytes.length,
      cid: chunks.length === 1 ? (chunks[0] as Block).cid : blockCid(f.bytes),
      blocks: chunks.map((b) => b.cid),
    }
  })
  const manifest = signManifest(
    {
      type: 'orrery-app',
      version: 1,
      name: input.name,
      appVersion: input.appVersion,
      entry: input.entry,
      element: input.element,
      files,
      publisher: identity.id,
      createdAt: input.createdAt ?? Date.now(),
    },
    identity,
  )
  const manifestBytes = encodeManifest(manifest)
  const manifestCid = jsonCid(manifestBytes)
  const checked = decodeManifest(manifestBytes, manifestCid)
  if (!checked.ok) throw checked.error
  return {
    manifest,
    manifestBytes,
    manifestCid,
    blocks: [{ cid: manifestCid, bytes: manifestBytes }, ...blocks.values()],
  }
}

// ---- decoding ----------------------------------------------------------------------------------

const MANIFEST_KEYS = [
  'appVersion',
  'createdAt',
  'element',
  'entry',
  'files',
  'name',
  'publisher',
  'signature',
  'type',
  'version',
]
const FILE_KEYS = ['blocks', 'cid', 'mime', 'path', 'size']
// eslint-disable-next-line no-control-regex
const CONTROL_OR_LONE_SURROGATE = /[\u0000-\u001f\u007f]|\p{Cs}/u
/** type/subtype with optional parameters, e.g. `text/html; charset=utf-8` */
const MIME =
  /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*(\s*;\s*[a-z0-9!#$&^_.+-]+=([a-z0-9!#$&^_.+-]+|"[^"\\]*"))*$/i
const JS_MIME = /^(text|application)\/(javascript|ecmascript|x-javascript)(\s*;.*)?$/i
const ELEMENT = /^[a-z][a-z0-9._-]*$/
/** names the HTML spec reserves for its own elements */
const RESERVED_ELEMENTS = new Set([
  'annotation-xml',
  'color-profile',
  'font-face',
  'font-face-src',
  'font-face-uri',
  'font-face-format',
  'font-face-name',
  'missing-glyph',
])

class Bad extends Error {}
const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const show = (v: unknown): string => JSON.stringify(v)?.slice(0, 80) ?? String(v)

function exactKeys(v: unknown, keys: string[], where: string): Record<string, unknown> {
  if (!isRecord(v)) throw new Bad(`${where} is not an object`)
  for (const k of keys) if (!Object.hasOwn(v, k)) throw new Bad(`${where} has no "${k}"`)
  for (const k of Object.keys(v)) {
    if (!keys.includes(k)) throw new Bad(`${where} has an unknown field ${show(k)}`)
  }
  return v
}

function text(v: unknown, where: string, max: number): string {
  if (typeof v !== 'string') throw new Bad(`${where} is not a string`)
  if (v.trim().length === 0) throw new Bad(`${where} is empty`)
  if (v.length > max) throw new Bad(`${where} is longer than ${max} characters`)
  if (CONTROL_OR_LONE_SURROGATE.test(v)) {
    throw new Bad(`${where} contains control characters or broken Unicode`)
  }
  return v
}

function count(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new Bad(`${where} is not a non-negative integer: ${show(v)}`)
  }
  return v
}

function checkPath(path: string, where: string): void {
  if (path.startsWith('/')) throw new Bad(`${where} ${show(path)} starts with "/"`)
  if (path.includes('\\')) throw new Bad(`${where} ${show(path)} contains a backslash`)
  if (/[?#]/.test(path)) throw new Bad(`${where} ${show(path)} contains "?" or "#"`)
  for (const seg of path.split('/')) {
    if (seg === '..') throw new Bad(`${where} ${show(path)} leaves the app ("..")`)
    if (seg === '' || seg === '.')
      throw new Bad(`${where} ${show(path)} has an empty or "." segment`)
  }
}

function checkFile(v: unknown, i: number, seen: Set<string>): ManifestFile {
  const where = `files[${i}]`
  const f = exactKeys(v, FILE_KEYS, where)
  const path = text(f.path, `${where}.path`, MAX_PATH_LENGTH)
  checkPath(path, `${where}.path`)
  if (seen.has(path)) throw new Bad(`${where}.path ${show(path)} appears twice`)
  seen.add(path)
  const mime = text(f.mime, `${where}.mime`, MAX_MIME_LENGTH)
  if (!MIME.test(mime)) throw new Bad(`${where}.mime ${show(mime)} is not a media type`)
  const size = count(f.size, `${where}.size`)
  if (typeof f.cid !== 'string' || !isRawCid(f.cid)) {
    throw new Bad(`${where}.cid ${show(f.cid)} is not a CIDv1 raw sha2-256`)
  }
  if (!Array.isArray(f.blocks)) throw new Bad(`${where}.blocks is not a list`)
  const expected = Math.max(1, Math.ceil(size / BLOCK_SIZE))
  if (f.blocks.length !== expected) {
    throw new Bad(`${where} has ${f.blocks.length} blocks; a file of ${size} bytes has ${expected}`)
  }
  f.blocks.forEach((b, j) => {
    if (typeof b !== 'string' || !isRawCid(b)) {
      throw new Bad(`${where}.blocks[${j}] ${show(b)} is not a CIDv1 raw sha2-256`)
    }
  })
  if (expected === 1 && f.blocks[0] !== f.cid) {
    throw new Bad(`${where} is one block, so its cid must be that block's`)
  }
  return { path, mime, size, cid: f.cid, blocks: f.blocks as CidString[] }
}

function checkElement(element: string): void {
  if (!ELEMENT.test(element) || !element.includes('-')) {
    throw new Bad(
      `element ${show(element)} is not a custom element name (lowercase a-z, 0-9, ".", "_", "-", starting with a letter, with a hyphen)`,
    )
  }
  if (RESERVED_ELEMENTS.has(element)) throw new Bad(`element ${show(element)} is a reserved name`)
  if (element.startsWith('orrery-'))
    throw new Bad(`element ${show(element)}: "orrery-" is the shell's`)
}

function checkShape(v: unknown): AppManifest {
  const m = exactKeys(v, MANIFEST_KEYS, 'the manifest')
  if (m.type !== 'orrery-app') throw new Bad(`type is ${show(m.type)}, not "orrery-app"`)
  if (m.version !== 1) throw new Bad(`unsupported manifest version ${show(m.version)}`)
  const name = text(m.name, 'name', MAX_NAME_LENGTH)
  const appVersion = text(m.appVersion, 'appVersion', MAX_APP_VERSION_LENGTH)
  const createdAt = count(m.createdAt, 'createdAt')
  if (!Array.isArray(m.files)) throw new Bad('files is not a list')
  if (m.files.length === 0) throw new Bad('files is empty')
  if (m.files.length > MAX_FILES) throw new Bad(`more than ${MAX_FILES} files`)
  const seen = new Set<string>()
  const files = m.files.map((f, i) => checkFile(f, i, seen))
  const entry = text(m.entry, 'entry', MAX_PATH_LENGTH)
  const entryFile = files.find((f) => f.path === entry)
  if (entryFile === undefined) throw new Bad(`entry ${show(entry)} is not one of the files`)
  if (!JS_MIME.test(entryFile.mime)) {
    throw new Bad(`entry ${show(entry)} is ${show(entryFile.mime)}, not JavaScript`)
  }
  const element = text(m.element, 'element', MAX_ELEMENT_LENGTH)
  checkElement(element)
  const publisher = text(m.publisher, 'publisher', 128)
  const key = publicKeyFromDidKey(publisher)
  if (!key.ok || didKeyFromPublicKey(key.value) !== publisher) {
    throw new Bad(`publisher ${show(publisher)} is not an Ed25519 did:key`)
  }
  const signature = text(m.signature, 'signature', 128)
  const sig = fromBase64Url(signature)
  if (sig === undefined || sig.length !== 64 || toBase64Url(sig) !== signature) {
    throw new Bad('signature is not 64 bytes of unpadded base64url')
  }
  return {
    type: 'orrery-app',
    version: 1,
    name,
    appVersion,
    entry,
    element,
    files,
    publisher,
    createdAt,
    signature,
  }
}

/**
 * Decodes and fully checks a manifest: size, JSON shape and types, every field, canonical form,
 * the publisher's signature and, when given, that the bytes are the ones `expectedCid` names.
 * Shape problems are BAD_MANIFEST; a signature that does not verify is BAD_SIGNATURE.
 */
export function decodeManifest(bytes: Uint8Array, expectedCid?: CidString): Result<AppManifest> {
  const bad = (why: string): Result<AppManifest> =>
    err(new ManifestError('BAD_MANIFEST', `bad app manifest: ${why}`))
  if (!(bytes instanceof Uint8Array)) return bad('not bytes')
  if (bytes.length > MAX_MANIFEST_BYTES) {
    return bad(`${bytes.length} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`)
  }
  if (expectedCid !== undefined && jsonCid(bytes) !== expectedCid) {
    return bad(`its bytes are not the ones ${String(expectedCid).slice(0, 80)} names`)
  }
  let textForm: string
  let parsed: unknown
  try {
    textForm = fromUtf8(bytes)
  } catch {
    return bad('not UTF-8')
  }
  try {
    parsed = JSON.parse(textForm)
  } catch {
    return bad('not JSON')
  }
  let manifest: AppManifest
  try {
    manifest = checkShape(parsed)
  } catch (e) {
    return bad(e instanceof Bad ? e.message : describeError(e))
  }
  if (canonicalJson(parsed) !== textForm) {
    return bad('not in canonical form (sorted keys, no whitespace, no needless escapes)')
  }
  const publicKey = publicKeyFromDidKey(manifest.publisher)
  const sig = fromBase64Url(manifest.signature)
  if (!publicKey.ok || sig === undefined || !verify(publicKey.value, signingBytes(manifest), sig)) {
    return err(
      new ManifestError(
        'BAD_SIGNATURE',
        `the manifest's signature does not verify (publisher ${manifest.publisher.slice(0, 60)})`,
      ),
    )
  }
  return ok(manifest)
}
