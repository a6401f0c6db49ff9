/**
 * Serving an app's files from the block store: the manifest is decoded and its signature and CID
 * checked, every block of the file is checked against its CID, and only then are the bytes
 * served. Anything missing or wrong is an error response with a clear text, never bad bytes.
 */
import { verifyBlockAsync } from '../core/blocks/cid'
import { decodeManifest } from '../core/blocks/manifest'
import type { AppManifest } from '../core/blocks/types'
import { concatBytes } from '../core/bytes'
import { OrreryDb } from '../browser/db'

const db = new OrreryDb()
const manifests = new Map<string, AppManifest>()

function fail(status: number, text: string): Response {
  return new Response(text, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } })
}

async function manifestOf(cid: string): Promise<AppManifest | Response> {
  const cached = manifests.get(cid)
  if (cached !== undefined) return cached
  const row = await db.blocks.get(cid)
  if (row === undefined) return fail(404, `app ${cid} is not in this browser yet`)
  const decoded = decodeManifest(row.bytes, cid)
  if (!decoded.ok) return fail(502, `app ${cid} has a bad manifest: ${decoded.error.message}`)
  manifests.set(cid, decoded.value)
  return decoded.value
}

export async function serveAppFile(url: URL): Promise<Response> {
  const m = /^\/app\/([a-z0-9]+)\/(.+)$/.exec(url.pathname)
  if (m === null) return fail(404, 'not an app file address')
  const [, cid, rawPath] = m as unknown as [string, string, string]
  let path: string
  try {
    path = decodeURIComponent(rawPath)
  } catch {
    return fail(400, 'bad path')
  }
  const manifest = await manifestOf(cid)
  if (manifest instanceof Response) return manifest
  const file = manifest.files.find((f) => f.path === path)
  if (file === undefined) return fail(404, `${path} is not part of ${manifest.name}`)
  const rows = await db.blocks.bulkGet(file.blocks)
  const parts: Uint8Array[] = []
  for (let i = 0; i < file.blocks.length; i++) {
    const row = rows[i]
    const blockCid = file.blocks[i] as string
    if (row === undefined)
      return fail(404, `${path} of ${manifest.name} is incomplete in this browser`)
    if (!(await verifyBlockAsync(blockCid, row.bytes)))
      return fail(502, `a stored block of ${path} does not match its address`)
    parts.push(row.bytes)
  }
  const body = concatBytes(parts)
  return new Response(body as Uint8Array<ArrayBuffer>, {
    headers: {
      'content-type': file.mime,
      'content-length': String(body.length),
      // content-addressed: the same URL always means the same bytes
      'cache-control': 'public, max-age=31536000, immutable',
      'x-content-type-options': 'nosniff',
    },
  })
}
