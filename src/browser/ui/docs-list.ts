import { FrameElement } from './frame-element'
import { defineElement } from './define'
import { html, css } from 'lit'
import type { DocListEntry } from '../orrery'
import { describeDocState } from '../../core/repo/doc-state'
import { parseDocId } from '../../core/ids'
import { docLinkHash, parseDocLink } from '../links'
import { api, shared, short } from './shared'

/** The documents this profile knows, a button for a new one and a box to open one by id or link. */
export class OrreryDocsList extends FrameElement {
  static override properties = { docs: { state: true }, error: { state: true } }
  declare docs: DocListEntry[]
  declare error: string
  private offs: (() => void)[] = []

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
    // the counts change with every document's state: the same source as the top bar's sum
    let queued = false
    const soon = (): void => {
      if (queued) return
      queued = true
      setTimeout(() => {
        queued = false
        refresh()
      }, 100)
    }
    this.offs.push(api().events.on('docs', refresh), api().events.on('doc-state', soon))
    refresh()
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    for (const off of this.offs.splice(0)) off()
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
    location.hash = docLinkHash(await api().docs.createPage())
  }

  private open(e: Event): void {
    e.preventDefault()
    const input = (e.target as HTMLFormElement).querySelector('input') as HTMLInputElement
    const raw = input.value.trim()
    // a pasted share link keeps its keys and its space (its rules apply before the document opens)
    const hash = raw.slice(raw.indexOf('#'))
    const link = raw.includes('#') ? parseDocLink(hash) : undefined
    const parsed = parseDocId(link?.docId ?? raw)
    if (!parsed.ok) {
      this.error = parsed.error.message
      return
    }
    this.error = ''
    input.value = ''
    location.hash = docLinkHash(parsed.value, link ?? {})
  }

  /** open: its state; otherwise what the records say (changes waiting, the last confirmation) */
  private line(d: DocListEntry): string {
    if (d.state !== undefined) return describeDocState(d.state)
    const waiting = d.waiting > 0 ? `${d.waiting} waiting · ` : ''
    return d.confirmedAt === undefined
      ? `${waiting}not confirmed by a peer yet`
      : `${waiting}synced with ${short(d.confirmedWith)} ${new Date(d.confirmedAt).toLocaleString()}`
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
              <a href="#/doc/${d.id}" data-testid="doc-title-link"
                >${
                  d.title === undefined
                    ? html`<code>${d.id}</code>`
                    : html`${d.title === '' ? 'Untitled' : d.title}
                        <span class="muted"><code>${short(d.id, 6)}</code></span>`
                }</a
              >
              <span class="muted" data-testid="doc-sync" data-waiting=${d.waiting}
                >${this.line(d)}</span
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
