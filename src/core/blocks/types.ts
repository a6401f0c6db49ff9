/**
 * Content-addressed app bundles: the shared types. An app is a set of files; each file is split
 * into raw blocks of at most BLOCK_SIZE bytes, each addressed by a CIDv1 (codec raw, sha2-256),
 * so every block is a valid IPFS block. A signed manifest (JSON, CIDv1 codec json, sha2-256)
 * lists the files; its CID is the app's address.
 */
export const BLOCK_SIZE = 256 * 1024
/** a manifest must fit in one block */
export const MAX_MANIFEST_BYTES = BLOCK_SIZE

/** A CID in its canonical string form (base32, starts with "b"). */
export type CidString = string

export interface ManifestFile {
  /** path inside the app, no leading slash, e.g. "index.js" or "assets/logo.svg" */
  path: string
  /** media type served for it, e.g. "text/javascript" */
  mime: string
  size: number
  /** CIDv1 raw sha2-256 of the whole file's bytes (a valid CID even when it spans blocks) */
  cid: CidString
  /** the file's blocks in order; their bytes concatenated are the file */
  blocks: CidString[]
}

export interface AppManifest {
  type: 'orrery-app'
  version: 1
  name: string
  appVersion: string
  /** the module the shell imports, a path in `files` */
  entry: string
  /** the custom element the shell mounts (defined by the entry module) */
  element: string
  files: ManifestFile[]
  /** the publisher's identity (did:key, Ed25519) */
  publisher: string
  createdAt: number
  /** base64url Ed25519 signature by `publisher` over the canonical JSON of every other field */
  signature: string
}

export interface Block {
  cid: CidString
  bytes: Uint8Array
}

/** Where a block store's bytes are and how much they take. */
export interface StoreUsage {
  blocks: number
  bytes: number
  pinnedBytes: number
}

/**
 * Storage of verified blocks. `put` checks the bytes against the CID and refuses a mismatch;
 * nothing unverified is ever stored. Pins keep an installed app's blocks (its manifest and all
 * file blocks) from garbage collection; `gc` removes every block no pin references and returns
 * what it freed.
 */
export interface BlockStore {
  has(cid: CidString): Promise<boolean>
  get(cid: CidString): Promise<Uint8Array | undefined>
  put(cid: CidString, bytes: Uint8Array): Promise<void>
  delete(cid: CidString): Promise<void>
  pin(name: string, root: CidString, cids: CidString[]): Promise<void>
  unpin(root: CidString): Promise<void>
  pins(): Promise<{ name: string; root: CidString; cids: CidString[]; pinnedAt: number }[]>
  usage(): Promise<StoreUsage>
  gc(): Promise<{ removed: number; freedBytes: number }>
}

export interface FetchProgress {
  blocks: number
  totalBlocks: number
  bytes: number
  totalBytes: number
}
