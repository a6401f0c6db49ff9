/**
 * Building an app folder (`apps/<name>/`, described by its `orrery.json`) into a signed,
 * content-addressed bundle: Vite builds ES modules, CSS and assets; every file is split into
 * blocks; the manifest is signed by the publisher's identity. Used by `npm run publish-app` and by
 * the relay's live publishing in `npm run dev -- --publish apps/<name>`.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { build } from 'vite'
import { buildApp, type BuiltApp } from '../src/core/blocks/manifest'
import { exportFile, generateIdentity, importFile, type Identity } from '../src/core/identity'
import { FileBlockStore } from './file-blocks'
import { readAppConfig, type AppConfig } from './app-config'

const MIME: Record<string, string> = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.html': 'text/html',
  '.txt': 'text/plain',
  '.wasm': 'application/wasm',
}

/** The publisher identity in `file`, made (and saved, readable only by its owner) when absent. */
export function loadPublisher(file: string): Identity {
  if (fs.existsSync(file)) {
    const r = importFile(fs.readFileSync(file, 'utf8'))
    if (!r.ok) throw new Error(`${file}: ${r.error.message}`)
    return r.value
  }
  const id = generateIdentity()
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, exportFile(id), { mode: 0o600 })
  console.log(`made a publisher identity in ${file}: ${id.id}`)
  return id
}

function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name)
    return e.isDirectory()
      ? walk(full, base)
      : [path.relative(base, full).split(path.sep).join('/')]
  })
}

export interface BuildOptions {
  /** the version in the manifest (default: orrery.json's) */
  appVersion?: string
  /** minify (default true; live publishing skips it for speed) */
  minify?: boolean
}

export async function buildAppDir(
  appDir: string,
  identity: Identity,
  opts: BuildOptions = {},
): Promise<{ config: AppConfig; app: BuiltApp; bytes: number; files: number }> {
  const config = readAppConfig(appDir)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `orrery-app-${config.name}-`))
  try {
    await build({
      configFile: false,
      root: path.resolve(appDir),
      logLevel: 'warn',
      build: {
        outDir: tmp,
        emptyOutDir: true,
        target: 'es2022',
        minify: opts.minify ?? true,
        sourcemap: false,
        reportCompressedSize: false,
        lib: {
          entry: path.resolve(appDir, config.entry),
          formats: ['es'],
          fileName: () => 'index.js',
        },
        rolldownOptions: {
          output: {
            chunkFileNames: 'chunk-[hash].js',
            assetFileNames: 'assets/[name]-[hash][extname]',
          },
        },
      },
    })
    const files = walk(tmp).map((p) => ({
      path: p,
      bytes: new Uint8Array(fs.readFileSync(path.join(tmp, p))),
      mime: MIME[path.extname(p)] ?? 'application/octet-stream',
    }))
    const app = buildApp(
      {
        files,
        name: config.name,
        appVersion: opts.appVersion ?? config.version,
        entry: 'index.js',
        element: config.element,
      },
      identity,
    )
    return {
      config,
      app,
      bytes: files.reduce((n, f) => n + f.bytes.length, 0),
      files: files.length,
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

/** Puts the app's blocks under `<outDir>/blocks/` and lists it in `<outDir>/apps.json`. */
export async function writeSeed(outDir: string, config: AppConfig, app: BuiltApp): Promise<void> {
  const store = new FileBlockStore([outDir])
  for (const b of app.blocks) await store.put(b.cid, b.bytes)
  await store.addListing({
    name: config.name,
    version: app.manifest.appVersion,
    cid: app.manifestCid,
    publishedAt: Date.now(),
  })
}
