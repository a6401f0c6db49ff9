import { defineElement } from '../../../src/browser/ui/define'
import { LitElement, css, html } from 'lit'
import type { AppApi, DocSyncState, SpaceRole } from '../../../src/core/apps/api'
import { READ_ONLY_NOTE, canInvite, canWrite, errorText } from './actions'
import { allPosts, getPost, pathOf, profileName, thread, timeline, type Post } from './model'
import { message, shared } from './styles'
import { sourceText } from './source'
import './compose'
import './post'
import './profile'
import type { MicroblogCompose } from './compose'

type Tab = 'timeline' | 'everyone'

type InviteRole = 'writer' | 'reader'

/** How often the user's role is read again (it changes when a space update or invite arrives). */
const ROLE_POLL_MS = 1500

/**
 * One community: the user's role, invite links (members who may write) and the read link, profile,
 * compose box, and the Timeline / Everyone / thread feeds. Non-members and readers see it
 * read-only.
 */
export class MicroblogCommunity extends LitElement {
  static override properties = {
    api: { attribute: false },
    docId: { attribute: false },
    value: { state: true },
    sync: { state: true },
    tab: { state: true },
    replyTo: { state: true },
    threadOf: { state: true },
    myRole: { state: true },
    copied: { state: true },
    inviteRole: { state: true },
    invite: { state: true },
    inviteBusy: { state: true },
    inviteError: { state: true },
    error: { state: true },
  }
  declare api: AppApi | undefined
  declare docId: string
  /** the community document, live; undefined until it is read */
  declare value: unknown
  /** the community document's sync state: while nothing of it is here, say so (not "no posts") */
  declare sync: DocSyncState | undefined
  declare tab: Tab
  /** the post being replied to */
  declare replyTo: string | undefined
  /** the post whose thread is shown instead of the feed */
  declare threadOf: string | undefined
  /** the user's role in the community's space (undefined: not a member, or not known yet) */
  declare myRole: SpaceRole | undefined
  /** "Copied!" next to the link it is about */
  declare copied: { what: 'share' | 'invite'; text: string } | undefined
  declare inviteRole: InviteRole
  /** the last invite link made here */
  declare invite: string
  declare inviteBusy: boolean
  declare inviteError: string
  declare error: string
  private off: (() => void) | undefined
  private offSync: (() => void) | undefined
  private rolePoll: ReturnType<typeof setInterval> | undefined

  constructor() {
    super()
    this.api = undefined
    this.docId = ''
    this.value = undefined
    this.sync = undefined
    this.tab = 'timeline'
    this.replyTo = undefined
    this.threadOf = undefined
    this.myRole = undefined
    this.copied = undefined
    this.inviteRole = 'writer'
    this.invite = ''
    this.inviteBusy = false
    this.inviteError = ''
    this.error = ''
  }

  static override styles = [
    shared,
    css`
      .share input {
        flex: 1;
        min-width: 12em;
      }
      .share .row + .row {
        margin-top: 8px;
      }
      .role {
        font-weight: 600;
      }
      select {
        font: inherit;
        padding: 4px 6px;
        border: 1px solid #9aa3b5;
        border-radius: 6px;
        background: #fff;
      }
      .note {
        background: #f3f5fe;
        border-color: #c6cde0;
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
    this.offSync?.()
    this.offSync = undefined
    if (this.rolePoll !== undefined) clearInterval(this.rolePoll)
    this.rolePoll = undefined
  }

  /** Reads the user's role again; a change re-renders (e.g. an invite accepted, a role changed). */
  private refreshRole(): void {
    let role: SpaceRole | undefined
    try {
      role = this.api?.role(this.docId)
    } catch {
      role = undefined
    }
    if (role !== this.myRole) this.myRole = role
  }

  private watch(): void {
    this.unwatch()
    this.value = undefined
    this.sync = undefined
    this.replyTo = undefined
    this.threadOf = undefined
    this.error = ''
    this.invite = ''
    this.inviteError = ''
    this.myRole = undefined
    if (this.api === undefined || this.docId === '') return
    this.refreshRole()
    this.rolePoll = setInterval(() => this.refreshRole(), ROLE_POLL_MS)
    try {
      this.off = this.api.state.subscribe(pathOf(this.docId), (v) => {
        this.value = v
        this.refreshRole()
      })
      // a shell older than the sync state gives no watchDocState: the feed shows as before
      this.offSync = this.api.watchDocState?.(this.docId, (s) => (this.sync = s))
    } catch (e) {
      this.error = `This community cannot be opened: ${message(e)}`
    }
  }

  /** While nothing of the community is in this browser: why, instead of an empty feed. */
  private absent(): unknown {
    const s = this.sync
    if (s === undefined || s.here || s.state === 'local') return undefined
    const text =
      s.state === 'loading'
        ? `Loading the community from ${s.loading?.from.length ?? 1} ${s.loading?.from.length === 1 ? 'peer' : 'peers'}…`
        : s.state === 'offline'
          ? 'You are offline. The community appears here once someone who has it is reachable.'
          : `Waiting for someone who has this community${s.searching ? ' (looking…)' : ''}. Nobody who has it is online right now; its posts appear here as soon as a member comes online.`
    return html`<section class="empty muted" data-testid="community-waiting" data-state=${s.state}>
      ${text}
    </section>`
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

  private async copy(what: 'share' | 'invite', link: string): Promise<void> {
    try {
      await navigator.clipboard.writeText(link)
      this.copied = { what, text: 'Copied!' }
    } catch {
      const testid = what === 'share' ? 'share-link' : 'invite-link'
      this.renderRoot.querySelector<HTMLInputElement>(`[data-testid="${testid}"]`)?.select()
      this.copied = { what, text: 'Press Ctrl+C (⌘C) to copy' }
    }
    const shown = this.copied
    setTimeout(() => {
      if (this.copied === shown) this.copied = undefined
    }, 2500)
  }

  /** A new invite link for the chosen role (the shell keeps its secret in the link's fragment). */
  private async makeInvite(): Promise<void> {
    const api = this.api
    if (api === undefined || this.inviteBusy) return
    this.inviteBusy = true
    this.inviteError = ''
    this.invite = ''
    try {
      const docId = this.docId
      const link = await api.invite(docId, this.inviteRole)
      if (docId === this.docId) this.invite = link // still on the community it was made for
    } catch (e) {
      this.inviteError = `Could not make an invite link: ${errorText(e)}`
    } finally {
      this.inviteBusy = false
    }
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
          .api=${this.api}
          .docId=${this.docId}
          .canWrite=${canWrite(this.myRole)}
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
      : this.feed(
          allPosts(this.value),
          canWrite(this.myRole) ? 'No posts yet. Be the first!' : 'No posts yet.',
        )
  }

  private copiedNote(what: 'share' | 'invite'): unknown {
    return html`<span class="muted" role="status"
      >${this.copied?.what === what ? this.copied.text : ''}</span
    >`
  }

  /** The user's role, invite links for writers and admins, and the plain read link. */
  private share(api: AppApi): unknown {
    const role = this.myRole
    const link = api.link(this.docId)
    const roleLabel = role ?? 'not a member'
    const roleHelp =
      role === 'admin'
        ? 'you started or run this community: you can post and invite writers and readers'
        : role === 'writer'
          ? 'you can post, and invite writers and readers'
          : role === 'reader'
            ? 'you can read'
            : 'you can read with the link'
    return html`<section class="share">
      <div class="row">
        <span class="grow"
          >Your role:
          <span class="role" data-testid="my-role" data-role=${role ?? 'none'}>${roleLabel}</span>
          <span class="muted">— ${roleHelp}</span></span
        >
      </div>
      ${
        canInvite(role)
          ? html`<div class="row">
                <label for="invite-role">Invite people:</label>
                <select
                  id="invite-role"
                  data-testid="invite-role"
                  aria-label="Role of the people you invite"
                  @change=${(e: Event) => {
                    this.inviteRole = (e.target as HTMLSelectElement).value as InviteRole
                    this.invite = ''
                  }}
                >
                  <option value="writer" ?selected=${this.inviteRole === 'writer'}>
                    who can post (writer)
                  </option>
                  <option value="reader" ?selected=${this.inviteRole === 'reader'}>
                    who can only read (reader)
                  </option>
                </select>
                <button
                  class="primary"
                  data-testid="make-invite"
                  ?disabled=${this.inviteBusy}
                  @click=${() => void this.makeInvite()}
                >
                  ${this.inviteBusy ? 'Making an invite link…' : 'Make an invite link'}
                </button>
              </div>
              ${
                this.invite === ''
                  ? ''
                  : html`<div class="row">
                        <input
                          readonly
                          data-testid="invite-link"
                          aria-label="Invite link"
                          .value=${this.invite}
                        />
                        <button
                          data-testid="copy-invite"
                          @click=${() => void this.copy('invite', this.invite)}
                        >
                          Copy invite
                        </button>
                        ${this.copiedNote('invite')}
                      </div>
                      <p class="muted" style="margin:4px 0 8px">
                        Whoever opens this link joins as a ${this.inviteRole}: send it only to the
                        people you mean.
                      </p>`
              }
              ${
                this.inviteError === ''
                  ? ''
                  : html`<p class="error" data-testid="invite-error" role="alert">
                      ${this.inviteError}
                    </p>`
              }`
          : ''
      }
      <div class="row">
        <span class="muted">Read-only link:</span>
        <input readonly data-testid="share-link" aria-label="Share link" .value=${link} />
        <button data-testid="copy-link" @click=${() => void this.copy('share', link)}>
          Copy link
        </button>
        ${this.copiedNote('share')}
      </div>
    </section>`
  }

  override render(): unknown {
    const api = this.api
    if (api === undefined) return ''
    if (this.error !== '') return html`<section class="error" role="alert">${this.error}</section>`
    const writable = canWrite(this.myRole)
    const parent =
      this.replyTo === undefined || !writable ? undefined : getPost(this.value, this.replyTo)
    const tab = (t: Tab, label: string): unknown =>
      html`<button
        role="tab"
        data-testid="tab-${t}"
        aria-selected=${this.tab === t && this.threadOf === undefined ? 'true' : 'false'}
        @click=${() => this.showTab(t)}
      >
        ${label}
      </button>`
    const absent = this.absent()
    const source = sourceText(this.sync, (did) => profileName(this.value, did))
    // an empty community waits for its sync state (it may be empty only because nothing arrived)
    const opening =
      this.value === undefined ||
      (this.sync === undefined && this.offSync !== undefined && isEmpty(this.value))
    return html`${this.share(api)}
    ${
      source === undefined
        ? ''
        : html`<p class="muted" data-testid="community-source" data-state=${this.sync?.state ?? ''}>
            ${source}
          </p>`
    }
    ${
      opening
        ? html`<section class="muted">Opening the community…</section>`
        : absent !== undefined
          ? absent
          : html`<microblog-profile
                .api=${api}
                .docId=${this.docId}
                .canWrite=${writable}
                .value=${this.value}
              ></microblog-profile>
              ${
                writable
                  ? html`<microblog-compose
                      .api=${api}
                      .docId=${this.docId}
                      .parent=${parent}
                      .parentName=${parent === undefined ? '' : profileName(this.value, parent.author)}
                      @posted=${(e: CustomEvent<{ id: string; text: string }>) => this.posted(e.detail, parent)}
                      @cancel-reply=${() => (this.replyTo = undefined)}
                    ></microblog-compose>`
                  : html`<section class="note" data-testid="read-only-note" role="note">
                      ${READ_ONLY_NOTE}
                    </section>`
              }
              <nav role="tablist">
                ${tab('timeline', 'Timeline')} ${tab('everyone', 'Everyone')}
              </nav>
              ${this.body(api.identity.id)}`
    }`
  }
}
defineElement('microblog-community', MicroblogCommunity)

const isEmpty = (v: unknown): boolean =>
  v === null || typeof v !== 'object' || Object.keys(v as object).length === 0
