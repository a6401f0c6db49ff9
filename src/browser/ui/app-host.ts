import { LitElement, html, css } from 'lit'
import type { AppElement } from '../../core/apps/api'
import type { AppManifest } from '../../core/blocks/types'
import type { InstallProgress } from '../apps/installer'
import { describeError } from '../../core/errors'
import type { Follow, Release } from '../apps/follows'
import { appLinkHash, parseAppLink, type LinkKeys } from '../links'
import { devEvents, reloadBecause, type PublishedVersion } from '../dev'
import { defineElement, takeReloadReasons } from './define'
import { api, shared } from './shared'

type Phase = InstallProgress

declare global {
  interface Window {
    /** the last version swapped into the open app (tests and the bench read it) */
    orreryLastSwap?: { cid: string; at: number }
  }
}

/**
 * Loads an app by its address (with a progress bar: blocks and bytes), then mounts its root
 * element with the app's scoped API. A manifest that does not verify is refused with the reason.
 * A followed app's new versions are swapped in place (the elements get the new code and keep
 * their state, the documents stay) unless a version is pinned; `source` mounts an app from its
 * sources instead (development).
 */
export class OrreryAppHost extends LitElement {
  static override properties = {
    cid: { type: String },
    doc: { type: String },
    keys: { attribute: false },
    source: { type: String },
    progress: { state: true },
    error: { state: true },
    manifest: { state: true },
    follow: { state: true },
    notice: { state: true },
  }
  declare cid: string
  declare doc: string
  /** what the link carries: the document's key and its space (whose rules apply before the app opens the document) */
  declare keys: LinkKeys
  declare source: string
  declare progress: Phase | undefined
  declare error: string
  declare manifest: AppManifest | undefined
  declare follow: Follow | undefined
  declare notice: string
  private mounted: AppElement | undefined
  private loading: string | undefined
  /** the install under way: aborted when another app is loaded or the host goes away */
  private installing: AbortController | undefined
  private offs: (() => void)[] = []

  constructor() {
    super()
    this.cid = ''
    this.doc = ''
    this.keys = {}
    this.source = ''
    this.error = ''
    this.notice = ''
  }

  static override styles = [
    shared,
    css`
      progress {
        width: 100%;
      }
      .app {
        display: block;
      }
      .bar {
        display: flex;
        flex-wrap: wrap;
        gap: 12px;
        align-items: center;
        font-size: 13px;
        margin-bottom: 8px;
      }
      .bar .notice {
        color: #2f5d9e;
      }
    `,
  ]

  override connectedCallback(): void {
    super.connectedCallback()
    const events = window.orrery.events
    this.offs.push(
      events.on('release', (r) => void this.released(r)),
      events.on('follows', () => void this.refreshFollow()),
      events.on('refused', (r) => {
        if (r.name === this.manifest?.name) this.notice = `Refused a version: ${r.reason}`
      }),
      devEvents.on('published', (v: PublishedVersion) => {
        if (this.source === v.name) this.notice = `published ${v.cid} (${Math.round(v.ms)} ms)`
      }),
      devEvents.on('publish-failed', (f) => {
        if (this.source !== '')
          this.notice = `not published (followers keep their version): ${f.error}`
      }),
    )
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    for (const off of this.offs.splice(0)) off()
    this.installing?.abort() // a page that is gone stops looking for the app
    this.installing = undefined
  }

  override updated(changed: Map<string, unknown>): void {
    const want = this.source !== '' ? `source:${this.source}` : `${this.cid}/${this.doc}`
    if (
      (changed.has('cid') || changed.has('doc') || changed.has('source')) &&
      (this.cid !== '' || this.source !== '') &&
      this.loading !== want
    ) {
      this.loading = want
      void this.load()
    }
  }

  private async load(): Promise<void> {
    this.installing?.abort()
    const installing = (this.installing = new AbortController())
    this.error = ''
    this.progress = undefined
    this.manifest = undefined
    this.mounted?.remove()
    this.mounted = undefined
    try {
      let el: AppElement
      if (this.source !== '') {
        el = (await api().apps.mountSource(this.source, this.doc || undefined)) as AppElement
        this.notice = `${this.source} from source: edits show here in place`
      } else {
        if (this.doc !== '') {
          // before the app opens the document: its key kept, and its changes checked against
          // the space's members from the first (a failure is shown; the app still opens it)
          await api()
            .docs.open(this.doc, this.keys)
            .catch((e: unknown) => (this.notice = describeError(e)))
        }
        // keeps trying while nobody reachable has it (the progress says so): no time limit
        const manifest = await api().apps.install(this.cid, (p) => (this.progress = p), {
          signal: installing.signal,
        })
        this.manifest = manifest
        el = (await api().apps.mount(this.cid, manifest, this.doc || undefined)) as AppElement
        await this.refreshFollow()
      }
      this.mounted = el
      el.classList.add('app')
      this.renderRoot.querySelector('#mount')?.replaceChildren(el)
    } catch (e) {
      if (installing.signal.aborted) return // another app was asked for, or the host went away
      const code = (e as { code?: string }).code
      this.error =
        code === 'BAD_SIGNATURE'
          ? `This app was refused: its manifest's signature does not verify (${describeError(e)}).`
          : `This app could not be loaded: ${describeError(e)}`
    }
  }

  private async refreshFollow(): Promise<void> {
    const m = this.manifest
    if (m === undefined) return
    this.follow = (await api().apps.follows()).find(
      (f) => f.publisher === m.publisher && f.name === m.name,
    )
  }

  private async toggleFollow(on: boolean): Promise<void> {
    const m = this.manifest
    if (m === undefined) return
    if (on) await api().apps.follow(m.publisher, m.name)
    else await api().apps.unfollow(m.publisher, m.name)
  }

  private async togglePin(on: boolean): Promise<void> {
    const m = this.manifest
    if (m === undefined) return
    await api().apps.pin(m.publisher, m.name, on ? this.cid : undefined)
    // unpinned: catch up with the newest version at once
    const latest = this.follow?.latest
    if (!on && latest !== undefined && latest !== this.cid) await this.swap(latest)
  }

  private async released(r: Release): Promise<void> {
    const m = this.manifest
    if (m === undefined || r.cid === this.cid) return
    if (r.manifest.publisher !== m.publisher || r.manifest.name !== m.name) return
    if (r.manifest.createdAt <= m.createdAt) return
    await this.refreshFollow()
    if (this.follow?.pinned !== undefined) {
      this.notice = `Version ${r.manifest.appVersion} is available (this one is pinned).`
      return
    }
    await this.swap(r.cid)
  }

  /**
   * Swaps a newer version into the open app: its modules run, `defineElement` moves the new code
   * onto the registered elements and re-renders them (state kept), and the root gets an API for
   * the new address. What cannot change in place reloads the page into the new version.
   */
  private async swap(cid: string): Promise<void> {
    const old = this.manifest
    const el = this.mounted
    if (old === undefined || el === undefined) return
    try {
      const manifest = await api().apps.install(cid)
      const link = parseAppLink(location.hash)
      const doc = link?.docId ?? this.doc
      const target = appLinkHash(cid, doc, doc === '' ? {} : api().docs.linkKeys(doc))
      if (manifest.element !== old.element) {
        history.replaceState(null, '', target)
        reloadBecause(`${manifest.name} ${manifest.appVersion} mounts another element`)
        return
      }
      await import(/* @vite-ignore */ `/app/${cid}/${manifest.entry}`)
      const reasons = takeReloadReasons()
      if (reasons.length > 0) {
        history.replaceState(null, '', target)
        reloadBecause(`${manifest.name} ${manifest.appVersion}: ${reasons.join('; ')}`)
        return
      }
      this.loading = `${cid}/${this.doc}`
      this.cid = cid
      this.manifest = manifest
      history.replaceState(null, '', target)
      el.orrery = await api().apps.scope(cid, manifest, doc === '' ? undefined : doc)
      this.notice = `Updated to ${manifest.appVersion}`
      window.orreryLastSwap = { cid, at: performance.now() }
    } catch (e) {
      this.notice = `Version ${cid.slice(0, 16)}… could not be swapped in: ${describeError(e)}`
    }
  }

  private bar(): unknown {
    const m = this.manifest
    if (m === undefined) {
      return this.notice === ''
        ? ''
        : html`<div class="bar">
            <span class="notice" data-testid="app-notice">${this.notice}</span>
          </div>`
    }
    const f = this.follow
    return html`<div class="bar">
      <span class="muted"
        >${m.name} ${m.appVersion} · by
        <code title=${m.publisher}>${m.publisher.slice(-8)}</code></span
      >
      <label
        ><input
          type="checkbox"
          data-testid="app-follow"
          .checked=${f !== undefined}
          @change=${(e: Event) => void this.toggleFollow((e.target as HTMLInputElement).checked)}
        />
        follow updates</label
      >
      ${
        f === undefined
          ? ''
          : html`<label
              ><input
                type="checkbox"
                data-testid="app-pin"
                .checked=${f.pinned === this.cid}
                @change=${(e: Event) => void this.togglePin((e.target as HTMLInputElement).checked)}
              />
              pin this version</label
            >`
      }
      <span class="notice" data-testid="app-notice">${this.notice}</span>
    </div>`
  }

  override render(): unknown {
    const p = this.progress
    const loading = this.manifest === undefined && this.error === '' && this.source === ''
    return html`<section>
      ${
        this.error !== ''
          ? html`<p class="error" data-testid="app-error">${this.error}</p>`
          : loading
            ? html`<h2>Loading app <code>${this.cid.slice(0, 16)}…</code></h2>
                <progress
                  data-testid="app-progress"
                  max=${p?.totalBytes || 1}
                  value=${p?.bytes ?? 0}
                ></progress>
                ${
                  p?.phase === 'waiting'
                    ? html`<p class="muted" data-testid="app-waiting">
                        Waiting for someone who has this app. Nobody reachable has it right now
                        (${p.providers ?? 0} asked); this page keeps looking and opens it as soon as
                        someone who has it comes online.
                      </p>`
                    : html`<p class="muted">
                        ${
                          p === undefined || p.phase === 'finding'
                            ? 'looking for peers that have this app…'
                            : `${p.phase}: ${p.blocks}/${p.totalBlocks} blocks, ${(p.bytes / 1024).toFixed(0)} of ${(p.totalBytes / 1024).toFixed(0)} KiB`
                        }
                      </p>`
                }`
            : this.bar()
      }
      <div id="mount" data-testid="app-mount"></div>
    </section>`
  }
}
defineElement('orrery-app-host', OrreryAppHost)

export type { AppElement }
