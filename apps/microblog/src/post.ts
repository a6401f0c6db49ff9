import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import {
  follow,
  getPost,
  isFollowing,
  like,
  likedBy,
  likesOf,
  profileName,
  unfollow,
  unlike,
  type Post,
  type Writer,
} from './model'
import { ago, message, plural, shared } from './styles'

/**
 * One post: author (with follow / unfollow), text, the parent of a reply, likes and a Reply
 * button. Fires `reply` and `open-thread` (detail: a post id); the host page handles both.
 */
export class MicroblogPost extends LitElement {
  static override properties = {
    writer: { attribute: false },
    value: { attribute: false },
    post: { attribute: false },
    replies: { type: Number },
    focused: { type: Boolean },
    error: { state: true },
    busy: { state: true },
  }
  declare writer: Writer | undefined
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
    this.writer = undefined
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

  /** Runs a write; a failure is shown on the post. */
  private async act(write: (w: Writer) => Promise<void>): Promise<void> {
    if (this.writer === undefined || this.busy) return
    this.busy = true
    this.error = ''
    try {
      await write(this.writer)
    } catch (e) {
      this.error = message(e)
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
    const w = this.writer
    if (p === undefined || w === undefined) return ''
    const mine = p.author === w.me
    const likes = likesOf(this.value, p.id).length
    const liked = likedBy(this.value, p.id, w.me)
    const following = isFollowing(this.value, w.me, p.author)
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
                ?disabled=${this.busy}
                @click=${() =>
                  void this.act((x) => (following ? unfollow(x, p.author) : follow(x, p.author)))}
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
          ?disabled=${this.busy}
          @click=${() => void this.act((x) => (liked ? unlike(x, p.id) : like(x, p.id)))}
        >
          ${liked ? '♥' : '♡'} <span data-testid="like-count">${likes}</span>
        </button>
        <button class="small" data-testid="reply-button" @click=${() => this.fire('reply', p.id)}>
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
      ${this.error === '' ? '' : html`<p class="error" role="alert">${this.error}</p>`}
    </article>`
  }
}
defineElement('microblog-post', MicroblogPost)
import.meta.hot?.accept()
