/**
 * The API a mounted app gets: the shell's state API restricted to the app's own documents, and
 * the public part of the user's identity. A document belongs to an app when the app created it or
 * was opened on it by a share link.
 */
import type { AppApi } from '../../core/apps/api'
import { appKey } from '../../core/apps/topic'
import type { AppManifest } from '../../core/blocks/types'
import { OrreryError } from '../../core/errors'
import { parsePath } from '../../core/paths'
import type { OrreryApi } from '../orrery'
import type { AppDocs } from './app-docs'

export interface ScopeOptions {
  cid: string
  manifest: AppManifest
  orrery: OrreryApi
  appDocs: AppDocs
  identityId: string
  startDoc: string | undefined
}

export async function scopedApi(o: ScopeOptions): Promise<AppApi> {
  const key = appKey(o.manifest)
  const owned = new Set(await o.appDocs.list(key))
  if (o.startDoc !== undefined && !owned.has(o.startDoc)) {
    await o.appDocs.add(key, o.startDoc) // the share link grants the app this document
    owned.add(o.startDoc)
  }
  const check = (path: string): void => {
    const { docId } = parsePath(path)
    if (!owned.has(docId)) {
      throw new OrreryError(
        'FORBIDDEN',
        `${o.manifest.name} may not use document ${docId} (it belongs to another app or none)`,
      )
    }
  }
  const link = (docId: string): string => `${location.origin}/#/app/${o.cid}/doc/${docId}`
  return {
    app: { name: o.manifest.name, cid: o.cid },
    identity: { id: o.identityId },
    startDoc: o.startDoc,
    docs: {
      create: async () => {
        const id = await o.orrery.docs.create()
        await o.appDocs.add(key, id)
        owned.add(id)
        return id
      },
      list: async () => o.appDocs.list(key),
    },
    state: {
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
      subscribe: (path, cb) => {
        check(path)
        return o.orrery.state.subscribe(path, cb)
      },
    },
    link,
    notify: async (to, payload) => {
      if (payload.doc !== undefined && !owned.has(payload.doc)) {
        throw new OrreryError(
          'FORBIDDEN',
          `${o.manifest.name} may not point to document ${payload.doc}`,
        )
      }
      await o.orrery.outbox.send(to, `app/${o.manifest.name}`, { ...payload, app: o.cid } as never)
    },
    navigate: (docId) => {
      if (!owned.has(docId))
        throw new OrreryError('FORBIDDEN', `${o.manifest.name} may not open document ${docId}`)
      history.replaceState(null, '', `#/app/${o.cid}/doc/${docId}`)
    },
  }
}
