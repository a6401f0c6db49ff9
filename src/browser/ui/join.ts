import { LitElement, html } from 'lit'
import { describeError } from '../../core/errors'
import type { DocSyncState } from '../../core/repo/doc-state'
import { decodeInvite } from '../../core/spaces/invite'
import { defineElement } from './define'
import { api, shared, short } from './shared'

/**
 * Signing up from an invite link: the newcomer picks a display name, their identity (made on
 * first start) joins the space, and they land where the link points (an app, a document). The
 * invite is checked against the space's document, which comes from any member: while none is
 * reachable the page says so and finishes joining by itself when one comes online.
 */
export class OrreryJoin extends LitElement {
  static override properties = {
    invite: { type: String },
    then: { type: String },
    busy: { state: true },
    error: { state: true },
    space: { state: true },
  }
  declare invite: string
  declare then: string
  declare busy: boolean
  declare error: string
  /** the space document's sync state while joining waits for it */
  declare space: DocSyncState | undefined
  private joining: AbortController | undefined
  private offState: (() => void) | undefined

  constructor() {
    super()
    this.invite = ''
    this.then = ''
    this.busy = false
    this.error = ''
    this.space = undefined
  }

  static override styles = [shared]

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.stop()
  }

  private stop(): void {
    this.joining?.abort()
    this.joining = undefined
    this.offState?.()
    this.offState = undefined
  }

  private async join(e: Event): Promise<void> {
    e.preventDefault()
    const name = (this.renderRoot.querySelector('input') as HTMLInputElement).value.trim()
    if (name === '') {
      this.error = 'Choose a display name first: it is shown to the other members.'
      return
    }
    this.stop()
    const joining = (this.joining = new AbortController())
    this.error = ''
    this.busy = true
    this.space = undefined
    try {
      await api().spaces.join(this.invite, name, {
        signal: joining.signal,
        // the space is registered and being looked for: show what its document's state says
        onWaiting: (spaceId) => {
          if (joining.signal.aborted) return
          this.offState = api().docs.onState(spaceId, (s) => (this.space = s))
        },
      })
      // the name they chose goes with them to documents outside the space too (presence)
      api().docs.setDisplayName(name)
      location.hash = this.then === '' ? '#/' : this.then
    } catch (err) {
      if (!joining.signal.aborted) this.error = describeError(err).replace(/^\w+Error: /, '')
    } finally {
      if (this.joining === joining) {
        this.busy = false
        this.offState?.()
        this.offState = undefined
        this.joining = undefined
      }
    }
  }

  private cancel(): void {
    const j = this.joining
    this.stop()
    if (j !== undefined) this.busy = false
  }

  /** While joining: looking for a member, waiting for one to come online, or checking. */
  private progress(by: string): unknown {
    const s = this.space
    const nobody =
      s !== undefined &&
      !s.here &&
      (s.state === 'offline' || (s.state === 'unknown' && !s.searching))
    if (nobody) {
      return html`<p class="muted" data-testid="join-waiting">
        Waiting for a member of this space (invited by <code title=${by}>${short(by, 10)}</code>) to
        come online${s.state === 'offline' ? ' (you are offline)' : ''}. Nobody in it is reachable
        right now; keep this page open and it finishes joining by itself as soon as one is.
        <button data-testid="join-cancel" @click=${() => this.cancel()}>Stop waiting</button>
      </p>`
    }
    return html`<p class="muted" data-testid="join-finding">
      ${
        s?.state === 'loading'
          ? 'A member is reachable: checking the invite…'
          : 'Finding a member of the space to check the invite…'
      }
    </p>`
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
      ${this.busy ? this.progress(t.by) : ''}
      ${this.error === '' ? '' : html`<p class="error" data-testid="join-error">${this.error}</p>`}
    </section>`
  }
}
defineElement('orrery-join', OrreryJoin)
