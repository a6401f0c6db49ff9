import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import type { AppApi } from '../../../src/core/apps/api'
import { errorText, runAction } from './actions'
import { MAX_POST_LENGTH, type Post } from './model'
import { shared } from './styles'

/**
 * The compose box: a new post, or a reply when `parent` is set (the parent is shown above the
 * text). Posts through the guarded actions "posts/create" and "posts/reply"; a refusal or invalid
 * text is shown under the box. Fires `posted` (detail: the new post's id and text) and
 * `cancel-reply`.
 */
export class MicroblogCompose extends LitElement {
  static override properties = {
    api: { attribute: false },
    docId: { attribute: false },
    parent: { attribute: false },
    parentName: { attribute: false },
    text: { state: true },
    error: { state: true },
    busy: { state: true },
  }
  declare api: AppApi | undefined
  /** the community */
  declare docId: string
  declare parent: Post | undefined
  declare parentName: string
  declare text: string
  declare error: string
  declare busy: boolean

  constructor() {
    super()
    this.api = undefined
    this.docId = ''
    this.parent = undefined
    this.parentName = ''
    this.text = ''
    this.error = ''
    this.busy = false
  }

  static override styles = [
    shared,
    css`
      textarea {
        width: 100%;
        min-height: 64px;
        resize: vertical;
      }
      .parent {
        border-left: 3px solid #c6cde0;
        padding: 2px 8px;
        margin-bottom: 8px;
        white-space: pre-wrap;
        overflow-wrap: anywhere;
      }
      .count {
        font-size: 12px;
      }
    `,
  ]

  override focus(options?: FocusOptions): void {
    this.renderRoot.querySelector('textarea')?.focus(options)
  }

  override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('parent')) this.error = ''
  }

  private async submit(): Promise<void> {
    const api = this.api
    if (api === undefined || this.docId === '' || this.busy) return
    this.error = ''
    this.busy = true
    try {
      const id =
        this.parent === undefined
          ? await runAction(api, this.docId, 'posts/create', { text: this.text })
          : await runAction(api, this.docId, 'posts/reply', {
              parent: this.parent.id,
              text: this.text,
            })
      const text = this.text.trim()
      this.text = ''
      this.dispatchEvent(new CustomEvent('posted', { detail: { id, text } }))
    } catch (e) {
      this.error = errorText(e)
    } finally {
      this.busy = false
    }
  }

  private onKey(e: KeyboardEvent): void {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault()
      void this.submit()
    }
  }

  override render(): unknown {
    const length = [...this.text.trim()].length
    const p = this.parent
    return html`<section>
      ${
        p === undefined
          ? ''
          : html`<div class="row">
                <span class="grow muted" data-testid="replying-to"
                  >Replying to ${this.parentName}</span
                >
                <button
                  class="link"
                  data-testid="cancel-reply"
                  @click=${() => this.dispatchEvent(new CustomEvent('cancel-reply'))}
                >
                  Cancel reply
                </button>
              </div>
              <div class="parent muted">${p.text}</div>`
      }
      <textarea
        data-testid="compose"
        aria-label=${p === undefined ? 'New post' : 'Your reply'}
        placeholder=${p === undefined ? 'What’s happening?' : 'Write your reply'}
        .value=${this.text}
        @input=${(e: Event) => {
          this.text = (e.target as HTMLTextAreaElement).value
          this.error = ''
        }}
        @keydown=${(e: KeyboardEvent) => this.onKey(e)}
      ></textarea>
      <div class="row">
        <span class="grow count ${length > MAX_POST_LENGTH ? 'error' : 'muted'}">
          ${length}/${MAX_POST_LENGTH}
        </span>
        <button
          class="primary"
          data-testid="post-button"
          ?disabled=${this.busy || this.api === undefined}
          @click=${() => void this.submit()}
        >
          ${p === undefined ? 'Post' : 'Reply'}
        </button>
      </div>
      ${this.error === '' ? '' : html`<p class="error" data-testid="compose-error" role="alert">${this.error}</p>`}
    </section>`
  }
}
defineElement('microblog-compose', MicroblogCompose)
