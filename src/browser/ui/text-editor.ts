/**
 * A document's rich text in a ProseMirror editor (issue 20): a toolbar, the usual keys (Mod-B,
 * Mod-I, Mod-`, Mod-Z, Enter and Tab in lists), bound to the document by TextBinding. Every edit
 * is a signed change like any other write; a reader gets the text read-only.
 */
import { LitElement, html, css, type PropertyValues } from 'lit'
import { baseKeymap, setBlockType, toggleMark, wrapIn } from 'prosemirror-commands'
import { history, redo, undo } from 'prosemirror-history'
import { keymap } from 'prosemirror-keymap'
import type { MarkType, NodeType, Schema } from 'prosemirror-model'
import { liftListItem, sinkListItem, splitListItem, wrapInList } from 'prosemirror-schema-list'
import { EditorState, type Command } from 'prosemirror-state'
import { EditorView } from 'prosemirror-view'
import { TextBinding, textSyncKey } from '../../core/text/pm-binding'
import type { PersonHere } from '../../core/presence/people'
import type { PresenceSelection } from '../../core/presence/presence-state'
import type { PresenceHandle } from '../facade/presence'
import { defineElement } from './define'
import { caretsPlugin, showCarets, type Caret } from './presence-carets'
import { editingBlocksPlugin } from './editing-blocks'
import { api, shared } from './shared'

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export class OrreryTextEditor extends LitElement {
  static override properties = {
    docId: { type: String, attribute: 'doc-id' },
    error: { state: true },
    writable: { state: true },
    ready: { state: true },
    people: { state: true },
    mayWrite: { attribute: false },
  }
  declare docId: string
  declare error: string
  declare writable: boolean
  declare ready: boolean
  /** the other people with the document open */
  declare people: PersonHere[]
  /**
   * what the page last learnt of this tab's right to write (the shell asks again every few
   * seconds: a role changes while the page is open); the editor and toolbar follow it
   */
  declare mayWrite: boolean | undefined
  /** the keys of the text in the document */
  path: string[] = ['text']
  /** throws for a document this editor may not open (an app's editor: only the app's own) */
  guard: ((docId: string) => void) | undefined
  private view: EditorView | undefined
  private binding: TextBinding | undefined
  private presence: PresenceHandle | undefined
  private offPresence: (() => void) | undefined
  /** some peer's caret names a character this replica does not have yet */
  private unresolved = false
  private caretsQueued = false
  private mounting = 0

  constructor() {
    super()
    this.docId = ''
    this.error = ''
    this.writable = false
    this.ready = false
    this.people = []
  }

  override updated(changed: PropertyValues): void {
    if (changed.has('docId')) void this.mount()
    else if (changed.has('mayWrite')) this.recheckWritable()
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback()
    this.unmount()
  }

  private unmount(): void {
    this.offPresence?.()
    this.presence?.leave()
    this.view?.destroy()
    this.binding?.close()
    this.view = undefined
    this.binding = undefined
    this.presence = undefined
    this.offPresence = undefined
    this.people = []
    this.ready = false
  }

  private async mount(): Promise<void> {
    this.unmount()
    const mine = ++this.mounting
    if (this.docId === '') return
    let session
    let presence
    try {
      this.guard?.(this.docId)
      ;[session, presence] = await Promise.all([
        api().docs.text(this.docId, this.path),
        api().docs.presence(this.docId),
      ])
    } catch (e) {
      this.error = message(e)
      return
    }
    if (mine !== this.mounting || !this.isConnected) {
      session.close()
      return
    }
    const binding = new TextBinding(session)
    binding.onRefused = (e) => (this.error = message(e))
    const place = this.renderRoot.querySelector('.pm') as HTMLElement
    const schema = binding.schema
    const view = new EditorView(place, {
      state: EditorState.create({
        schema,
        doc: binding.doc(),
        plugins: [
          binding.plugin,
          caretsPlugin(),
          editingBlocksPlugin(),
          history(),
          keymap(keys(schema)),
          keymap(baseKeymap),
        ],
      }),
      editable: () => session.writable(),
      attributes: { 'data-testid': 'text-editor', 'aria-label': 'document text', role: 'textbox' },
      dispatchTransaction: (tr) => {
        view.updateState(view.state.apply(tr))
        if (tr.docChanged && tr.getMeta(textSyncKey) === undefined) this.error = ''
        // where this tab is changed (a peer's change moves nothing: cursors name characters)
        if ((tr.selectionSet || tr.docChanged) && tr.getMeta(textSyncKey) !== 'elsewhere')
          this.sayHere()
        // a peer's change may bring the character someone's caret names
        if (tr.getMeta(textSyncKey) === 'elsewhere' && this.unresolved) this.queueCarets()
      },
      handleDOMEvents: {
        focus: () => (this.sayHere(), false),
        blur: () => (this.sayHere(), false),
      },
    })
    binding.attach(view)
    this.view = view
    this.binding = binding
    this.presence = presence
    this.offPresence = presence.onChange((people) => {
      this.people = people
      this.queueCarets()
    })
    this.people = presence.people()
    this.sayHere()
    this.queueCarets()
    this.writable = session.writable()
    this.ready = true
  }

  /**
   * The text as the editor holds it, marks included (ProseMirror's notation: `paragraph(strong(
   * "a"), "b")`), without anyone's caret: what tests compare across peers.
   */
  get content(): string {
    return this.view?.state.doc.toString() ?? ''
  }

  /** Asks the session again whether this tab may write: the toolbar and the editor follow. */
  private recheckWritable(): void {
    const session = this.binding?.session
    if (session === undefined) return
    const writable = session.writable()
    if (writable === this.writable) return
    this.writable = writable
    this.view?.setProps({}) // ProseMirror asks `editable` again
  }

  /** Tells the others this tab is here, with its selection while the editor has the focus. */
  private sayHere(): void {
    const view = this.view
    const binding = this.binding
    if (view === undefined || binding === undefined) return
    const selection = (): PresenceSelection | undefined => {
      const cursors = this.view === view ? binding.selectionCursors(view.state) : undefined
      return cursors === undefined ? undefined : { path: this.path, ...cursors }
    }
    this.presence?.here(view.hasFocus() ? selection : undefined)
  }

  /** Shows the others' carets in the next frame (one computation for a burst of changes). */
  private queueCarets(): void {
    if (this.caretsQueued) return
    this.caretsQueued = true
    requestAnimationFrame(() => {
      this.caretsQueued = false
      this.showCarets()
    })
  }

  private showCarets(): void {
    const view = this.view
    const binding = this.binding
    if (view === undefined || binding === undefined) return
    const path = this.path.join('\u0000')
    const carets: Caret[] = []
    this.unresolved = false
    for (const p of this.people) {
      for (const { session, selection } of p.selections) {
        if (selection.path.join('\u0000') !== path) continue
        const at = binding.positions(selection, view.state.doc)
        if (at === undefined) {
          this.unresolved = true
          continue
        }
        carets.push({ session, name: p.name, color: p.color, ...at })
      }
    }
    view.dispatch(showCarets(view.state, carets))
  }

  private setName(e: Event): void {
    api().docs.setDisplayName((e.target as HTMLInputElement).value)
    this.sayHere()
  }

  /** Runs a command on the editor (a toolbar button), keeping the focus in the text. */
  private run(cmd: Command): void {
    const view = this.view
    if (view === undefined) return
    cmd(view.state, view.dispatch, view)
    view.focus()
  }

  private link(type: MarkType): void {
    const href = prompt('Link to (https://…)')
    if (href === null || href.trim() === '') return
    this.run(toggleMark(type, { href: href.trim(), title: '' }))
  }

  static override styles = [
    shared,
    css`
      .bar {
        display: flex;
        flex-wrap: wrap;
        gap: 4px;
        margin-bottom: 6px;
      }
      .bar button {
        min-width: 36px;
        min-height: 36px;
      }
      .ProseMirror {
        position: relative;
        word-wrap: break-word;
        white-space: pre-wrap;
        white-space: break-spaces;
        font-variant-ligatures: none;
        outline: none;
        min-height: 12em;
        padding: 8px 12px;
        border: 1px solid #ccc;
        border-radius: 6px;
        line-height: 1.5;
      }
      /* a long page lays out and paints only the blocks on screen: in a 50-page page, layout,
         paint and commit of every block took ~14 ms of each keystroke (bench/text.ts --trace);
         a block off screen keeps the size it last had */
      .ProseMirror > * {
        content-visibility: auto;
        contain-intrinsic-size: auto 1.5em;
      }
      /* the blocks the selection is in (editing-blocks.ts) */
      .ProseMirror > .editing {
        content-visibility: visible;
      }
      .ProseMirror:focus {
        border-color: #58f;
      }
      .ProseMirror[contenteditable='false'] {
        background: #fafafa;
      }
      .ProseMirror pre {
        white-space: pre-wrap;
        background: #f4f4f4;
        padding: 6px;
      }
      .ProseMirror li {
        position: relative;
      }
      .ProseMirror-hideselection *::selection {
        background: transparent;
      }
      .here {
        display: flex;
        flex-wrap: wrap;
        align-items: center;
        gap: 6px 12px;
        margin-bottom: 6px;
        font-size: 0.9em;
      }
      .person {
        display: inline-flex;
        align-items: center;
        gap: 4px;
      }
      .dot {
        width: 10px;
        height: 10px;
        border-radius: 50%;
      }
      .me {
        margin-left: auto;
      }
      .me input {
        width: 10em;
      }
      .pm {
        position: relative;
      }
      .remote-carets {
        position: absolute;
        inset: 0;
        pointer-events: none;
      }
      .remote-caret {
        position: absolute;
        border-left: 2px solid;
      }
      .remote-name {
        position: absolute;
        transform: translateY(-100%);
        font-size: 11px;
        line-height: 1.2;
        color: white;
        padding: 0 3px;
        border-radius: 3px;
        white-space: nowrap;
      }
      .ProseMirror-selectednode {
        outline: 2px solid #8cf;
      }
      .ProseMirror blockquote {
        border-left: 3px solid #ccc;
        margin-left: 0;
        padding-left: 12px;
        color: #555;
      }
    `,
  ]

  private toolbar(schema: Schema): unknown {
    const { marks, nodes } = schema
    const mark = (label: string, title: string, type: MarkType) =>
      html`<button title=${title} aria-label=${title} @click=${() => this.run(toggleMark(type))}>
        ${label}
      </button>`
    const block = (label: string, title: string, cmd: Command) =>
      html`<button title=${title} aria-label=${title} @click=${() => this.run(cmd)}>
        ${label}
      </button>`
    return html`<div class="bar" role="toolbar" aria-label="formatting">
      ${mark('B', 'bold (Ctrl+B)', marks['strong'] as MarkType)}
      ${mark('I', 'italic (Ctrl+I)', marks['em'] as MarkType)}
      ${mark('</>', 'code (Ctrl+`)', marks['code'] as MarkType)}
      <button title="link" aria-label="link" @click=${() => this.link(marks['link'] as MarkType)}>
        🔗
      </button>
      ${block('H1', 'heading 1', setBlockType(nodes['heading'] as NodeType, { level: 1 }))}
      ${block('H2', 'heading 2', setBlockType(nodes['heading'] as NodeType, { level: 2 }))}
      ${block('¶', 'paragraph', setBlockType(nodes['paragraph'] as NodeType))}
      ${block('•', 'bullet list', wrapInList(nodes['bullet_list'] as NodeType))}
      ${block('1.', 'numbered list', wrapInList(nodes['ordered_list'] as NodeType))}
      ${block('❝', 'quote', wrapIn(nodes['blockquote'] as NodeType))}
    </div>`
  }

  /** Who else is here, and the name this person goes by. */
  private here(): unknown {
    const how = { member: 'named by the space', self: 'the name they chose', key: 'no name given' }
    return html`<div class="here" data-testid="presence" aria-live="polite">
      ${
        this.people.length === 0
          ? html`<span class="muted">Nobody else is here.</span>`
          : html`<span class="muted">Here:</span> ${this.people.map(
                (p) =>
                  html`<span
                    class="person"
                    data-testid="person"
                    title=${`${how[p.named]} · ${p.identity}`}
                    ><span class="dot" style=${`background:${p.color}`}></span>${p.name}${
                      p.tabs > 1 ? html` <span class="muted">(${p.tabs} tabs)</span>` : ''
                    }</span
                  >`,
              )}`
      }
      <label class="me"
        >You appear as
        <input
          data-testid="my-name"
          placeholder="your name"
          maxlength="100"
          .value=${api().docs.displayName()}
          @change=${(e: Event) => this.setName(e)}
      /></label>
    </div>`
  }

  override render(): unknown {
    const schema = this.binding?.schema
    return html`
      ${this.ready ? this.here() : ''}
      ${schema !== undefined && this.writable ? this.toolbar(schema) : ''}
      ${this.ready ? '' : html`<p class="muted">opening the text…</p>`}
      <div class="pm"></div>
      ${this.error === '' ? '' : html`<p class="error" data-testid="text-error">${this.error}</p>`}
    `
  }
}

/** The editor's keys: marks, history, and Enter/Tab inside lists. */
function keys(schema: Schema): Record<string, Command> {
  const item = schema.nodes['list_item'] as NodeType
  return {
    'Mod-b': toggleMark(schema.marks['strong'] as MarkType),
    'Mod-i': toggleMark(schema.marks['em'] as MarkType),
    'Mod-`': toggleMark(schema.marks['code'] as MarkType),
    'Mod-z': undo,
    'Mod-y': redo,
    'Shift-Mod-z': redo,
    Enter: splitListItem(item),
    Tab: sinkListItem(item),
    'Shift-Tab': liftListItem(item),
  }
}

defineElement('orrery-text-editor', OrreryTextEditor)
