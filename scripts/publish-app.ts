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
import path from 'node:path'
import '../relay/polyfill.js'
import { loadAutomergeNode } from '../src/core/automerge-node'
import { buildAppDir, loadPublisher, writeSeed } from '../relay/app-build'

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
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
  const identity = loadPublisher(
    path.resolve(arg('--publisher') ?? process.env.ORRERY_PUBLISHER ?? '.data/publisher.json'),
  )
  const base = arg('--url') ?? `http://localhost:${process.env.PORT ?? 8080}`
  for (const dir of dirs) {
    const { config, app, bytes, files } = await buildAppDir(dir, identity)
    await writeSeed(outDir, config, app)
    console.log(
      `${config.name} ${config.version}: ${files} files, ${bytes} bytes, ${app.blocks.length} blocks`,
    )
    console.log(`  ${config.name}: ${app.manifestCid}\n  open: ${base}/#/app/${app.manifestCid}`)
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e)
  process.exit(1)
})
