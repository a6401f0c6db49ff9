import { FrameElement } from './frame-element'
import { defineElement } from './define'
import { html, css, type TemplateResult } from 'lit'
import type { DocStatus } from '../../core/repo/doc-handle'
import { describeDocState, type DocSyncState } from '../../core/repo/doc-state'
import { formatPath } from '../../core/paths'
import { api, shared, short } from './shared'
import { docLinkHash, type LinkKeys } from '../links'

/** The editor (ProseMirror, ~250 KB) loads with the first page shown, not with the shell. */
let editorLoading: Promise<unknown> | undefined
const loadEditor = (): void => {
  editorLoading ??= import('./text-editor').catch((e: unknown) => {
    editorLoading = undefined
    console.error('the text editor did not load', e)
  })
}

const sameKeys = (a: LinkKeys, b: LinkKeys | undefined): boolean =>
  b !== undefined &&
  a.key === b.key &&
  a.space === b.space &&
  a.spaceKey === b.spaceKey &&
  a.roster === b.roster

/** entries of one object rendered before "show more" */
const PAGE = 200

/**
 * A document: a page (its title and rich text, issue 20) when it has a `title`, and its keys and
 * values, live, with a form to set and buttons to delete (the developer view, open for a document
 * that is data rather than a page).
 */
export class OrreryDocEditor extends FrameElement {
  static override properties = {
    docId: { type: String, attribute: 'doc-id' },
    // compared by value: the shell passes a freshly parsed link on every render
    keys: { attribute: false, hasChanged: (a: LinkKeys, b?: LinkKeys) => !sameKeys(a, b) },
    value: { state: true },
    pageTitle: { state: true },
    devOpen: { state: true },
    status: { state: true },
    sync: { state: true },
    error: { state: true },
    writable: { state: true },
  }
  declare docId: string
  /** whether this tab may change the document, and why not */
  declare writable: { ok: boolean; reason?: string } | undefined
  /** what the link carries: the read key, the space (its rules apply before the document opens) */
  declare keys: LinkKeys
  /** the whole document, read only while the developer view is open */
  declare value: unknown
  /** the page's title; a document with a title string is a page (docs.createPage makes one) */
  declare pageTitle: string | undefined
  /** the developer view, as the person set it (undefined: open for data, closed for a page) */
  declare devOpen: boolean | undefined
  /** stops the whole-document subscription */
  private offTree: (() => void) | undefined
  declare status: DocStatus | undefined
  /** the document's sync state: what the tree shows while nothing of it is here */
  declare sync: DocSyncState | undefined
  declare error: string
  private offs: (() => void)[] = []
  /** how many entries each object (by path) shows */
  private readonly limits = new Map<string, number>()

  constructor() {
    super()
    this.docId = ''
    this.keys = {}
    this.value = undefined
    this.error = ''
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('docId') || changed.has('keys')) void this.watch()
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.unwatch()
  }

  private unwatch(): void {
    for (const off of this.offs.splice(0)) off()
  }

  private async watch(): Promise<void> {
    this.unwatch()
    this.value = undefined
    this.pageTitle = undefined
    this.devOpen = undefined
    this.sync = undefined
    this.writable = undefined
    this.limits.clear()
    this.error = ''
    if (this.docId === '') return
    const docId = this.docId
    const opened = api()
      .docs.open(docId, this.keys)
      .then(
        () => this.showFullLink(docId),
        // shown, and the document is read anyway (a reload applies the space if it was open)
        (e: unknown) => void (this.error = e instanceof Error ? e.message : String(e)),
      )
    if (this.keys.space !== undefined) {
      await opened
      if (docId !== this.docId) return // navigated away meanwhile
    }
    const judge = (): void => {
      api()
        .docs.writable(docId)
        .then((w) => docId === this.docId && (this.writable = w))
        .catch(() => undefined)
    }
    try {
      // deferred: reading waits until the change has gone out to peers
      const show = (t: unknown): void => {
        this.pageTitle = typeof t === 'string' ? t : undefined
        this.watchTree()
      }
      this.offs.push(api().state.subscribe(`/${this.docId}/title`, show, { deferred: true }))
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e)
      return
    }
    this.offs.push(() => {
      this.offTree?.()
      this.offTree = undefined
    })
    this.watchTree()
    const refresh = (): void => {
      api()
        .docs.status(this.docId)
        .then((s) => (this.status = s))
        .catch(() => undefined)
    }
    this.offs.push(api().events.on('doc', (s) => s.id === this.docId && (this.status = s)))
    this.offs.push(api().docs.onState(docId, (s) => (this.sync = s)))
    // a space's roles change while the page is open: asked again with the status
    const t = setInterval(() => {
      refresh()
      judge()
    }, 2000)
    this.offs.push(() => clearInterval(t))
    refresh()
    judge()
  }

  static override styles = [
    shared,
    css`
      ul.tree {
        list-style: none;
        padding-left: 16px;
        margin: 2px 0;
      }
      .key {
        font-weight: 600;
      }
      .del {
        padding: 0 6px;
        margin-left: 6px;
        font-size: 11px;
      }
      input.title {
        font-size: 1.6em;
        font-weight: 600;
        border: none;
        border-bottom: 1px solid #ddd;
        width: 100%;
        margin: 4px 0 8px;
        padding: 4px 0;
      }
      summary {
        cursor: pointer;
        margin-top: 12px;
        min-height: 44px;
        line-height: 44px;
      }
      form {
        display: grid;
        grid-template-columns: 1fr 2fr auto;
        gap: 6px;
        margin-top: 10px;
      }
    `,
  ]

  private async submit(e: Event): Promise<void> {
    e.preventDefault()
    const form = e.target as HTMLFormElement
    const key = (form.elements.namedItem('key') as HTMLInputElement).value
      .trim()
      .replace(/^\/+/, '')
    const raw = (form.elements.namedItem('value') as HTMLInputElement).value
    let value: unknown
    try {
      value = raw.trim() === '' ? '' : JSON.parse(raw)
    } catch {
      value = raw // plain text is a string value
    }
    this.error = ''
    try {
      await api().state.set(`/${this.docId}/${key}`, value)
      form.reset()
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err)
    }
  }

  private get treeOpen(): boolean {
    return this.devOpen ?? this.pageTitle === undefined
  }

  /**
   * Reads the whole document while the developer view is open, and only then: a page's text of
   * 150,000 characters would otherwise be read again after every keystroke.
   */
  private watchTree(): void {
    if (!this.treeOpen || this.docId === '') {
      this.offTree?.()
      this.offTree = undefined
      this.value = undefined // never a stale tree when it opens again
      return
    }
    if (this.offTree !== undefined) return
    const show = (v: unknown): void => void (this.value = v)
    this.offTree = api().state.subscribe(`/${this.docId}`, show, { deferred: true })
  }

  /** The person opens or closes the developer view (its summary clicked; not `toggle`, which
   * also fires when a render opens or closes it). */
  private toggleTree(e: Event): void {
    e.preventDefault()
    this.devOpen = !this.treeOpen
    this.watchTree()
  }

  private setTitle(e: Event): void {
    const title = (e.target as HTMLInputElement).value
    api()
      .state.set(`/${this.docId}/title`, title)
      .catch((err: unknown) => (this.error = err instanceof Error ? err.message : String(err)))
  }

  private async deleteKey(keys: (string | number)[]): Promise<void> {
    try {
      await api().state.delete(formatPath(this.docId, keys))
    } catch (err) {
      this.error = err instanceof Error ? err.message : String(err)
    }
  }

  private tree(v: unknown, keys: (string | number)[]): TemplateResult {
    if (v === null || typeof v !== 'object') return html`<code>${JSON.stringify(v)}</code>`
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : Object.entries(v as object)
    if (entries.length === 0) return html`<code>${Array.isArray(v) ? '[]' : '{}'}</code>`
    // a big object renders a page of entries at a time: 10,000 rows would freeze the tab
    const where = formatPath(this.docId, keys)
    const limit = this.limits.get(where) ?? PAGE
    const more = entries.length - limit
    return html`<ul class="tree">
      ${entries.slice(0, limit).map(
        ([k, x]) =>
          html`<li data-key=${String(k)}>
            <span class="key">${k}</span>
            <button
              class="del"
              title="delete ${k}"
              @click=${() => void this.deleteKey([...keys, k])}
            >
              ✕
            </button>
            : ${this.tree(x, [...keys, k])}
          </li>`,
      )}
      ${
        more > 0
          ? html`<li>
              <button
                data-testid="show-more"
                @click=${() => {
                  this.limits.set(where, limit + PAGE * 5)
                  this.requestUpdate()
                }}
              >
                show ${Math.min(more, PAGE * 5)} more of ${more}
              </button>
            </li>`
          : ''
      }
    </ul>`
  }

  /** The address bar shows the document's share link (its keys), whatever link opened it. */
  private showFullLink(docId: string): void {
    if (docId !== this.docId || !location.hash.startsWith(`#/doc/${docId}`)) return
    const full = docLinkHash(docId, api().docs.linkKeys(docId))
    if (location.hash !== full) history.replaceState(null, '', full)
  }

  /** Instead of an empty tree while nothing of the document is here: why, and what happens. */
  private absent(sync: DocSyncState): TemplateResult | undefined {
    if (sync.here || sync.state === 'local') return undefined
    const text =
      sync.state === 'locked'
        ? 'This link is from an older Orrery: it carries no key to the document, and nobody serves a document without its key. Ask for a new link.'
        : sync.state === 'loading'
          ? `${describeDocState(sync)}…`
          : sync.state === 'offline'
            ? 'Offline: waiting for someone who has this document. It appears here when a peer who has it is reachable.'
            : `Waiting for someone who has this document${sync.searching ? ' (looking…)' : ''}. Nobody reachable has it yet; it appears here as soon as someone who has it comes online.`
    return html`<p class="muted" data-testid="doc-waiting" data-state=${sync.state}>${text}</p>`
  }

  override render(): unknown {
    const s = this.status
    const sync = this.sync
    const keys = this.docId === '' ? {} : api().docs.linkKeys(this.docId)
    const url = (k: LinkKeys): string =>
      `${location.origin}${location.pathname}${docLinkHash(this.docId, k)}`
    const link =
      keys.key === undefined
        ? 'no share link: this browser holds no key to this document'
        : url(keys)
    // a free document this browser writes: a second link that only reads it
    const viewLink =
      keys.key !== undefined && keys.write !== undefined
        ? url(api().docs.linkKeys(this.docId, { readOnly: true }))
        : undefined
    const row = (value: string, label: string, aria: string): TemplateResult =>
      html`<p>
        <input readonly .value=${value} style="width:70%" aria-label=${aria} />
        <button @click=${() => void navigator.clipboard?.writeText(value)}>Copy ${label}</button>
      </p>`
    const value = this.value
    const page = this.pageTitle !== undefined
    if (page) loadEditor()
    const title = this.pageTitle ?? ''
    const absent = sync === undefined ? undefined : this.absent(sync)
    const readOnly = this.writable !== undefined && !this.writable.ok
    return html`<section>
      ${
        page
          ? html`<input
              class="title"
              data-testid="doc-title"
              aria-label="title"
              placeholder="Untitled"
              .value=${title}
              ?readonly=${readOnly}
              @input=${(e: Event) => this.setTitle(e)}
            />`
          : html`<h2>Document <code>${this.docId}</code></h2>`
      }
      ${row(link, viewLink === undefined ? 'link' : 'edit link', 'share link')}
      ${viewLink === undefined ? '' : row(viewLink, 'view-only link', 'view-only link')}
      ${
        keys.writer !== undefined || readOnly
          ? html`<p class="muted" data-testid="doc-read-only">
              Read-only:
              ${
                keys.writer !== undefined
                  ? 'this link lets you read this document, not change it. Ask for an edit link to change it.'
                  : (this.writable?.reason ?? '')
              }
            </p>`
          : ''
      }
      <p class="muted" data-testid="doc-status">
        ${
          s === undefined
            ? 'opening…'
            : html`${s.unsaved > 0 ? `${s.unsaved} change(s) being saved` : 'saved'} ·
                <span data-testid="doc-sync-state" data-state=${sync?.state ?? ''}
                  >${sync === undefined ? '…' : describeDocState(sync)}</span
                >
                · syncing with ${s.peers.length} peer(s)
                ${Object.entries(s.lastSync).map(([p, t]) => html` · ${short(p)} at ${new Date(t).toLocaleTimeString()}`)}
                ${s.saveError === undefined ? '' : html`<span class="error"> · ${s.saveError}</span>`}`
        }
      </p>
      ${absent ?? ''}
      ${
        page && absent === undefined
          ? html`<orrery-text-editor
              doc-id=${this.docId}
              .mayWrite=${this.writable?.ok}
            ></orrery-text-editor>`
          : ''
      }
      <details ?open=${this.treeOpen} data-testid="developer-view">
        <summary @click=${(e: Event) => this.toggleTree(e)}>
          Developer view: keys and values
        </summary>
        <div data-testid="doc-tree">
          ${
            // a cached view may come before the state; an empty one waits for it (never a bare {})
            value === undefined || (sync === undefined && isEmpty(value))
              ? html`<p class="muted">opening…</p>`
              : absent === undefined
                ? this.tree(value, [])
                : ''
          }
        </div>
        <form @submit=${(e: Event) => void this.submit(e)}>
          <input name="key" placeholder="key or path, e.g. todo/1" required aria-label="key" />
          <input
            name="value"
            placeholder='value (JSON or text), e.g. {"done": false}'
            aria-label="value"
          />
          <button class="primary">Set</button>
        </form>
      </details>
      ${this.error === '' ? '' : html`<p class="error" data-testid="editor-error">${this.error}</p>`}
    </section>`
  }
}
defineElement('orrery-doc-editor', OrreryDocEditor)

const isEmpty = (v: unknown): boolean =>
  v !== null && typeof v === 'object' && Object.keys(v as object).length === 0
