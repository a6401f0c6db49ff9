import { defineElement } from './define'
import { LitElement, html } from 'lit'
import { api, shared } from './shared'

/** Export the identity (phrase or file) and import one from another browser. */
export class OrreryIdentityPanel extends LitElement {
  static override properties = {
    id: { state: true },
    phrase: { state: true },
    error: { state: true },
    busy: { state: true },
  }
  declare id: string
  declare phrase: string
  declare error: string
  declare busy: boolean

  constructor() {
    super()
    this.id = ''
    this.phrase = ''
    this.error = ''
    this.busy = false
  }

  override connectedCallback(): void {
    super.connectedCallback()
    api()
      .identity.id()
      .then((id) => (this.id = id))
      .catch(() => undefined)
  }

  static override styles = [shared]

  private async download(): Promise<void> {
    const text = await api().identity.exportFile()
    const a = document.createElement('a')
    a.href = URL.createObjectURL(new Blob([text], { type: 'application/json' }))
    a.download = 'orrery-identity.json'
    a.click()
    URL.revokeObjectURL(a.href)
  }

  private async importText(text: string): Promise<void> {
    this.error = ''
    this.busy = true
    try {
      await api().identity.import(text)
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e)
    } finally {
      this.busy = false
    }
  }

  private async importFile(e: Event): Promise<void> {
    const file = (e.target as HTMLInputElement).files?.[0]
    if (file !== undefined) await this.importText(await file.text())
  }

  override render(): unknown {
    return html`<section>
      <h2>Identity</h2>
      <p class="mono" data-testid="identity-id">${this.id}</p>
      <button
        @click=${async () => (this.phrase = this.phrase === '' ? await api().identity.exportPhrase() : '')}
      >
        ${this.phrase === '' ? 'Show recovery phrase' : 'Hide phrase'}
      </button>
      <button @click=${() => void this.download()}>Download identity file</button>
      ${this.phrase === '' ? '' : html`<p class="mono" data-testid="phrase">${this.phrase}</p>`}
      <details>
        <summary>Use an identity from another browser</summary>
        <p class="muted">This replaces the identity of this browser profile (every tab reloads).</p>
        <textarea
          rows="3"
          style="width:100%"
          placeholder="24-word phrase or identity file contents"
          data-testid="import-text"
        ></textarea>
        <button
          ?disabled=${this.busy}
          data-testid="import-button"
          @click=${() => void this.importText((this.renderRoot.querySelector('textarea') as HTMLTextAreaElement).value)}
        >
          Import
        </button>
        <input
          type="file"
          accept="application/json,.json"
          @change=${(e: Event) => void this.importFile(e)}
        />
        ${this.error === '' ? '' : html`<p class="error" data-testid="import-error">${this.error}</p>`}
      </details>
    </section>`
  }
}
defineElement('orrery-identity-panel', OrreryIdentityPanel)
