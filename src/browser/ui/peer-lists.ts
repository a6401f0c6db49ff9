import { LitElement, html, css } from 'lit'
import { describeError } from '../../core/errors'
import type { PeerLists } from '../../core/firewall/peer-lists'
import { defineElement } from './define'
import { api, shared, short } from './shared'

/**
 * Blocked and allowed peers: the firewall's deny and allow lists (identity did:keys or peer
 * ids), kept in this profile. With "only allowed peers" on, nobody off the allow list syncs.
 */
export class OrreryPeerLists extends LitElement {
  static override properties = {
    lists: { state: true },
    error: { state: true },
  }
  declare lists: PeerLists
  declare error: string

  constructor() {
    super()
    this.lists = { deny: [] }
    this.error = ''
  }

  override connectedCallback(): void {
    super.connectedCallback()
    void this.refresh()
  }

  private async refresh(): Promise<void> {
    try {
      this.lists = await api().firewall.lists()
    } catch {
      // not ready yet: the peer is still starting
      setTimeout(() => void this.refresh(), 1000)
    }
  }

  private async run(f: () => Promise<unknown>): Promise<void> {
    this.error = ''
    try {
      await f()
    } catch (e) {
      this.error = describeError(e).replace(/^\w+Error: /, '')
    }
    await this.refresh()
  }

  private add(e: Event, which: 'deny' | 'allow'): void {
    e.preventDefault()
    const input = (e.target as HTMLFormElement).querySelector('input') as HTMLInputElement
    const who = input.value.trim()
    if (who === '') return
    void this.run(async () => {
      await (which === 'deny' ? api().firewall.deny(who) : api().firewall.allow(who))
      input.value = ''
    })
  }

  static override styles = [
    shared,
    css`
      ul {
        padding-left: 18px;
        margin: 4px 0 8px;
      }
      form {
        display: flex;
        gap: 6px;
        margin-bottom: 8px;
      }
      form input {
        flex: 1;
      }
    `,
  ]

  private list(which: 'deny' | 'allow', entries: string[]): unknown {
    return html`<ul data-testid="${which}-list">
      ${entries.map(
        (who) =>
          html`<li data-peer=${who}>
            <span class="mono" title=${who}>${short(who, 14)}</span>
            <button
              data-testid="un${which}"
              @click=${() =>
                void this.run(() =>
                  which === 'deny' ? api().firewall.undeny(who) : api().firewall.unallow(who),
                )}
            >
              Remove
            </button>
          </li>`,
      )}
    </ul>`
  }

  override render(): unknown {
    const { deny, allow } = this.lists
    return html`<section data-testid="peer-lists">
      <h2>Blocked and allowed peers</h2>
      <p class="muted">
        A did:key (a person) or a peer id (one tab). Kept in this browser profile.
      </p>
      <strong>Blocked</strong>
      ${deny.length === 0 ? html`<p class="muted">nobody</p>` : this.list('deny', deny)}
      <form @submit=${(e: Event) => this.add(e, 'deny')}>
        <input placeholder="did:key:… or peer id" aria-label="peer to block" />
        <button data-testid="deny-add">Block</button>
      </form>
      <label>
        <input
          type="checkbox"
          data-testid="allow-only"
          .checked=${allow !== undefined}
          @change=${(e: Event) =>
            void this.run(() => api().firewall.allowOnly((e.target as HTMLInputElement).checked))}
        />
        Only allowed peers may sync
      </label>
      ${
        allow === undefined
          ? ''
          : html`${this.list('allow', allow)}
              <form @submit=${(e: Event) => this.add(e, 'allow')}>
                <input placeholder="did:key:… or peer id" aria-label="peer to allow" />
                <button data-testid="allow-add">Allow</button>
              </form>`
      }
      ${this.error === '' ? '' : html`<p class="error">${this.error}</p>`}
    </section>`
  }
}
defineElement('orrery-peer-lists', OrreryPeerLists)
