import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import type { AppApi } from '../../../src/core/apps/api'
import { errorText, runAction } from './actions'
import { followersOf, followingOf, profileOf, shortId } from './model'
import { plural, shared } from './styles'

/**
 * The user's profile in this community: display name and bio; asks a writer for a name on first
 * use. Saved through the guarded action "profiles/set". Without `canWrite` (not a member, or a
 * reader) there is no form: the profile, if any, is shown read-only.
 */
export class MicroblogProfile extends LitElement {
  static override properties = {
    api: { attribute: false },
    docId: { attribute: false },
    canWrite: { attribute: false },
    value: { attribute: false },
    name: { state: true },
    bio: { state: true },
    dirty: { state: true },
    error: { state: true },
    busy: { state: true },
  }
  declare api: AppApi | undefined
  /** the community */
  declare docId: string
  /** the user may edit their profile (a writer or admin of the community) */
  declare canWrite: boolean
  /** the community document's current value */
  declare value: unknown
  declare name: string
  declare bio: string
  /** the user typed something not saved yet: live updates must not overwrite it */
  declare dirty: boolean
  declare error: string
  declare busy: boolean

  constructor() {
    super()
    this.api = undefined
    this.docId = ''
    this.canWrite = false
    this.value = undefined
    this.name = ''
    this.bio = ''
    this.dirty = false
    this.error = ''
    this.busy = false
  }

  static override styles = [
    shared,
    css`
      section.first {
        border-color: #2d4bd8;
        background: #f3f5fe;
      }
      input[data-testid='display-name'] {
        width: 16em;
      }
    `,
  ]

  override willUpdate(): void {
    if (this.dirty || this.api === undefined) return
    const p = profileOf(this.value, this.api.identity.id)
    this.name = p?.name ?? ''
    this.bio = p?.bio ?? ''
  }

  private async save(e: Event): Promise<void> {
    e.preventDefault()
    const api = this.api
    if (api === undefined || this.docId === '' || this.busy) return
    this.error = ''
    this.busy = true
    try {
      await runAction(api, this.docId, 'profiles/set', { name: this.name, bio: this.bio })
      this.dirty = false
    } catch (err) {
      this.error = errorText(err)
    } finally {
      this.busy = false
    }
  }

  private revert(): void {
    this.dirty = false
    this.error = ''
  }

  private edit(field: 'name' | 'bio', e: Event): void {
    this[field] = (e.target as HTMLInputElement).value
    this.dirty = true
    this.error = ''
  }

  override render(): unknown {
    const me = this.api?.identity.id ?? ''
    const first = profileOf(this.value, me) === undefined
    const header = html`<div class="row">
      <h2 class="grow">Your profile <span class="mono muted" title=${me}>${shortId(me)}</span></h2>
      <span class="muted" data-testid="follow-counts">
        ${followingOf(this.value, me).length} following ·
        ${plural(followersOf(this.value, me).length, 'follower')}
      </span>
    </div>`
    if (!this.canWrite) return first ? '' : html`<section>${header}</section>`
    return html`<section class=${first ? 'first' : ''}>
      ${
        first
          ? html`<h2>Welcome! Choose a display name</h2>
              <p class="muted">
                It is shown on your posts in this community. You can change it at any time.
              </p>`
          : header
      }
      <form class="row" @submit=${(e: Event) => void this.save(e)}>
        <input
          data-testid="display-name"
          aria-label="Display name"
          placeholder="Display name"
          .value=${this.name}
          @input=${(e: Event) => this.edit('name', e)}
        />
        <input
          class="grow"
          data-testid="bio"
          aria-label="Bio"
          placeholder="Bio (optional)"
          .value=${this.bio}
          @input=${(e: Event) => this.edit('bio', e)}
        />
        <button class="primary" data-testid="save-profile" ?disabled=${this.busy}>Save</button>
        ${
          this.dirty && !first
            ? html`<button type="button" @click=${() => this.revert()}>Cancel</button>`
            : ''
        }
      </form>
      ${this.error === '' ? '' : html`<p class="error" data-testid="profile-error" role="alert">${this.error}</p>`}
    </section>`
  }
}
defineElement('microblog-profile', MicroblogProfile)
