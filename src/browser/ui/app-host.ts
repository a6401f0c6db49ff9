import { LitElement, html, css } from 'lit'
import type { AppElement } from '../../core/apps/api'
import type { AppManifest, FetchProgress } from '../../core/blocks/types'
import { describeError } from '../../core/errors'
import { defineElement } from './define'
import { api, shared } from './shared'

type Phase = FetchProgress & { phase: string }

/**
 * Loads an app by its address (with a progress bar: blocks and bytes), then mounts its root
 * element with the app's scoped API. A manifest that does not verify is refused with the reason.
 */
export class OrreryAppHost extends LitElement {
  static override properties = {
    cid: { type: String },
    doc: { type: String },
    progress: { state: true },
    error: { state: true },
    manifest: { state: true },
  }
  declare cid: string
  declare doc: string
  declare progress: Phase | undefined
  declare error: string
  declare manifest: AppManifest | undefined
  private mounted: HTMLElement | undefined
  private loading: string | undefined

  constructor() {
    super()
    this.cid = ''
    this.doc = ''
    this.error = ''
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
    `,
  ]

  override updated(changed: Map<string, unknown>): void {
    if (
      (changed.has('cid') || changed.has('doc')) &&
      this.cid !== '' &&
      this.loading !== `${this.cid}/${this.doc}`
    ) {
      this.loading = `${this.cid}/${this.doc}`
      void this.load()
    }
  }

  private async load(): Promise<void> {
    this.error = ''
    this.manifest = undefined
    this.mounted?.remove()
    this.mounted = undefined
    try {
      const manifest = await api().apps.install(this.cid, (p) => (this.progress = p))
      this.manifest = manifest
      const el = await api().apps.mount(this.cid, manifest, this.doc === '' ? undefined : this.doc)
      this.mounted = el
      el.classList.add('app')
      this.renderRoot.querySelector('#mount')?.replaceChildren(el)
    } catch (e) {
      const code = (e as { code?: string }).code
      this.error =
        code === 'BAD_SIGNATURE'
          ? `This app was refused: its manifest's signature does not verify (${describeError(e)}).`
          : `This app could not be loaded: ${describeError(e)}`
    }
  }

  override render(): unknown {
    const p = this.progress
    const loading = this.manifest === undefined && this.error === ''
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
                <p class="muted">
                  ${
                    p === undefined || p.phase === 'finding'
                      ? 'looking for peers that have this app…'
                      : `${p.phase}: ${p.blocks}/${p.totalBlocks} blocks, ${(p.bytes / 1024).toFixed(0)} of ${(p.totalBytes / 1024).toFixed(0)} KiB`
                  }
                </p>`
            : ''
      }
      <div id="mount" data-testid="app-mount"></div>
    </section>`
  }
}
defineElement('orrery-app-host', OrreryAppHost)
import.meta.hot?.accept()

export type { AppElement }
