/** An app folder's `orrery.json` (no Vite here: the relay reads it at run time). */
import fs from 'node:fs'
import path from 'node:path'

export interface AppConfig {
  name: string
  version: string
  element: string
  entry: string
}

export function readAppConfig(appDir: string): AppConfig {
  const file = path.join(appDir, 'orrery.json')
  const config = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<AppConfig>
  for (const k of ['name', 'version', 'element', 'entry'] as const) {
    if (typeof config[k] !== 'string' || config[k] === '')
      throw new Error(`${file}: "${k}" must be a non-empty string`)
  }
  return config as AppConfig
}
