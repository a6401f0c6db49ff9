import { defineElement } from './define'
import { LitElement, html, css } from 'lit'
import type { ConnectionInfo } from '../../core/connections'
import { api, shared, short } from './shared'

/** This tab's live connections: relayed or direct WebRTC, and the round trip of the last ping. */
export class OrreryConnections extends LitElement {
  static override properties = { list: { state: true } }
  declare list: ConnectionInfo[]
  private timer: ReturnType<typeof setInterval> | undefined

  constructor() {
    super()
    this.list = []
  }

  override connectedCallback(): void {
    super.connectedCallback()
    const refresh = (): void => {
      api()
        .connections()
        .then((l) => (this.list = l))
        .catch(() => undefined)
    }
    refresh()
    this.timer = setInterval(refresh, 1000)
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    clearInterval(this.timer)
  }

  static override styles = [
    shared,
    css`
      table {
        border-collapse: collapse;
        width: 100%;
      }
      td,
      th {
        text-align: left;
        padding: 3px 6px;
        border-bottom: 1px solid #eef1f7;
      }
    `,
  ]

  override render(): unknown {
    return html`<section>
      <h2>Connections</h2>
      ${
        this.list.length === 0
          ? html`<p class="muted">none yet</p>`
          : html`<table data-testid="connections">
              <tr>
                <th>peer</th>
                <th>how</th>
                <th>ping</th>
                <th>person</th>
              </tr>
              ${this.list.map(
                (c) =>
                  html`<tr>
                    <td><code title=${c.peer}>${short(c.peer)}</code></td>
                    <td>
                      ${c.direct ? `direct ${c.transport}` : 'relayed'}${c.syncing ? ' · syncing' : ''}
                    </td>
                    <td>${c.rttMs === undefined ? '…' : `${c.rttMs.toFixed(0)} ms`}</td>
                    <td>
                      <code title=${c.identity ?? ''}
                        >${c.identity === undefined ? (c.transport === 'websockets' ? 'relay' : '') : short(c.identity)}</code
                      >
                    </td>
                  </tr>`,
              )}
            </table>`
      }
    </section>`
  }
}
defineElement('orrery-connections', OrreryConnections)
import.meta.hot?.accept()
