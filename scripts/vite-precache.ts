/**
 * A Vite plugin that gives the service worker its precache list (workbox's `self.__WB_MANIFEST`):
 * every file of the build plus the public/ files, with a content revision for files whose names do
 * not already carry a hash. Written here instead of workbox-build to keep the build small.
 */
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { Plugin } from 'vite'

const hashed = /-[A-Za-z0-9_-]{8,}\.\w+$/

export function precacheManifest(opts: {
  swFile: string
  publicDir: string
  skip?: RegExp
}): Plugin {
  return {
    name: 'orrery-precache-manifest',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      const entries: { url: string; revision: string | null }[] = []
      const revision = (bytes: string | Uint8Array): string =>
        createHash('sha256').update(bytes).digest('hex').slice(0, 16)
      for (const [fileName, out] of Object.entries(bundle)) {
        if (fileName === opts.swFile || fileName.endsWith('.map') || opts.skip?.test(fileName))
          continue
        const body = out.type === 'chunk' ? out.code : out.source
        entries.push({
          url: `/${fileName}`,
          revision: hashed.test(fileName) ? null : revision(body),
        })
      }
      if (fs.existsSync(opts.publicDir)) {
        for (const name of fs.readdirSync(opts.publicDir, { recursive: true }) as string[]) {
          const full = path.join(opts.publicDir, name)
          if (!fs.statSync(full).isFile() || opts.skip?.test(name)) continue
          entries.push({
            url: `/${name.split(path.sep).join('/')}`,
            revision: revision(fs.readFileSync(full)),
          })
        }
      }
      entries.sort((a, b) => a.url.localeCompare(b.url))
      const sw = bundle[opts.swFile]
      if (sw?.type !== 'chunk') throw new Error(`precache: no ${opts.swFile} in the build`)
      if (!sw.code.includes('self.__WB_MANIFEST'))
        throw new Error('precache: self.__WB_MANIFEST not found in the service worker')
      sw.code = sw.code.replace('self.__WB_MANIFEST', JSON.stringify(entries))
    },
  }
}
