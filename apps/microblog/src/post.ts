import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import type { AppApi } from '../../../src/core/apps/api'
import { errorText, runAction } from './actions'
import { getPost, isFollowing, likedBy, likesOf, profileName, type Post } from './model'
import { ago, plural, shared } from './styles'

/**
 * One post: author (with follow / unfollow), text, the parent of a reply, likes and a Reply
 * button. Likes and follows go through the guarded actions; without `canWrite` (not a member, or
 * a reader) those buttons and Reply are disabled. Fires `reply` and `open-thread` (detail: a post
 * id); the host page handles both.
 */
export class MicroblogPost extends LitElement {
  static override properties = {
    api: { attribute: false },
    docId: { attribute: false },
    canWrite: { attribute: false },
    value: { attribute: false },
    post: { attribute: false },
    replies: { type: Number },
    focused: { type: Boolean },
    error: { state: true },
    busy: { state: true },
  }
  declare api: AppApi | undefined
  /** the community */
  declare docId: string
  /** the user may like, follow and reply (a writer or admin of the community) */
  declare canWrite: boolean
  /** the community document's current value */
  declare value: unknown
  declare post: Post | undefined
  /** how many replies it has */
  declare replies: number
  /** the post a thread is about (shown larger, without its own thread link) */
  declare focused: boolean
  declare error: string
  declare busy: boolean

  constructor() {
    super()
    this.api = undefined
    this.docId = ''
    this.canWrite = false
    this.value = undefined
    this.post = undefined
    this.replies = 0
    this.focused = false
    this.error = ''
    this.busy = false
  }

  static override styles = [
    shared,
    css`
      article {
        background: #fff;
        border: 1px solid #e1e5ee;
        border-radius: 10px;
        padding: 10px 12px;
        margin-bottom: 8px;
      }
      article.focused {
        border-color: #2d4bd8;
        font-size: 15px;
      }
      .author {
        font-weight: 600;
      }
      .text {
        white-space: pre-wrap;
        overflow-wrap: anywhere;
        margin: 4px 0 8px;
      }
      .parent {
        display: block;
        width: 100%;
        text-align: left;
        border: none;
        border-left: 3px solid #c6cde0;
        border-radius: 0;
        padding: 2px 8px;
        margin: 4px 0;
        background: none;
        color: #667085;
        overflow: hidden;
        text-overflow: ellipsis;
        white-space: nowrap;
      }
      button.small {
        padding: 2px 8px;
        font-size: 12px;
      }
      button[aria-pressed='true'] {
        background: #fde8ec;
        border-color: #e0607e;
      }
    `,
  ]

  /** Runs a like / follow action; a failure (or the guard's refusal) is shown on the post. */
  private async act(write: (api: AppApi, docId: string) => Promise<void>): Promise<void> {
    const api = this.api
    if (api === undefined || this.docId === '' || this.busy) return
    this.busy = true
    this.error = ''
    try {
      await write(api, this.docId)
    } catch (e) {
      this.error = errorText(e)
    } finally {
      this.busy = false
    }
  }

  private fire(name: 'reply' | 'open-thread', id: string): void {
    this.dispatchEvent(new CustomEvent(name, { detail: id }))
  }

  private parent(p: Post): unknown {
    if (p.replyTo === undefined) return ''
    const parent = getPost(this.value, p.replyTo)
    const replyTo = p.replyTo
    return html`<button
      class="parent"
      data-testid="post-parent"
      data-parent-id=${replyTo}
      title="Show the conversation"
      @click=${() => this.fire('open-thread', replyTo)}
    >
      ↪
      ${
        parent === undefined
          ? 'in reply to a post not here yet'
          : html`replying to <strong>${profileName(this.value, parent.author)}</strong>:
              ${parent.text}`
      }
    </button>`
  }

  override render(): unknown {
    const p = this.post
    const api = this.api
    if (p === undefined || api === undefined) return ''
    const me = api.identity.id
    const mine = p.author === me
    const likes = likesOf(this.value, p.id).length
    const liked = likedBy(this.value, p.id, me)
    const following = isFollowing(this.value, me, p.author)
    const readOnly = this.canWrite ? '' : 'Ask a member for an invite to do this'
    return html`<article class=${this.focused ? 'focused' : ''}>
      <div class="row">
        <span class="grow">
          <span class="author" data-testid="post-author" title=${p.author}
            >${profileName(this.value, p.author)}</span
          >
          ${mine ? html`<span class="muted">(you)</span>` : ''}
          <span class="muted" title=${new Date(p.createdAt).toLocaleString()}>
            · ${ago(p.createdAt)}</span
          >
        </span>
        ${
          mine
            ? ''
            : html`<button
                class="small"
                data-testid="follow-button"
                aria-pressed=${following ? 'true' : 'false'}
                title=${readOnly}
                ?disabled=${this.busy || !this.canWrite}
                @click=${() =>
                  void this.act((api, doc) =>
                    runAction(api, doc, following ? 'follows/unset' : 'follows/set', {
                      identity: p.author,
                    }),
                  )}
              >
                ${following ? 'Unfollow' : 'Follow'}
              </button>`
        }
      </div>
      ${this.parent(p)}
      <div class="text" data-testid="post-text">${p.text}</div>
      <div class="row">
        <button
          class="small"
          data-testid="like-button"
          aria-pressed=${liked ? 'true' : 'false'}
          aria-label=${liked ? 'Unlike' : 'Like'}
          title=${readOnly}
          ?disabled=${this.busy || !this.canWrite}
          @click=${() =>
            void this.act((api, doc) =>
              runAction(api, doc, liked ? 'likes/unset' : 'likes/set', { post: p.id }),
            )}
        >
          ${liked ? '♥' : '♡'} <span data-testid="like-count">${likes}</span>
        </button>
        <button
          class="small"
          data-testid="reply-button"
          title=${readOnly}
          ?disabled=${!this.canWrite}
          @click=${() => this.fire('reply', p.id)}
        >
          Reply
        </button>
        ${
          this.replies === 0 || this.focused
            ? ''
            : html`<button
                class="link"
                data-testid="open-thread"
                @click=${() => this.fire('open-thread', p.id)}
              >
                ${plural(this.replies, 'reply', 'replies')}
              </button>`
        }
      </div>
      ${this.error === '' ? '' : html`<p class="error" data-testid="post-error" role="alert">${this.error}</p>`}
    </article>`
  }
}
defineElement('microblog-post', MicroblogPost)
