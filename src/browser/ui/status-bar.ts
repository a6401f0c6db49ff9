import { FrameElement } from './frame-element'
import { defineElement } from './define'
import { html, css } from 'lit'
import type { BootProgress, PeerStatus } from '../orrery'
import { describeSummary } from '../../core/repo/doc-state'
import { api, shared, short } from './shared'

const mb = (n: number): string =>
  n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB` : `${(n / 1e6).toFixed(1)} MB`

/** Boot progress, then: who and where this tab is, relay and peers, and what is not saved yet. */
export class OrreryStatusBar extends FrameElement {
  static override properties = {
    boot: { state: true },
    status: { state: true },
    identity: { state: true },
  }
  declare boot: BootProgress
  declare status: PeerStatus
  declare identity: string
  private offs: (() => void)[] = []

  constructor() {
    super()
    this.boot = api().boot
    this.status = api().status()
    this.identity = ''
  }

  override connectedCallback(): void {
    super.connectedCallback()
    this.offs.push(
      api().events.on('boot', (b) => (this.boot = b)),
      api().events.on('status', (s) => (this.status = s)),
      api().events.on('pwa', () => this.requestUpdate()),
    )
    api().ready.then(
      async () => {
        this.boot = api().boot
        this.status = api().status()
        this.identity = await api().identity.id()
      },
      () => (this.boot = api().boot),
    )
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    for (const off of this.offs.splice(0)) off()
  }

  static override styles = [
    shared,
    css`
      .bar {
        display: flex;
        gap: 14px;
        align-items: center;
        flex-wrap: wrap;
      }
      .chip {
        padding: 2px 8px;
        border-radius: 999px;
        background: #eef1f7;
      }
      .ok {
        background: #dcf5e3;
      }
      .warn {
        background: #fff1cc;
      }
      .bad {
        background: #fde2e0;
      }
      progress {
        width: 220px;
      }
      a.home {
        color: inherit;
        text-decoration: none;
      }
    `,
  ]

  override render(): unknown {
    const b = this.boot
    if (api().id === '') {
      return html`<div class="bar">
        <strong>Orrery</strong>
        ${
          b.error === undefined
            ? html`<progress max=${b.total} value=${b.done}></progress
                ><span class="muted">${b.step}…</span>`
            : html`<span class="error" data-testid="boot-error">Could not start: ${b.error}</span>`
        }
      </div>`
    }
    const s = this.status
    const relayClass = s.relay === 'connected' ? 'ok' : s.relay === 'connecting' ? 'warn' : 'bad'
    const saving =
      s.saveError !== undefined
        ? html`<span class="chip bad" title=${s.saveError}
            >not saved: ${s.unsaved} waiting (${s.saveError})</span
          >`
        : s.unsaved > 0
          ? html`<span class="chip warn">saving ${s.unsaved}…</span>`
          : html`<span class="chip ok" data-testid="saved">all saved</span>`
    // "all synced" only when no change waits anywhere and every open document is confirmed by a
    // peer (or new and empty); the count is the sum the document list shows
    const sync = describeSummary(s.sync)
    const synced = html`<span class="chip ${sync.ok ? 'ok' : 'warn'}" data-testid="sync-state"
      >${sync.text}</span
    >`
    const storage =
      s.storage === undefined
        ? ''
        : html`<span
            class="muted"
            data-testid="storage"
            title=${s.storage.persisted ? 'kept by the browser' : 'may be evicted under storage pressure'}
            >${mb(s.storage.usage)} of
            ${mb(s.storage.quota)}${s.storage.persisted ? ' · persistent' : ''}</span
          >`
    return html`<div class="bar">
      <a href="#/" class="home"><strong>Orrery</strong></a>
      <span title=${this.identity}>you <code>${short(this.identity, 10)}</code></span>
      <span title=${api().id}>tab <code>${short(api().id)}</code></span>
      <span class="chip ${s.online ? 'ok' : 'bad'}">${s.online ? 'online' : 'offline'}</span>
      <span class="chip ${relayClass}" data-testid="relay-state">relay ${s.relay}</span>
      <span class="chip" data-testid="peer-count"
        >${s.peers} ${s.peers === 1 ? 'peer' : 'peers'}</span
      >
      ${
        s.otherVersions > 0
          ? html`<span
              class="chip warn"
              data-testid="other-versions"
              title="they run another version of Orrery: no syncing with them until one side updates"
              >${s.otherVersions} on another version</span
            >`
          : ''
      }
      ${saving} ${synced} ${storage}
      ${
        api().pwa.updateAvailable()
          ? html`<button
              class="primary"
              data-testid="apply-update"
              @click=${() => void api().pwa.applyUpdate()}
            >
              Update available: reload
            </button>`
          : ''
      }
      ${api().pwa.canInstall() ? html`<button data-testid="install" @click=${() => void api().pwa.install()}>Install</button>` : ''}
    </div>`
  }
}
defineElement('orrery-status-bar', OrreryStatusBar)
