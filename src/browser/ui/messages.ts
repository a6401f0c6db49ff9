import { LitElement, html } from 'lit'
import type { InboxEntry, OutboxEntry } from '../../core/outbox/store'
import { defineElement } from './define'
import { appLinkHash, docLinkHash, type LinkKeys } from '../links'
import { api, shared, short } from './shared'

interface Shown {
  text: string
  doc?: string
  app?: string
  space?: string
}

/** A message's document link: the keys this tab holds for it (a member's), else its space. */
function linkKeys(s: Shown): LinkKeys {
  return {
    ...(s.space === undefined ? {} : { space: s.space }),
    ...api().docs.linkKeys(s.doc ?? ''),
  }
}

function shown(payload: unknown): Shown {
  try {
    const p = (typeof payload === 'string' ? JSON.parse(payload) : payload) as Partial<
      Record<string, unknown>
    >
    return {
      text: typeof p.text === 'string' ? p.text : JSON.stringify(payload).slice(0, 200),
      ...(typeof p.doc === 'string' ? { doc: p.doc } : {}),
      ...(typeof p.app === 'string' ? { app: p.app } : {}),
      ...(typeof p.space === 'string' ? { space: p.space } : {}),
    }
  } catch {
    return { text: String(payload).slice(0, 200) }
  }
}

/** Notifications received, and messages sent: queued until the person is reachable, then delivered. */
export class OrreryMessages extends LitElement {
  static override properties = { outbox: { state: true }, inbox: { state: true } }
  declare outbox: OutboxEntry[]
  declare inbox: InboxEntry[]
  private off: (() => void) | undefined

  constructor() {
    super()
    this.outbox = []
    this.inbox = []
  }

  override connectedCallback(): void {
    super.connectedCallback()
    const refresh = (): void => {
      Promise.all([api().outbox.list(), api().outbox.inbox()]).then(
        ([o, i]) => {
          this.outbox = o.slice(-20).reverse()
          this.inbox = i.slice(-20).reverse()
        },
        () => undefined,
      )
    }
    this.off = api().events.on('messages', refresh)
    void api().ready.then(refresh, () => undefined)
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.off?.()
  }

  static override styles = [shared]

  override render(): unknown {
    if (this.inbox.length === 0 && this.outbox.length === 0) return html``
    const link = (s: Shown): unknown =>
      s.doc === undefined
        ? ''
        : html` <a
            href=${s.app ? appLinkHash(s.app, s.doc, linkKeys(s)) : docLinkHash(s.doc, linkKeys(s))}
            >open</a
          >`
    return html`<section>
      <h2>Messages</h2>
      <ul data-testid="inbox">
        ${this.inbox.map((m) => {
          const s = shown(m.payload)
          return html`<li>${s.text}${link(s)} <span class="muted">from ${short(m.from)}</span></li>`
        })}
      </ul>
      <ul data-testid="outbox">
        ${this.outbox.map((m) => {
          const s = shown(m.payload)
          return html`<li>
            to <code>${short(m.to)}</code>: ${s.text.slice(0, 60)}
            <span class="muted" data-testid="outbox-status"
              >${
                m.status === 'delivered'
                  ? 'delivered'
                  : m.status === 'refused'
                    ? `not delivered: ${m.lastError ?? 'refused'}`
                    : `queued (${m.attempts} tries)`
              }</span
            >
          </li>`
        })}
      </ul>
    </section>`
  }
}
defineElement('orrery-messages', OrreryMessages)
