import { LitElement, html } from 'lit'
import { defineElement } from './define'
import { api, shared } from './shared'

interface Listing {
  installed: { name: string; cid: string; pinnedAt: number }[]
  offered: { name: string; version: string; cid: string }[]
}

/** Apps: the ones the relay offers and the ones installed in this browser (with their size). */
export class OrreryAppsList extends LitElement {
  static override properties = { listing: { state: true }, usage: { state: true } }
  declare listing: Listing
  declare usage: string

  constructor() {
    super()
    this.listing = { installed: [], offered: [] }
    this.usage = ''
  }

  override connectedCallback(): void {
    super.connectedCallback()
    void this.refresh()
  }

  private async refresh(): Promise<void> {
    try {
      this.listing = await api().apps.list()
      const u = await api().apps.usage()
      this.usage = `${u.blocks} blocks, ${(u.bytes / 1024).toFixed(0)} KiB (${(u.pinnedBytes / 1024).toFixed(0)} KiB installed)`
    } catch {
      // not ready or offline: keep what we have
    }
  }

  private async uninstall(cid: string): Promise<void> {
    await api().apps.uninstall(cid)
    await this.refresh()
  }

  static override styles = [shared]

  override render(): unknown {
    const installed = new Set(this.listing.installed.map((a) => a.cid))
    const offered = this.listing.offered.filter((a) => !installed.has(a.cid))
    return html`<section>
      <h2>Apps</h2>
      <ul data-testid="apps">
        ${this.listing.installed.map(
          (a) =>
            html`<li>
              <a href="#/app/${a.cid}">${a.name}</a> <span class="muted">installed</span>
              <button @click=${() => void this.uninstall(a.cid)}>Remove</button>
            </li>`,
        )}
        ${offered.map((a) => html`<li><a href="#/app/${a.cid}" data-testid="offered-app">${a.name}</a> <span class="muted">${a.version}</span></li>`)}
      </ul>
      ${this.usage === '' ? '' : html`<p class="muted">app storage: ${this.usage}</p>`}
    </section>`
  }
}
defineElement('orrery-apps-list', OrreryAppsList)
