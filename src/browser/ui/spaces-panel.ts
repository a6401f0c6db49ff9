import { LitElement, html, css } from 'lit'
import QRCode from 'qrcode'
import { describeError } from '../../core/errors'
import type { SpaceSummary } from '../orrery'
import { defineElement } from './define'
import { api, shared, short } from './shared'

/** Spaces: create one, see its members, invite people (link and QR code), remove members. */
export class OrrerySpacesPanel extends LitElement {
  static override properties = {
    spaces: { state: true },
    link: { state: true },
    qr: { state: true },
    error: { state: true },
  }
  declare spaces: SpaceSummary[]
  declare link: string
  declare qr: string
  declare error: string
  private off: (() => void) | undefined

  constructor() {
    super()
    this.spaces = []
    this.link = ''
    this.qr = ''
    this.error = ''
  }

  override connectedCallback(): void {
    super.connectedCallback()
    void this.refresh()
    const t = setInterval(() => void this.refresh(), 2000)
    this.off = () => clearInterval(t)
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.off?.()
  }

  private async refresh(): Promise<void> {
    try {
      this.spaces = await api().spaces.list()
    } catch {
      // not ready yet
    }
  }

  private async run(f: () => Promise<unknown>): Promise<void> {
    this.error = ''
    try {
      await f()
      await this.refresh()
    } catch (e) {
      this.error = describeError(e).replace(/^\w+Error: /, '')
    }
  }

  private async create(e: Event): Promise<void> {
    e.preventDefault()
    const input = (e.target as HTMLFormElement).querySelector('input') as HTMLInputElement
    const name = input.value.trim() || 'my space'
    await this.run(() => api().spaces.create(name))
    input.value = ''
  }

  private async invite(space: string, role: 'admin' | 'writer' | 'reader'): Promise<void> {
    await this.run(async () => {
      this.link = await api().spaces.invite(space, role)
      this.qr = await QRCode.toDataURL(this.link, { margin: 1, width: 220 })
    })
  }

  static override styles = [
    shared,
    css`
      .space {
        border-top: 1px solid #eef1f7;
        padding-top: 8px;
        margin-top: 8px;
      }
      img {
        display: block;
        margin-top: 6px;
      }
    `,
  ]

  override render(): unknown {
    return html`<section data-testid="spaces">
      <h2>Spaces</h2>
      <form @submit=${(e: Event) => void this.create(e)}>
        <input placeholder="new space name" aria-label="space name" />
        <button data-testid="new-space">Create</button>
      </form>
      ${this.spaces.map((s) => {
        const myRole = api().spaces.role(s.id)
        return html`<div class="space" data-space=${s.id}>
          <strong>${s.name || 'unnamed'}</strong>
          <span class="muted">you: ${myRole ?? 'not a member yet'}</span>
          <ul data-testid="members">
            ${s.members.map(
              (m) =>
                html`<li>
                  ${m.name ?? short(m.id, 10)} <span class="muted">${m.role}</span>
                  ${
                    myRole === 'admin' && m.role !== 'admin'
                      ? html`<button
                          data-testid="remove-member"
                          @click=${() => void this.run(() => api().spaces.remove(s.id, m.id))}
                        >
                          Remove
                        </button>`
                      : ''
                  }
                </li>`,
            )}
          </ul>
          ${
            myRole === 'admin' || myRole === 'writer'
              ? html`<button
                    data-testid="invite-writer"
                    @click=${() => void this.invite(s.id, 'writer')}
                  >
                    Invite a writer
                  </button>
                  <button @click=${() => void this.invite(s.id, 'reader')}>Invite a reader</button>`
              : ''
          }
        </div>`
      })}
      ${
        this.link === ''
          ? ''
          : html`<p>
              <input
                readonly
                .value=${this.link}
                style="width:100%"
                data-testid="invite-link"
                aria-label="invite link"
              />
              <button @click=${() => void navigator.clipboard?.writeText(this.link)}>Copy</button>
              <img src=${this.qr} alt="QR code of the invite link" data-testid="invite-qr" />
            </p>`
      }
      ${this.error === '' ? '' : html`<p class="error">${this.error}</p>`}
    </section>`
  }
}
defineElement('orrery-spaces-panel', OrrerySpacesPanel)
