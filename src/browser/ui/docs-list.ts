import { defineElement } from './define'
import { LitElement, html, css } from 'lit'
import type { DocMeta } from '../../core/repo/repo'
import { parseDocId } from '../../core/ids'
import { docLinkHash, parseDocLink } from '../links'
import { api, shared, short } from './shared'

/** The documents this profile knows, a button for a new one and a box to open one by id or link. */
export class OrreryDocsList extends LitElement {
  static override properties = { docs: { state: true }, error: { state: true } }
  declare docs: DocMeta[]
  declare error: string
  private off: (() => void) | undefined

  constructor() {
    super()
    this.docs = []
    this.error = ''
  }

  override connectedCallback(): void {
    super.connectedCallback()
    const refresh = (): void => {
      api()
        .docs.list()
        .then((d) => (this.docs = d))
        .catch(() => undefined)
    }
    this.off = api().events.on('docs', refresh)
    refresh()
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.off?.()
  }

  static override styles = [
    shared,
    css`
      ul {
        padding: 0;
        list-style: none;
        margin: 8px 0;
      }
      li {
        padding: 3px 0;
      }
      form {
        display: flex;
        gap: 6px;
        margin-top: 8px;
      }
      input {
        flex: 1;
      }
    `,
  ]

  private async create(): Promise<void> {
    location.hash = docLinkHash(await api().docs.create())
  }

  private open(e: Event): void {
    e.preventDefault()
    const input = (e.target as HTMLFormElement).querySelector('input') as HTMLInputElement
    const raw = input.value.trim()
    // a pasted share link keeps its space (its rules apply before the document opens)
    const hash = raw.slice(raw.indexOf('#'))
    const link = raw.includes('#') ? parseDocLink(hash) : undefined
    const parsed = parseDocId(link?.docId ?? raw)
    if (!parsed.ok) {
      this.error = parsed.error.message
      return
    }
    this.error = ''
    input.value = ''
    location.hash = docLinkHash(parsed.value, link?.space)
  }

  override render(): unknown {
    return html`<section>
      <h2>Documents</h2>
      <button class="primary" data-testid="new-doc" @click=${() => void this.create()}>
        New document
      </button>
      <ul data-testid="doc-list">
        ${this.docs.map(
          (d) =>
            html`<li>
              <a href="#/doc/${d.id}"><code>${d.id}</code></a>
              <span class="muted" data-testid="doc-sync"
                >${d.unsynced ? `${d.unsynced} waiting · ` : ''}${
                  d.lastSyncAt === undefined
                    ? 'never synced'
                    : `synced ${new Date(d.lastSyncAt).toLocaleString()} with ${short(d.lastSyncWith)}`
                }</span
              >
            </li>`,
        )}
      </ul>
      <form @submit=${(e: Event) => this.open(e)}>
        <input placeholder="document id or share link" aria-label="document id or link" />
        <button>Open</button>
      </form>
      ${this.error === '' ? '' : html`<p class="error">${this.error}</p>`}
    </section>`
  }
}
defineElement('orrery-docs-list', OrreryDocsList)
