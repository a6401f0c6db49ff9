import { FrameElement } from './frame-element'
import { defineElement } from './define'
import { html, css } from 'lit'
import type { ConnectionInfo } from '../../core/connections'
import { api, shared, short } from './shared'

/** This tab's live connections: relayed or direct WebRTC, and the round trip of the last ping. */
export class OrreryConnections extends FrameElement {
  static override properties = {
    list: { state: true },
    pulse: { state: true },
    beat: { state: true },
  }
  declare list: ConnectionInfo[]
  declare pulse: { answered: number; missed: number; dropped: number }
  declare beat: boolean
  private timer: ReturnType<typeof setInterval> | undefined

  constructor() {
    super()
    this.list = []
    this.pulse = { answered: 0, missed: 0, dropped: 0 }
    this.beat = false
  }

  override connectedCallback(): void {
    super.connectedCallback()
    const refresh = (): void => {
      api()
        .connections()
        .then((l) => {
          this.list = l
          const p = api().pulse()
          // the dot flashes whenever pings were answered since the last look
          this.beat = p.answered > this.pulse.answered
          this.pulse = p
        })
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
      .beat {
        display: inline-block;
        width: 10px;
        height: 10px;
        border-radius: 50%;
        background: #c8cedb;
        transition: background 0.3s;
      }
      .beat.on {
        background: #2fb36b;
      }
      .small {
        font-size: 12px;
        font-weight: normal;
      }
      td.late {
        color: #b3261e;
      }
      td.other {
        color: #8a5a00;
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
    const p = this.pulse
    return html`<section>
      <h2>
        Connections
        <span
          class="beat ${this.beat ? 'on' : ''}"
          title="the mesh's pulse"
          data-testid="pulse"
        ></span>
        <span class="muted small"
          >${p.answered} pings answered · ${p.missed} missed · ${p.dropped} dropped</span
        >
      </h2>
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
              ${this.list.map((c) => this.row(c))}
            </table>`
      }
    </section>`
  }

  private row(c: ConnectionInfo): unknown {
    return html`<tr>
        <td><code title=${c.peer}>${short(c.peer)}</code></td>
        <td>${c.direct ? `direct ${c.transport}` : 'relayed'}${c.syncing ? ' · syncing' : ''}</td>
        <td class=${c.pulse === 'late' ? 'late' : ''} data-testid="ping">
          ${c.pulse === 'late' ? 'not answering' : c.rttMs === undefined ? '…' : `${c.rttMs.toFixed(0)} ms`}
        </td>
        <td>
          <code title=${c.identity ?? ''}
            >${c.identity === undefined ? (c.transport === 'websockets' ? 'relay' : '') : short(c.identity)}</code
          >
        </td>
      </tr>
      ${
        c.version === 'other'
          ? html`<tr>
              <td
                colspan="4"
                class="other"
                data-testid="other-version"
                title=${(c.offers ?? []).join(' ')}
              >
                this peer runs another version of Orrery
              </td>
            </tr>`
          : ''
      }`
  }
}
defineElement('orrery-connections', OrreryConnections)
