/**
 * What a mounted app gets from the shell: the `orrery` property set on its root element before
 * it is attached. Scoped to the app: it reaches only documents that belong to this app (ones it
 * created, or was opened with through a share link) and only the public parts of the user's
 * identity. See docs/ARCHITECTURE.md for how far this isolation holds in a shared origin.
 */
export interface AppStateApi {
  get(path: string): Promise<unknown>
  set(path: string, value: unknown): Promise<void>
  delete(path: string): Promise<void>
  /** cb(value) once with the current value, then after every change at, below or above `path` */
  subscribe(path: string, cb: (value: unknown) => void): () => void
}

export interface AppApi {
  app: { name: string; cid: string }
  /** the person using the app: public parts only */
  identity: { id: string }
  docs: {
    /** a new document owned by this app */
    create(): Promise<string>
    /** documents of this app known in this browser, newest first */
    list(): Promise<string[]>
  }
  /** paths are `/<docId>/...` as in the shell's state API; other apps' documents are refused */
  state: AppStateApi
  /** the document named in the link the app was opened with, if any (it belongs to the app) */
  startDoc: string | undefined
  /** a share link that opens this app on `docId` */
  link(docId: string): string
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
