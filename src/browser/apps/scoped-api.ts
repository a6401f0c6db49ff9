/**
 * The API a mounted app gets: the shell's state API restricted to the app's own documents, its
 * spaces (invites, roles) and guarded actions, and the public part of the user's identity. A
 * document belongs to an app when the app created it or was opened on it by a (share or invite)
 * link.
 */
import type { ActionSpec, AppApi, AppStateApi, SpaceRole } from '../../core/apps/api'
import { appKey } from '../../core/apps/topic'
import type { AppManifest } from '../../core/blocks/types'
import { OrreryError } from '../../core/errors'
import { parsePath } from '../../core/paths'
import type { DocSyncState } from '../../core/repo/doc-state'
import type { TextSession } from '../../core/repo/doc-text'
import { roleAtLeast } from '../../core/spaces/model'
import type { Unsubscribe } from '../../core/state'
import type { JsonValue } from '../../core/values'
import { appLinkHash, type LinkKeys } from '../links'
import type { AppDocs } from './app-docs'
import type { OrreryTextEditor } from '../ui/text-editor'

/** What a scoped API uses of the shell's API (`window.orrery`, which satisfies it). */
export interface ScopeHost {
  readonly state: AppStateApi
  readonly docs: {
    text(id: string, path: readonly string[]): Promise<TextSession>
    state(id: string): Promise<DocSyncState>
    onState(id: string, cb: (state: DocSyncState) => void): Unsubscribe
    linkKeys(id: string): LinkKeys
  }
  readonly spaces: {
    create(name: string): Promise<string>
    createDoc(spaceId: string): Promise<string>
    of(docId: string): Promise<string | undefined>
    ofLoaded(docId: string): string | undefined
    role(docId: string): SpaceRole | undefined
    invite(
      spaceId: string,
      role: SpaceRole,
      opts?: { expiresInMs?: number; maxUses?: number; open?: { app?: string; doc?: string } },
    ): Promise<string>
  }
  readonly outbox: {
    send(to: string, kind: string, payload: JsonValue): Promise<unknown>
  }
}

export interface ScopeOptions {
  cid: string
  /** which app: its documents are keyed by publisher and name, the same across versions */
  app: Pick<AppManifest, 'name' | 'publisher'>
  orrery: ScopeHost
  appDocs: AppDocs
  identityId: string
  startDoc: string | undefined
}

export async function scopedApi(o: ScopeOptions): Promise<AppApi> {
  const key = appKey(o.app)
  const owned = new Set(await o.appDocs.list(key))
  if (o.startDoc !== undefined && !owned.has(o.startDoc)) {
    await o.appDocs.add(key, o.startDoc) // the link grants the app this document
    owned.add(o.startDoc)
  }
  const own = (docId: string): void => {
    if (!owned.has(docId)) {
      throw new OrreryError(
        'FORBIDDEN',
        `${o.app.name} may not use document ${docId} (it belongs to another app or none)`,
      )
    }
  }
  const check = (path: string): void => own(parsePath(path).docId)
  /** a text's document and keys, the document the app's own */
  const textAt = (path: string): { docId: string; keys: string[] } => {
    const { docId, keys } = parsePath(path)
    own(docId)
    if (keys.length === 0) throw new OrreryError('INVALID_PATH', 'a text lives under a key')
    return { docId, keys }
  }
  const actions = new Map<string, ActionSpec>()
  const role = (docId: string): SpaceRole | undefined => o.orrery.spaces.role(docId)

  const state: AppApi['state'] = {
    get: async (path) => {
      check(path)
      return o.orrery.state.get(path)
    },
    set: async (path, value) => {
      check(path)
      return o.orrery.state.set(path, value)
    },
    delete: async (path) => {
      check(path)
      return o.orrery.state.delete(path)
    },
    subscribe: (path, cb, opts) => {
      check(path)
      return o.orrery.state.subscribe(path, cb, { deferred: opts?.deferred === true })
    },
  }

  return {
    app: { name: o.app.name, cid: o.cid },
    identity: { id: o.identityId },
    startDoc: o.startDoc,
    docs: {
      create: async () => {
        const space = await o.orrery.spaces.create(o.app.name)
        const id = await o.orrery.spaces.createDoc(space)
        await o.appDocs.add(key, id)
        owned.add(id)
        return id
      },
      list: async () => o.appDocs.list(key),
    },
    state,
    // the keys go into the link (its fragment), and the space: whoever opens it finds the
    // document and checks it against the space's members
    link: (docId) =>
      `${location.origin}/${appLinkHash(o.cid, docId, o.orrery.docs.linkKeys(docId))}`,
    invite: async (docId, inviteRole, opts) => {
      own(docId)
      const space = await o.orrery.spaces.of(docId)
      if (space === undefined)
        throw new OrreryError('NOT_A_MEMBER', 'this document is not in a space')
      return o.orrery.spaces.invite(space, inviteRole, {
        ...opts,
        open: { app: o.cid, doc: docId },
      })
    },
    role,
    docState: async (docId) => {
      own(docId)
      return o.orrery.docs.state(docId)
    },
    watchDocState: (docId, cb) => {
      own(docId)
      return o.orrery.docs.onState(docId, cb)
    },
    actions: {
      define: (name, spec) => {
        if (actions.has(name))
          throw new OrreryError('INVALID_VALUE', `action ${name} is already defined`)
        actions.set(name, spec)
      },
      run: async (name, docId, args) => {
        const spec = actions.get(name)
        if (spec === undefined) throw new OrreryError('INVALID_VALUE', `no action ${name}`)
        own(docId)
        // the guard: identity, membership and role, before the action's code changes anything
        const space = await o.orrery.spaces.of(docId)
        if (space !== undefined) {
          const r = role(docId)
          if (r === undefined)
            throw new OrreryError('NOT_A_MEMBER', `${name}: you are not a member of this space`)
          if (!roleAtLeast(r, spec.role))
            throw new OrreryError(
              'NOT_ALLOWED',
              `${name} needs the ${spec.role} role; you are a ${r}`,
            )
        }
        return spec.run({ me: o.identityId, doc: docId, state }, args)
      },
    },
    notify: async (to, payload) => {
      if (payload.doc !== undefined) own(payload.doc)
      // the space rides along, so the recipient's "open" link checks the document against it
      const space = payload.doc === undefined ? undefined : o.orrery.spaces.ofLoaded(payload.doc)
      await o.orrery.outbox.send(to, `app/${o.app.name}`, {
        ...payload,
        app: o.cid,
        ...(space === undefined ? {} : { space }),
      } as never)
    },
    text: {
      editor: async (path) => {
        const { docId, keys } = textAt(path)
        await import('../ui/text-editor')
        const editor = document.createElement('orrery-text-editor') as OrreryTextEditor
        editor.path = keys
        editor.guard = own // it opens nothing the app could not open itself
        editor.docId = docId
        return editor
      },
      open: async (path) => {
        const { docId, keys } = textAt(path)
        return o.orrery.docs.text(docId, keys)
      },
    },
    navigate: (docId) => {
      own(docId)
      history.replaceState(null, '', appLinkHash(o.cid, docId, o.orrery.docs.linkKeys(docId)))
    },
  }
}
