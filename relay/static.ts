/**
 * Serves the built app from dist/: correct types (wasm as application/wasm so browsers compile it
 * while it streams), long caching for hashed assets, no caching for the entry points, gzip for
 * text and wasm when the browser accepts it (compressed once, kept in memory), and index.html for
 * app routes.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import zlib from 'node:zlib'
import type { IncomingMessage, ServerResponse } from 'node:http'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
}
const COMPRESSIBLE = new Set([
  '.html',
  '.js',
  '.mjs',
  '.css',
  '.json',
  '.webmanifest',
  '.wasm',
  '.svg',
  '.txt',
  '.map',
])

interface Cached {
  body: Buffer
  gzip: Buffer | undefined
  mtimeMs: number
}

export function staticFiles(
  root: string,
  transformHtml: (html: string) => string = (h) => h,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const cache = new Map<string, Cached>()
  const read = async (file: string): Promise<Cached | undefined> => {
    let stat
    try {
      stat = await fs.stat(file)
    } catch {
      return undefined
    }
    if (!stat.isFile()) return undefined
    const hit = cache.get(file)
    if (hit !== undefined && hit.mtimeMs === stat.mtimeMs) return hit
    const ext = path.extname(file)
    const raw = await fs.readFile(file)
    const body = ext === '.html' ? Buffer.from(transformHtml(raw.toString('utf8'))) : raw
    const gzip =
      COMPRESSIBLE.has(ext) && body.length > 1024 ? zlib.gzipSync(body, { level: 6 }) : undefined
    const entry = { body, gzip, mtimeMs: stat.mtimeMs }
    cache.set(file, entry)
    return entry
  }

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false
    let pathname: string
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    } catch {
      res.writeHead(400).end('bad path')
      return true
    }
    const file = path.join(root, pathname)
    if (!file.startsWith(root + path.sep) && file !== root) {
      res.writeHead(403).end('forbidden')
      return true
    }
    let found = pathname.endsWith('/') ? undefined : await read(file)
    let served = file
    if (found === undefined && path.extname(pathname) === '') {
      served = path.join(root, 'index.html') // app route: the shell handles it
      found = await read(served)
    }
    if (found === undefined) return false
    const ext = path.extname(served)
    const immutable = pathname.startsWith('/assets/')
    const useGzip =
      found.gzip !== undefined && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
    const body = useGzip ? (found.gzip as Buffer) : found.body
    res.writeHead(200, {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
      ...(useGzip ? { 'content-encoding': 'gzip' } : {}),
    })
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
