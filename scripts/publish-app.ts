/**
 * `npm run publish-app -- apps/<name>`: builds an app with Vite (ES modules, CSS, assets), splits
 * its files into content-addressed blocks, signs the manifest with the publisher identity, and
 * puts the blocks where the relay seeds them. Prints the app's CID and a link that opens it.
 *
 *   --all            every folder under apps/
 *   --out <dir>      where to put blocks (default: $ORRERY_DATA_DIR/seed, the relay's published apps)
 *   --publisher <f>  the identity file to sign with (default .data/publisher.json, made if absent)
 *   --url <base>     the base of the printed link (default http://localhost:$PORT)
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { build } from 'vite'
import '../relay/polyfill.js'
import { loadAutomergeNode } from '../src/core/automerge-node'
import { buildApp } from '../src/core/blocks/manifest'
import { exportFile, generateIdentity, importFile, type Identity } from '../src/core/identity'

interface AppConfig {
  name: string
  version: string
  element: string
  entry: string
}

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

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

function publisher(file: string): Identity {
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

export async function publishApp(
  appDir: string,
  outDir: string,
  identity: Identity,
): Promise<{ name: string; cid: string }> {
  const configFile = path.join(appDir, 'orrery.json')
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as AppConfig
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `orrery-app-${config.name}-`))
  await build({
    configFile: false,
    root: path.resolve(appDir),
    logLevel: 'warn',
    build: {
      outDir: tmp,
      emptyOutDir: true,
      target: 'es2022',
      minify: true,
      sourcemap: false,
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
  fs.rmSync(tmp, { recursive: true, force: true })
  const app = buildApp(
    {
      files,
      name: config.name,
      appVersion: config.version,
      entry: 'index.js',
      element: config.element,
    },
    identity,
  )
  fs.mkdirSync(path.join(outDir, 'blocks'), { recursive: true })
  for (const b of app.blocks) fs.writeFileSync(path.join(outDir, 'blocks', b.cid), b.bytes)
  const listFile = path.join(outDir, 'apps.json')
  const list = fs.existsSync(listFile)
    ? (JSON.parse(fs.readFileSync(listFile, 'utf8')) as { name: string; cid: string }[])
    : []
  const entry = {
    name: config.name,
    version: config.version,
    cid: app.manifestCid,
    publishedAt: Date.now(),
  }
  fs.writeFileSync(
    listFile,
    JSON.stringify([...list.filter((a) => a.cid !== app.manifestCid), entry], null, 2),
  )
  const size = files.reduce((n, f) => n + f.bytes.length, 0)
  console.log(
    `${config.name} ${config.version}: ${files.length} files, ${size} bytes, ${app.blocks.length} blocks`,
  )
  return { name: config.name, cid: app.manifestCid }
}

async function main(): Promise<void> {
  loadAutomergeNode()
  const all = process.argv.includes('--all')
  const dirs = all
    ? fs
        .readdirSync('apps')
        .map((d) => path.join('apps', d))
        .filter((d) => fs.existsSync(path.join(d, 'orrery.json')))
    : process.argv
        .slice(2)
        .filter((a, i, xs) => !a.startsWith('--') && !xs[i - 1]?.startsWith('--'))
  if (dirs.length === 0)
    throw new Error(
      'usage: npm run publish-app -- apps/<name> [--out dir] [--publisher file] | --all',
    )
  const outDir = path.resolve(
    arg('--out') ?? path.join(process.env.ORRERY_DATA_DIR ?? '.data/relay', 'seed'),
  )
  const identity = publisher(
    path.resolve(arg('--publisher') ?? process.env.ORRERY_PUBLISHER ?? '.data/publisher.json'),
  )
  const base = arg('--url') ?? `http://localhost:${process.env.PORT ?? 8080}`
  for (const dir of dirs) {
    const { name, cid } = await publishApp(dir, outDir, identity)
    console.log(`  ${name}: ${cid}\n  open: ${base}/#/app/${cid}`)
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e)
  process.exit(1)
})
