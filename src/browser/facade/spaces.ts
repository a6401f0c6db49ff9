/**
 * `window.orrery.spaces`: spaces (members, roles, invites, signed writes) as plain summaries.
 * Creating spaces and their documents works on the local store; invites and joining need the
 * network.
 */
import type { Equivocation } from '../../core/repo/equivocation'
import { roleOf, type Role, type SpaceState } from '../../core/spaces/model'
import type { FacadeCore, SpaceSummary } from './types'

export function summarize(s: SpaceState): SpaceSummary {
  return {
    id: s.id,
    name: s.name,
    members: [...s.members]
      .filter(([id]) => !s.removed.has(id))
      .map(([id, m]) => ({ id, role: m.role, ...(m.name !== undefined ? { name: m.name } : {}) })),
    removed: [...s.removed.keys()],
    docs: [...s.docs.keys()],
  }
}

export function spacesApi(core: FacadeCore) {
  return {
    /** a new space with this user as its admin */
    create: async (name: string): Promise<string> => (await core.local()).spaces.create(name),
    /** a new document in a space (writers and admins); its changes are signed and checked */
    createDoc: async (spaceId: string): Promise<string> =>
      (await core.local()).spaces.createDoc(spaceId),
    list: async (): Promise<SpaceSummary[]> => (await core.local()).spaces.list().map(summarize),
    get: async (spaceId: string): Promise<SpaceSummary> =>
      summarize((await core.local()).spaces.state(spaceId)),
    /** the space a document belongs to, if any */
    of: async (docId: string): Promise<string | undefined> => {
      const s = (await core.local()).spaces
      await s.ready
      return s.spaceOfDoc(docId)
    },
    /** the space a document belongs to, as far as this tab knows now (no waiting) */
    ofLoaded: (docId: string): string | undefined => core.loaded()?.spaces.spaceOfDoc(docId),
    /** this user's role in the document's space (a space id works too) */
    role: (docId: string): Role | undefined => {
      const s = core.loaded()?.spaces
      const me = core.booted()?.peer.identity.id
      const space = s?.spaceOfDoc(docId)
      if (s === undefined || me === undefined || space === undefined) return undefined
      return roleOf(s.state(space), me)
    },
    /**
     * An invite link: a newcomer who opens it signs up and joins with `role`, then lands on
     * `open` (an app and/or document) if given. The secret stays in the link's fragment.
     */
    invite: async (
      spaceId: string,
      role: Role,
      opts: { expiresInMs?: number; maxUses?: number; open?: { app?: string; doc?: string } } = {},
    ): Promise<string> => {
      const invite = await (await core.up()).spaces.invite(spaceId, { role, ...opts })
      const app = opts.open?.app === undefined ? '' : `/app/${opts.open.app}`
      const doc = opts.open?.doc === undefined ? '' : `/doc/${opts.open.doc}`
      return `${location.origin}/#/join/${invite}${app}${doc}`
    },
    /**
     * Joins with an invite (the link, or the invite string in it) as `name`; resolves to the
     * space id. While no member is reachable it waits (`onWaiting(spaceId)` once it starts; the
     * space document's `docs.state` then says "unknown") and completes when one comes online;
     * `timeoutMs` or `signal` end the wait. A damaged or expired invite fails at once.
     */
    join: async (
      inviteOrLink: string,
      name?: string,
      opts: {
        timeoutMs?: number
        signal?: AbortSignal
        onWaiting?: (spaceId: string) => void
      } = {},
    ): Promise<string> => {
      const invite = /#\/join\/([^/]+)/.exec(inviteOrLink)?.[1] ?? inviteOrLink
      return (await core.up()).spaces.join(invite, name, opts)
    },
    remove: async (spaceId: string, did: string): Promise<void> =>
      (await core.up()).spaces.remove(spaceId, did),
    revoke: async (spaceId: string, inviteId: string): Promise<void> =>
      (await core.up()).spaces.revoke(spaceId, inviteId),
    /**
     * Authors caught signing two different changes for one (actor, seq) of a space's document,
     * with both signed changes as evidence (all documents, or one), oldest first
     */
    equivocations: async (docId?: string): Promise<Equivocation[]> =>
      (await core.local()).repo.equivocations.list(docId),
  }
}
