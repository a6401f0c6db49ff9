/**
 * `npm run new-app -- <name>`: makes `apps/<name>/`, a working Orrery app to start from: a lit
 * element that keeps a counter and a note in a document of its own (synced with every peer that
 * opens the app's link), its `orrery.json`, and a README. See docs/WRITING-APPS.md.
 *
 *   --dir <folder>   where the apps live (default apps)
 */
import fs from 'node:fs'
import path from 'node:path'

const NAME = /^[a-z][a-z0-9]{1,30}$/

export function newApp(name: string, root = 'apps'): string {
  if (!NAME.test(name))
    throw new Error(
      `app names are 2-31 lower-case letters and digits, starting with a letter: ${name}`,
    )
  const dir = path.join(root, name)
  if (fs.existsSync(dir)) throw new Error(`${dir} exists already`)
  const element = `${name}-app`
  const cls = `${name[0]!.toUpperCase()}${name.slice(1)}App`
  const define = path
    .relative(path.join(dir, 'src'), 'src/browser/ui/define')
    .split(path.sep)
    .join('/')
  const apiTypes = path
    .relative(path.join(dir, 'src'), 'src/core/apps/api')
    .split(path.sep)
    .join('/')
  fs.mkdirSync(path.join(dir, 'src'), { recursive: true })
  fs.writeFileSync(
    path.join(dir, 'orrery.json'),
    `${JSON.stringify({ name, version: '0.1.0', element, entry: 'src/index.ts' }, null, 2)}\n`,
  )
  fs.writeFileSync(
    path.join(dir, 'src', 'index.ts'),
    `/**
 * ${name}: an Orrery app. The shell mounts <${element}> and sets its \`orrery\` property (the
 * app's API: its own documents, spaces, actions). Edit this file under \`npm run dev\` and the
 * open page updates in place.
 */
import { LitElement, css, html } from 'lit'
import type { AppApi } from '${apiTypes}'
import { defineElement } from '${define}'

export class ${cls} extends LitElement {
  static override properties = {
    orrery: { attribute: false },
    docId: { state: true },
    count: { state: true },
  }
  declare orrery: AppApi | undefined
  declare docId: string | undefined
  declare count: number
  private off: (() => void) | undefined

  constructor() {
    super()
    this.orrery = undefined
    this.docId = undefined
    this.count = 0
  }

  static override styles = css\`
    :host {
      display: block;
      font: 15px system-ui, sans-serif;
    }
  \`

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('orrery') && this.orrery !== undefined) void this.open(this.orrery)
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.off?.()
  }

  /** The document this app keeps its data in: the one in the link, or its first, or a new one. */
  private async open(api: AppApi): Promise<void> {
    const id = api.startDoc ?? (await api.docs.list())[0] ?? (await api.docs.create())
    if (id === this.docId) return
    this.off?.()
    this.docId = id
    this.off = api.state.subscribe(\`/\${id}/count\`, (v) => (this.count = typeof v === 'number' ? v : 0))
  }

  private async add(): Promise<void> {
    const api = this.orrery
    if (api === undefined || this.docId === undefined) return
    // read the document, not this.count: two quick clicks come before the subscription updates it
    const path = \`/\${this.docId}/count\`
    const now = await api.state.get(path)
    await api.state.set(path, (typeof now === 'number' ? now : 0) + 1)
  }

  override render(): unknown {
    return html\`<h2 data-testid="${name}-title">Hello from ${name}</h2>
      <button
        data-testid="${name}-add"
        ?disabled=\${this.docId === undefined}
        @click=\${() => void this.add()}
      >
        clicked \${this.count} times
      </button>\`
  }
}
defineElement('${element}', ${cls})
`,
  )
  fs.writeFileSync(
    path.join(dir, 'README.md'),
    `# ${name}\n\nAn Orrery app made with \`npm run new-app -- ${name}\`. See docs/WRITING-APPS.md.\n`,
  )
  return dir
}

function main(): void {
  const args = process.argv.slice(2)
  const at = args.indexOf('--dir')
  const root = at >= 0 ? (args[at + 1] ?? 'apps') : 'apps'
  const name = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--dir')
  if (name === undefined) throw new Error('usage: npm run new-app -- <name>')
  const dir = newApp(name, root)
  console.log(
    `made ${dir}: develop it with \`npm run dev\` and open http://localhost:8080/#/dev/${name}`,
  )
}

if (
  process.argv[1] !== undefined &&
  path.resolve(process.argv[1]) === path.resolve(import.meta.filename)
) {
  try {
    main()
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e))
    process.exit(1)
  }
}
