/**
 * What a mounted app gets from the shell: the `orrery` property set on its root element before
 * it is attached. Scoped to the app: it reaches only documents that belong to this app (ones it
 * created, or was opened with through a share link) and only the public parts of the user's
 * identity. See docs/ARCHITECTURE.md for how far this isolation holds in a shared origin.
 */
import type { DocSyncState } from '../repo/doc-state'
import type { TextSession } from '../repo/doc-text'

export type { DocSyncKind, DocSyncState } from '../repo/doc-state'

export interface AppStateApi {
  get(path: string): Promise<unknown>
  set(path: string, value: unknown): Promise<void>
  delete(path: string): Promise<void>
  /**
   * cb(value) once with the current value, then after every change at, below or above `path`.
   * `{ deferred: true }`: the values come after the change went out to peers, one for several
   * changes in a row: for rendering big values, which would otherwise hold up the round trip.
   */
  subscribe(path: string, cb: (value: unknown) => void, opts?: { deferred?: boolean }): () => void
}

export type SpaceRole = 'admin' | 'writer' | 'reader'

/** What a guarded action's code gets: the checked user and the document it acts on. */
export interface ActionContext {
  /** the user's identity (did:key), a member of the document's space with at least the action's role */
  me: string
  doc: string
  state: AppStateApi
}

export interface ActionSpec {
  /** the least role the user needs in the document's space */
  role: SpaceRole
  run: (ctx: ActionContext, args: unknown) => Promise<unknown>
}

export interface AppApi {
  app: { name: string; cid: string }
  /** the person using the app: public parts only */
  identity: { id: string }
  docs: {
    /**
     * A new document owned by this app, in a new space of which the user is the admin: every
     * change to it is signed and checked by every peer against the space's members.
     */
    create(): Promise<string>
    /** documents of this app known in this browser, newest first */
    list(): Promise<string[]>
  }
  /**
   * paths are `/<docId>/...` as in the shell's state API; other apps' documents are refused. In
   * a document of a space, `/<docId>/~0<did>/...` (top-level key `~<did>`) is owned by that
   * identity: writes there by anyone else throw `OWNED_PATH` and every peer refuses them, so keep
   * what a person writes under `~<their id>` and take its author from the path
   */
  state: AppStateApi
  /** the document named in the link the app was opened with, if any (it belongs to the app) */
  startDoc: string | undefined
  /**
   * a share link that opens this app on `docId` (readable by whoever has it; writing needs an
   * invite); it names the document's space, so the reader checks its changes against the members
   */
  link(docId: string): string
  /**
   * An invite link: opens this app on `docId` for a newcomer, who signs up (display name,
   * identity) and joins the document's space with `role`. Admins invite any role, writers
   * writers and readers. The secret is in the link's fragment and never reaches a server.
   */
  invite(
    docId: string,
    role: 'writer' | 'reader',
    opts?: { expiresInMs?: number; maxUses?: number },
  ): Promise<string>
  /** the user's role in the document's space (undefined: not a member, or not yet known) */
  role(docId: string): SpaceRole | undefined
  /**
   * The document's sync state, the shell's own (opening the document): `unknown` (nothing of it
   * here, nobody reachable has it: show "waiting for someone who has this", not an empty
   * state), `loading` (from whom, how much), `offline`, `waiting` (`waiting` changes no peer has
   * confirmed), `synced` (`confirmed`: with whom, when), `local` (here, not confirmed by a peer:
   * e.g. new). `here` says whether anything of the document is in this browser.
   */
  docState(docId: string): Promise<DocSyncState>
  /** cb(state) once the document is open, then on every change; returns the unsubscribe */
  watchDocState(docId: string, cb: (state: DocSyncState) => void): () => void
  /**
   * Named actions (e.g. "posts/create"): `run` checks the guard (the identity is loaded, the
   * document is the app's, the user is a member of its space with at least `role`) before the
   * action's code makes any change, and refuses with NOT_A_MEMBER or NOT_ALLOWED otherwise.
   */
  actions: {
    define(name: string, spec: ActionSpec): void
    run(name: string, docId: string, args?: unknown): Promise<unknown>
  }
  /**
   * Rich text (bold, italic, links, headings, lists, code) at a path of one of the app's
   * documents, `/<docId>/<key>`, edited by everyone at once; every edit is a signed write checked
   * like any other, and presence (who is here, their carets) comes with the editor.
   */
  text: {
    /**
     * The shell's editor on that text, ready to put into the app's page: toolbar, who is here,
     * read-only for whoever may not write. Remove it from the page to close it.
     */
    editor(path: string): Promise<HTMLElement>
    /**
     * The text itself, for an app that brings its own editor: `spans()`, `edit(fn)`, `onChange`,
     * `writable()`, `close()` (src/core/repo/doc-text.ts)
     */
    open(path: string): Promise<TextSession>
  }
  /** ask the shell to show this document in the address bar (so reloads and links keep it) */
  navigate(docId: string): void
  /**
   * Sends a notification to a person (by identity). It waits in the persistent outbox while
   * they are unreachable and is delivered once they are online; the shell shows it to them with a
   * link back to this app on `payload.doc` when given.
   */
  notify(to: string, payload: { text: string; doc?: string; [key: string]: unknown }): Promise<void>
}

/** The element class an app's entry module defines must accept the API this way. */
export interface AppElement extends HTMLElement {
  orrery: AppApi
}
