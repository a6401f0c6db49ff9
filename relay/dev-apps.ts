/**
 * The apps under `apps/` as the development shell mounts them from source (`/#/dev/<name>`):
 * Vite serves their modules with hot reload, so an edit shows in the open page in place.
 */
import fs from 'node:fs'
import path from 'node:path'
import { readAppConfig } from './app-config'

export interface DevApp {
  name: string
  dir: string
  element: string
  /** the entry module's URL on the dev server */
  entry: string
}

export function devApps(root = 'apps'): DevApp[] {
  let dirs: string[]
  try {
    dirs = fs.readdirSync(root)
  } catch {
    return []
  }
  return dirs.flatMap((d) => {
    const dir = path.posix.join(root, d)
    try {
      const c = readAppConfig(dir)
      return [{ name: c.name, dir, element: c.element, entry: `/${path.posix.join(dir, c.entry)}` }]
    } catch {
      return [] // not an app folder
    }
  })
}
