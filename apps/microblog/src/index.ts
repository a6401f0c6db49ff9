/**
 * Microblog, an Orrery app: the entry module of the bundle. It defines `microblog-app`, the
 * element the shell mounts after setting its `orrery` property (the AppApi). With a start
 * document the app shows that community; otherwise it offers to start one or open one of the
 * communities this browser knows.
 */
import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import type { AppApi } from '../../../src/core/apps/api'
import { defineActions, runAction } from './actions'
import { message, shared } from './styles'
import './community'

export class OrreryMicroblog extends LitElement {
  static override properties = {
    orrery: { attribute: false },
    docId: { state: true },
    communities: { state: true },
    busy: { state: true },
    error: { state: true },
  }
  /** set by the shell before the element is attached */
  declare orrery: AppApi | undefined
  /** the community shown, or undefined for the list of communities */
  declare docId: string | undefined
  declare communities: string[] | undefined
  declare busy: boolean
  declare error: string

  constructor() {
    super()
    this.orrery = undefined
    this.docId = undefined
    this.communities = undefined
    this.busy = false
    this.error = ''
  }

  static override styles = [
    shared,
    css`
      :host {
        max-width: 720px;
        margin: 0 auto;
      }
      header {
        display: flex;
        align-items: baseline;
        gap: 12px;
        margin-bottom: 12px;
      }
      h1 {
        font-size: 20px;
        margin: 0;
        flex: 1;
      }
      ul {
        list-style: none;
        padding: 0;
        margin: 8px 0 0;
      }
      li {
        margin: 4px 0;
      }
    `,
  ]

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('orrery')) {
      // the guarded actions every write goes through, defined once per API (before any child renders)
      try {
        if (this.orrery !== undefined) defineActions(this.orrery.actions)
      } catch (e) {
        this.error = `Could not set up the app's actions: ${message(e)}`
      }
      this.docId = this.orrery?.startDoc
      if (this.docId === undefined) void this.loadCommunities()
    }
  }

  private async loadCommunities(): Promise<void> {
    const api = this.orrery
    if (api === undefined) return
    try {
      this.communities = await api.docs.list()
    } catch (e) {
      this.error = `Could not list your communities: ${message(e)}`
    }
  }

  private open(docId: string): void {
    this.error = ''
    this.docId = docId
    this.orrery?.navigate(docId)
  }

  private async create(): Promise<void> {
    const api = this.orrery
    if (api === undefined || this.busy) return
    this.busy = true
    this.error = ''
    try {
      const docId = await api.docs.create()
      await runAction(api, docId, 'community/init') // the user is the new space's admin
      this.open(docId)
    } catch (e) {
      this.error = `Could not start a community: ${message(e)}`
    } finally {
      this.busy = false
    }
  }

  private showList(): void {
    this.docId = undefined
    void this.loadCommunities()
  }

  private list(): unknown {
    const list = this.communities
    return html`<section>
      <h2>Start a community</h2>
      <p class="muted">
        A community is a shared space for posts. Start one, then invite the people you want in it:
        members with an invite can post, anyone with the plain link can read, and every browser
        keeps a copy.
      </p>
      <button
        class="primary"
        data-testid="new-community"
        ?disabled=${this.busy}
        @click=${() => void this.create()}
      >
        Start a community
      </button>
      <h2 style="margin-top:16px">Your communities</h2>
      ${
        list === undefined
          ? html`<p class="muted">Loading…</p>`
          : list.length === 0
            ? html`<p class="muted" data-testid="no-communities">
                None yet. Start one, or open a link someone shared with you.
              </p>`
            : html`<ul>
                ${list.map(
                  (id, i) =>
                    html`<li>
                      <button
                        data-testid="community"
                        data-doc-id=${id}
                        @click=${() => this.open(id)}
                      >
                        Community <span class="mono">${id.slice(0, 8)}</span>
                      </button>
                      ${i === 0 ? html`<span class="muted">most recent</span>` : ''}
                    </li>`,
                )}
              </ul>`
      }
    </section>`
  }

  override render(): unknown {
    const api = this.orrery
    if (api === undefined) {
      return html`<section class="muted">
        Microblog runs inside Orrery: waiting for the shell…
      </section>`
    }
    return html`<header>
        <h1>Microblog</h1>
        ${
          this.docId === undefined
            ? ''
            : html`<button
                class="link"
                data-testid="all-communities"
                @click=${() => this.showList()}
              >
                All communities
              </button>`
        }
      </header>
      ${this.error === '' ? '' : html`<p class="error" role="alert">${this.error}</p>`}
      ${
        this.docId === undefined
          ? this.list()
          : html`<microblog-community .api=${api} .docId=${this.docId}></microblog-community>`
      }`
  }
}
defineElement('microblog-app', OrreryMicroblog)
