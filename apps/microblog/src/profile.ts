import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import { followersOf, followingOf, profileOf, setProfile, shortId, type Writer } from './model'
import { message, plural, shared } from './styles'

/** The user's profile in this community: display name and bio; asks for a name on first use. */
export class MicroblogProfile extends LitElement {
  static override properties = {
    writer: { attribute: false },
    value: { attribute: false },
    name: { state: true },
    bio: { state: true },
    dirty: { state: true },
    error: { state: true },
    busy: { state: true },
  }
  declare writer: Writer | undefined
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
    this.writer = undefined
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
    if (this.dirty || this.writer === undefined) return
    const p = profileOf(this.value, this.writer.me)
    this.name = p?.name ?? ''
    this.bio = p?.bio ?? ''
  }

  private async save(e: Event): Promise<void> {
    e.preventDefault()
    if (this.writer === undefined) return
    this.error = ''
    this.busy = true
    try {
      await setProfile(this.writer, { name: this.name, bio: this.bio })
      this.dirty = false
    } catch (err) {
      this.error = message(err)
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
    const me = this.writer?.me ?? ''
    const first = profileOf(this.value, me) === undefined
    return html`<section class=${first ? 'first' : ''}>
      ${
        first
          ? html`<h2>Welcome! Choose a display name</h2>
              <p class="muted">
                It is shown on your posts in this community. You can change it at any time.
              </p>`
          : html`<div class="row">
              <h2 class="grow">
                Your profile <span class="mono muted" title=${me}>${shortId(me)}</span>
              </h2>
              <span class="muted" data-testid="follow-counts">
                ${followingOf(this.value, me).length} following ·
                ${plural(followersOf(this.value, me).length, 'follower')}
              </span>
            </div>`
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
import.meta.hot?.accept()
