/**
 * `window.orrery.apps`: installing apps (fetched from peers, verified, pinned), mounting one
 * (importing it through the service worker and giving its root element the scoped API), following
 * publishers' new versions, and, in development, mounting an app from its sources.
 */
import type { AppApi, AppElement } from '../../core/apps/api'
import type { AppManifest, StoreUsage } from '../../core/blocks/types'
import { OrreryError } from '../../core/errors'
import { reloadBecause } from '../dev'
import { takeReloadReasons } from '../element-registry'
import type { Follow, Refusal } from '../apps/follows'
import type { InstallProgress } from '../apps/installer'
import { scopedApi, type ScopeHost } from '../apps/scoped-api'
import type { FacadeCore } from './types'

/** Rejects with `error` after `ms`. */
const timeout = (ms: number, error: () => OrreryError): Promise<never> =>
  new Promise((_, reject) => setTimeout(() => reject(error()), ms))

export function appsApi(core: FacadeCore, host: ScopeHost) {
  /** The API an app gets (its own documents, spaces, actions; see scoped-api.ts). */
  const scope = async (
    cid: string,
    app: Pick<AppManifest, 'name' | 'publisher'>,
    startDoc?: string,
  ): Promise<AppApi> => {
    const b = await core.up()
    return scopedApi({
      cid,
      app,
      orrery: host,
      appDocs: b.appDocs,
      identityId: b.peer.identity.id,
      startDoc,
    })
  }

  return {
    /**
     * Fetches (from peers and the seeding relay), verifies and pins an app; returns its manifest.
     * While nobody reachable has it, progress says `phase: 'waiting'` and it keeps trying (until
     * `timeoutMs`, if given, or the signal).
     */
    install: async (
      cid: string,
      onProgress?: (p: InstallProgress) => void,
      opts: { signal?: AbortSignal; timeoutMs?: number } = {},
    ): Promise<AppManifest> =>
      (await core.up()).installer.install(cid, { ...opts, ...(onProgress ? { onProgress } : {}) }),
    /** Imports an installed app (served by the service worker) and returns its root element. */
    mount: async (cid: string, manifest: AppManifest, startDoc?: string): Promise<HTMLElement> => {
      const b = await core.up()
      b.sw.registerNow()
      await Promise.race([
        b.sw.controlled,
        timeout(15_000, () => new OrreryError('NOT_READY', 'the service worker is not active')),
      ])
      await import(/* @vite-ignore */ `/app/${cid}/${manifest.entry}`)
      // another version of this app ran in this page and cannot be patched to this one in place
      const reasons = takeReloadReasons()
      if (reasons.length > 0) reloadBecause(`${manifest.name}: ${reasons.join('; ')}`)
      await Promise.race([
        customElements.whenDefined(manifest.element),
        timeout(
          10_000,
          () =>
            new OrreryError(
              'BAD_MANIFEST',
              `${manifest.entry} did not define <${manifest.element}>`,
            ),
        ),
      ])
      const el = document.createElement(manifest.element) as AppElement
      el.orrery = await scope(cid, manifest, startDoc)
      return el
    },
    scope,
    /** Installed apps (pinned here) and the apps the relay offers. */
    list: async (): Promise<{
      installed: { name: string; cid: string; pinnedAt: number }[]
      offered: { name: string; version: string; cid: string }[]
    }> => {
      const b = await core.up()
      const installed = (await b.blocks.pins()).map((p) => ({
        name: p.name,
        cid: p.root,
        pinnedAt: p.pinnedAt,
      }))
      let offered: { name: string; version: string; cid: string }[] = []
      try {
        const res = await fetch('/orrery/apps.json', { cache: 'no-cache' })
        if (res.ok) offered = ((await res.json()) as { apps?: typeof offered }).apps ?? []
      } catch {
        // offline: only what is installed
      }
      return { installed, offered }
    },
    uninstall: async (cid: string): Promise<{ removed: number; freedBytes: number }> => {
      const b = await core.up()
      await b.blocks.unpin(cid)
      return b.blocks.gc()
    },
    usage: async (): Promise<StoreUsage> => (await core.up()).blocks.usage(),
    /**
     * Follows an app by its publisher's key and name: each new version signed by that key is
     * installed as it is announced and swapped into the open app (unless a version is pinned).
     */
    follow: async (publisher: string, name: string): Promise<void> =>
      (await core.up()).follows.follow(publisher, name),
    unfollow: async (publisher: string, name: string): Promise<void> =>
      (await core.up()).follows.unfollow(publisher, name),
    /** Keeps `cid` mounted for this followed app; `undefined` follows the newest again. */
    pin: async (publisher: string, name: string, cid: string | undefined): Promise<void> =>
      (await core.up()).follows.pin(publisher, name, cid),
    follows: async (): Promise<Follow[]> => (await core.up()).follows.list(),
    /** Versions refused lately (wrong key, bad signature), newest last. */
    refused: async (): Promise<Refusal[]> => [...(await core.up()).follows.refusals],
    /**
     * Development only: mounts an app from its sources under apps/ (served by Vite, so edits
     * replace its elements in place). Its documents are those of the published app with the same
     * name and the developer's publisher key.
     */
    mountSource: async (name: string, startDoc?: string): Promise<HTMLElement> => {
      const res = await fetch('/orrery/dev.json', { cache: 'no-store' })
      if (!res.ok) throw new OrreryError('NOT_READY', 'apps from source need `npm run dev`')
      const dev = (await res.json()) as {
        apps: { name: string; element: string; entry: string }[]
        publishing?: { publisher: string; versions: { name: string; cid: string }[] }
      }
      const app = dev.apps.find((a) => a.name === name)
      if (app === undefined) throw new OrreryError('INVALID_VALUE', `no app ${name} under apps/`)
      await import(/* @vite-ignore */ app.entry)
      await customElements.whenDefined(app.element)
      const latest = dev.publishing?.versions.filter((v) => v.name === name).at(-1)
      const el = document.createElement(app.element) as AppElement
      el.orrery = await scope(
        latest?.cid ?? `dev-${name}`,
        { name, publisher: dev.publishing?.publisher ?? 'development' },
        startDoc,
      )
      return el
    },
  }
}
