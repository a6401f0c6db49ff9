import { defineElement } from './define'
import { LitElement, html, css } from 'lit'
import { shared } from './shared'
import { takeReloadNotice } from '../dev'
import { parseAppLink, parseDocLink } from '../links'
import './status-bar'
import './connections'
import './docs-list'
import './doc-editor'
import './identity-panel'
import './apps-list'
import './app-host'
import './messages'
import './join'
import './spaces-panel'
import './peer-lists'

/** The shell: status on top, documents and identity on the left, the open document, connections. */
export class OrreryAppShell extends LitElement {
  static override properties = { route: { state: true }, reloadNotice: { state: true } }
  declare route: string
  /** why the page was reloaded instead of updated in place (hot reload or a swapped version) */
  declare reloadNotice: string | undefined
  private readonly onHash = (): void => {
    this.route = location.hash
  }

  constructor() {
    super()
    this.route = location.hash
    this.reloadNotice = takeReloadNotice()
  }

  override connectedCallback(): void {
    super.connectedCallback()
    addEventListener('hashchange', this.onHash)
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    removeEventListener('hashchange', this.onHash)
  }

  static override styles = [
    shared,
    css`
      header {
        padding: 10px 16px;
        background: #fff;
        border-bottom: 1px solid #e1e5ee;
        position: sticky;
        top: 0;
      }
      main {
        display: grid;
        grid-template-columns: minmax(260px, 1fr) 2fr;
        gap: 12px;
        padding: 12px 16px;
      }
      main.app-main {
        display: block;
      }
      .reloaded {
        margin: 8px 16px 0;
        padding: 6px 10px;
        background: #fff7e0;
        border: 1px solid #f0d890;
        border-radius: 6px;
        font-size: 13px;
      }
      @media (max-width: 800px) {
        main {
          grid-template-columns: 1fr;
        }
      }
    `,
  ]

  private header(): unknown {
    return html`<header><orrery-status-bar></orrery-status-bar></header>
      ${
        this.reloadNotice === undefined
          ? ''
          : html`<div class="reloaded" data-testid="reload-notice">
              Reloaded: ${this.reloadNotice}
              <button @click=${() => (this.reloadNotice = undefined)}>dismiss</button>
            </div>`
      }`
  }

  override render(): unknown {
    const docLink = parseDocLink(this.route)
    const docId = docLink?.docId
    const join = /^#\/join\/([^/]+)(\/.*)?$/.exec(this.route)
    if (join !== null) {
      return html`${this.header()}
        <main class="app-main">
          <orrery-join
            invite=${join[1] ?? ''}
            then=${join[2] === undefined ? '' : `#${join[2]}`}
          ></orrery-join>
        </main>`
    }
    const source = /^#\/dev\/([a-z0-9-]+)(?:\/doc\/([^/?#]+))?/.exec(this.route)
    if (source !== null) {
      return html`${this.header()}
        <main class="app-main">
          <orrery-app-host source=${source[1] ?? ''} doc=${source[2] ?? ''}></orrery-app-host>
        </main>`
    }
    const app = parseAppLink(this.route)
    if (app !== undefined) {
      return html`${this.header()}
        <main class="app-main">
          <orrery-app-host cid=${app.cid} doc=${app.docId ?? ''} .keys=${app}></orrery-app-host>
        </main>`
    }
    return html`${this.header()}
      <main>
        <div>
          <orrery-messages></orrery-messages>
          <orrery-spaces-panel></orrery-spaces-panel>
          <orrery-apps-list></orrery-apps-list>
          <orrery-docs-list></orrery-docs-list>
          <orrery-identity-panel></orrery-identity-panel>
        </div>
        <div>
          ${
            docId === undefined
              ? html`<section>
                  <h2>Welcome</h2>
                  <p>
                    Create a document or open one from a link. Every edit is saved in this browser
                    and synced directly with the peers who have the same document open.
                  </p>
                </section>`
              : html`<orrery-doc-editor doc-id=${docId} .keys=${docLink ?? {}}></orrery-doc-editor>`
          }
          <orrery-connections></orrery-connections>
          <orrery-peer-lists></orrery-peer-lists>
        </div>
      </main>`
  }
}
defineElement('orrery-app', OrreryAppShell)
