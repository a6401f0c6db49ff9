/**
 * The apps benchmark's synthetic app: a tiny entry module that defines <bench-app> (and notes when
 * it is first mounted) plus ~1 MiB of incompressible assets (seeded PRNG bytes) in three files,
 * built with `buildApp` and signed by a fresh identity. `seedApp` writes its blocks where a relay
 * seeds them (`<data dir>/seed/blocks/<cid>`), before that relay starts.
 */
import path from 'node:path'
import { buildApp, type AppFileInput } from '../src/core/blocks/manifest'
import type { Block } from '../src/core/blocks/types'
import { generateIdentity } from '../src/core/identity'
import { FileBlockStore } from '../relay/file-blocks'

export const APP_ELEMENT = 'bench-app'
/** three assets, 1 MiB together; not multiples of the 256 KiB block size, so 6 asset blocks */
export const ASSET_SIZES = [400 * 1024, 360 * 1024, 264 * 1024]

declare global {
  interface Window {
    /** performance.now() when <bench-app> was first connected to the document */
    __benchAppMounted?: number
  }
}

const ENTRY = `class BenchApp extends HTMLElement {
  connectedCallback() {
    window.__benchAppMounted ??= performance.now()
    this.textContent = 'bench app: 1 MiB of assets'
  }
}
if (!customElements.get('${APP_ELEMENT}')) customElements.define('${APP_ELEMENT}', BenchApp)
`

export interface BenchApp {
  /** the manifest CID: the app's address */
  cid: string
  /** the manifest block first, then every file block */
  blocks: Block[]
  /** every block's CID (what a fetcher asks for) */
  cids: string[]
  /** all blocks' bytes together */
  bytes: number
}

/** mulberry32: the same bytes for the same seed, and nothing a compressor could shrink. */
function prngBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n)
  const view = new DataView(out.buffer)
  let s = seed
  for (let i = 0; i + 4 <= n; i += 4) {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    view.setUint32(i, (t ^ (t >>> 14)) >>> 0)
  }
  return out
}

export function makeBenchApp(): BenchApp {
  const files: AppFileInput[] = [
    { path: 'index.js', bytes: new TextEncoder().encode(ENTRY), mime: 'text/javascript' },
    ...ASSET_SIZES.map((size, i) => ({
      path: `assets/data-${i}.bin`,
      bytes: prngBytes(size, 0x5eed + i),
      mime: 'application/octet-stream',
    })),
  ]
  const app = buildApp(
    { files, name: 'bench-1mb', appVersion: '1.0.0', entry: 'index.js', element: APP_ELEMENT },
    generateIdentity(),
  )
  return {
    cid: app.manifestCid,
    blocks: app.blocks,
    cids: app.blocks.map((b) => b.cid),
    bytes: app.blocks.reduce((n, b) => n + b.bytes.length, 0),
  }
}

/** Writes the app's blocks to `<dataDir>/seed/blocks/`, where the relay seeds them from. */
export async function seedApp(app: BenchApp, dataDir: string): Promise<void> {
  const store = new FileBlockStore([path.join(dataDir, 'seed')])
  for (const b of app.blocks) await store.put(b.cid, b.bytes)
}
