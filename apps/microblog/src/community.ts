import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import type { AppApi } from '../../../src/core/apps/api'
import {
  allPosts,
  getPost,
  pathOf,
  profileName,
  thread,
  timeline,
  type Post,
  type Writer,
} from './model'
import { message, shared } from './styles'
import './compose'
import './post'
import './profile'
import type { MicroblogCompose } from './compose'

type Tab = 'timeline' | 'everyone'

/** One community: share link, profile, compose box, and the Timeline / Everyone / thread feeds. */
export class MicroblogCommunity extends LitElement {
  static override properties = {
    api: { attribute: false },
    docId: { attribute: false },
    value: { state: true },
    tab: { state: true },
    replyTo: { state: true },
    threadOf: { state: true },
    copied: { state: true },
    error: { state: true },
  }
  declare api: AppApi | undefined
  declare docId: string
  /** the community document, live; undefined until it is read */
  declare value: unknown
  declare tab: Tab
  /** the post being replied to */
  declare replyTo: string | undefined
  /** the post whose thread is shown instead of the feed */
  declare threadOf: string | undefined
  declare copied: string
  declare error: string
  private off: (() => void) | undefined

  constructor() {
    super()
    this.api = undefined
    this.docId = ''
    this.value = undefined
    this.tab = 'timeline'
    this.replyTo = undefined
    this.threadOf = undefined
    this.copied = ''
    this.error = ''
  }

  static override styles = [
    shared,
    css`
      .share input {
        flex: 1;
        min-width: 12em;
      }
      nav {
        display: flex;
        gap: 4px;
        margin: 4px 0 10px;
      }
      nav button {
        border-radius: 999px;
      }
      nav button[aria-selected='true'] {
        background: #1d2330;
        border-color: #1d2330;
        color: #fff;
      }
      .empty {
        text-align: center;
        padding: 24px 12px;
      }
    `,
  ]

  override connectedCallback(): void {
    super.connectedCallback()
    if (this.hasUpdated) this.watch()
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.unwatch()
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('api') || changed.has('docId')) this.watch()
  }

  private unwatch(): void {
    this.off?.()
    this.off = undefined
  }

  private watch(): void {
    this.unwatch()
    this.value = undefined
    this.replyTo = undefined
    this.threadOf = undefined
    this.error = ''
    if (this.api === undefined || this.docId === '') return
    try {
      this.off = this.api.state.subscribe(pathOf(this.docId), (v) => (this.value = v))
    } catch (e) {
      this.error = `This community cannot be opened: ${message(e)}`
    }
  }

  /** A reply tells the parent's author, through the shell's outbox (delivered when they are online). */
  private posted({ id, text }: { id: string; text: string }, parent: Post | undefined): void {
    this.replyTo = undefined
    const api = this.api
    if (api === undefined || parent === undefined || parent.author === api.identity.id) return
    const me = profileName(this.value, api.identity.id)
    api
      .notify(parent.author, {
        text: `${me} replied: ${text.slice(0, 140)}`,
        doc: this.docId,
        post: id,
      })
      .catch((e: unknown) => console.warn('microblog: could not queue the notification', e))
  }

  private get writer(): Writer | undefined {
    const api = this.api
    return api === undefined
      ? undefined
      : { state: api.state, doc: this.docId, me: api.identity.id }
  }

  private async copy(link: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(link)
      this.copied = 'Copied!'
    } catch {
      const input = this.renderRoot.querySelector<HTMLInputElement>('[data-testid="share-link"]')
      input?.select()
      this.copied = 'Press Ctrl+C (⌘C) to copy'
    }
    setTimeout(() => (this.copied = ''), 2500)
  }

  private startReply(id: string): void {
    this.replyTo = id
    void this.updateComplete.then(() => {
      const compose = this.renderRoot.querySelector<MicroblogCompose>('microblog-compose')
      compose?.scrollIntoView({ block: 'nearest', behavior: 'smooth' })
      compose?.focus()
    })
  }

  private showTab(tab: Tab): void {
    this.tab = tab
    this.threadOf = undefined
  }

  private feed(posts: Post[], empty: unknown): unknown {
    if (posts.length === 0)
      return html`<section class="empty muted" data-testid="empty">${empty}</section>`
    const replies = new Map<string, number>()
    for (const p of allPosts(this.value)) {
      if (p.replyTo !== undefined) replies.set(p.replyTo, (replies.get(p.replyTo) ?? 0) + 1)
    }
    return posts.map(
      (p) =>
        html`<microblog-post
          data-testid="post"
          data-post-id=${p.id}
          .writer=${this.writer}
          .value=${this.value}
          .post=${p}
          .replies=${replies.get(p.id) ?? 0}
          .focused=${p.id === this.threadOf}
          @reply=${(e: CustomEvent<string>) => this.startReply(e.detail)}
          @open-thread=${(e: CustomEvent<string>) => (this.threadOf = e.detail)}
        ></microblog-post>`,
    )
  }

  private body(me: string): unknown {
    if (this.threadOf !== undefined) {
      return html`<div class="row">
          <button class="link" data-testid="back" @click=${() => (this.threadOf = undefined)}>
            ← Back
          </button>
          <h2 class="grow" style="margin:0">Conversation</h2>
        </div>
        ${this.feed(thread(this.value, this.threadOf), 'This post is not here (yet).')}`
    }
    return this.tab === 'timeline'
      ? this.feed(
          timeline(this.value, me),
          html`Your timeline shows your posts and posts by people you follow.<br />
            Write something, or look at
            <button class="link" @click=${() => this.showTab('everyone')}>Everyone</button> to find
            people to follow.`,
        )
      : this.feed(allPosts(this.value), 'No posts yet. Be the first!')
  }

  override render(): unknown {
    const api = this.api
    if (api === undefined) return ''
    if (this.error !== '') return html`<section class="error" role="alert">${this.error}</section>`
    const link = api.link(this.docId)
    const parent = this.replyTo === undefined ? undefined : getPost(this.value, this.replyTo)
    const tab = (t: Tab, label: string): unknown =>
      html`<button
        role="tab"
        data-testid="tab-${t}"
        aria-selected=${this.tab === t && this.threadOf === undefined ? 'true' : 'false'}
        @click=${() => this.showTab(t)}
      >
        ${label}
      </button>`
    return html`<section>
        <div class="row share">
          <span class="muted">Invite people with this link:</span>
          <input readonly data-testid="share-link" aria-label="Share link" .value=${link} />
          <button data-testid="copy-link" @click=${() => void this.copy(link)}>Copy link</button>
          <span class="muted" role="status">${this.copied}</span>
        </div>
      </section>
      ${
        this.value === undefined
          ? html`<section class="muted">Opening the community…</section>`
          : html`<microblog-profile .writer=${this.writer} .value=${this.value}></microblog-profile>
              <microblog-compose
                .writer=${this.writer}
                .parent=${parent}
                .parentName=${parent === undefined ? '' : profileName(this.value, parent.author)}
                @posted=${(e: CustomEvent<{ id: string; text: string }>) => this.posted(e.detail, parent)}
                @cancel-reply=${() => (this.replyTo = undefined)}
              ></microblog-compose>
              <nav role="tablist">
                ${tab('timeline', 'Timeline')} ${tab('everyone', 'Everyone')}
              </nav>
              ${this.body(api.identity.id)}`
      }`
  }
}
defineElement('microblog-community', MicroblogCommunity)
import.meta.hot?.accept()
