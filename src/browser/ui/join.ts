import { LitElement, html } from 'lit'
import { describeError } from '../../core/errors'
import { decodeInvite } from '../../core/spaces/invite'
import { defineElement } from './define'
import { api, shared, short } from './shared'

/**
 * Signing up from an invite link: the newcomer picks a display name, their identity (made on
 * first start) joins the space, and they land where the link points (an app, a document).
 */
export class OrreryJoin extends LitElement {
  static override properties = {
    invite: { type: String },
    then: { type: String },
    busy: { state: true },
    error: { state: true },
  }
  declare invite: string
  declare then: string
  declare busy: boolean
  declare error: string

  constructor() {
    super()
    this.invite = ''
    this.then = ''
    this.busy = false
    this.error = ''
  }

  static override styles = [shared]

  private async join(e: Event): Promise<void> {
    e.preventDefault()
    const name = (this.renderRoot.querySelector('input') as HTMLInputElement).value.trim()
    if (name === '') {
      this.error = 'Choose a display name first: it is shown to the other members.'
      return
    }
    this.error = ''
    this.busy = true
    try {
      await api().spaces.join(this.invite, name)
      location.hash = this.then === '' ? '#/' : this.then
    } catch (err) {
      this.error = describeError(err).replace(/^\w+Error: /, '')
    } finally {
      this.busy = false
    }
  }

  override render(): unknown {
    const decoded = decodeInvite(this.invite)
    if (!decoded.ok) {
      return html`<section>
        <p class="error" data-testid="join-error">
          This invite link is damaged: ${decoded.error.message}
        </p>
      </section>`
    }
    const t = decoded.value.token
    const expired = t.expiresAt <= Date.now()
    return html`<section>
      <h2>You are invited</h2>
      <p>
        <code title=${t.by}>${short(t.by, 10)}</code> invites you to a space as a
        <strong>${t.role}</strong>.
        ${expired ? html`<span class="error">This invite expired on ${new Date(t.expiresAt).toLocaleString()}.</span>` : ''}
      </p>
      <form @submit=${(e: Event) => void this.join(e)}>
        <input
          placeholder="your display name"
          aria-label="display name"
          data-testid="join-name"
          maxlength="60"
        />
        <button class="primary" data-testid="join-button" ?disabled=${this.busy || expired}>
          ${this.busy ? 'Joining…' : 'Join'}
        </button>
      </form>
      ${this.busy ? html`<p class="muted">Finding a member of the space to check the invite…</p>` : ''}
      ${this.error === '' ? '' : html`<p class="error" data-testid="join-error">${this.error}</p>`}
    </section>`
  }
}
defineElement('orrery-join', OrreryJoin)
