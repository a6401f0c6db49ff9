/**
 * `window.orrery.docs.presence(id)`: who else has a document open, as people with names and
 * colours, and telling them where this tab's selection is (src/core/presence/). The name this tab
 * goes by: its member record in the document's space, else the name chosen in this browser
 * (`displayName`, kept in localStorage: every tab of the profile shares it).
 */
import type { LocalPresence } from '../../core/presence/doc-presence'
import { peopleHere, type PersonHere } from '../../core/presence/people'
import type { FacadeCore } from './types'

const NAME_KEY = 'orrery:display-name'

export interface PresenceHandle {
  /** the other people here now (this tab left out), in the order they came */
  people(): PersonHere[]
  /** `fn` hears the people after every change; returns the unsubscribe */
  onChange(fn: (people: PersonHere[]) => void): () => void
  /** says this tab is here, with its selection (a function asked at most every 30 ms) */
  here(selection?: LocalPresence['selection']): void
  /** says this tab left (closing the document says it too) */
  leave(): void
}

/** The name this browser's person chose (shown to others where no member record names them). */
export function displayName(): string {
  try {
    return localStorage.getItem(NAME_KEY) ?? ''
  } catch {
    return ''
  }
}

export function setDisplayName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name.trim().slice(0, 100))
  } catch {
    // storage refused (private mode, quota): the name lasts as long as the page
  }
}

export async function presenceOf(core: FacadeCore, id: string): Promise<PresenceHandle> {
  const l = await core.local()
  const handle = await l.repo.open(id)
  const memberName = (did: string): string | undefined => {
    const space = l.spaces.spaceOfDoc(handle.id)
    if (space === undefined) return undefined
    const s = l.spaces.state(space)
    return s.removed.has(did) ? undefined : s.members.get(did)?.name
  }
  const people = (): PersonHere[] => peopleHere(handle.presence.list(), memberName)
  let selection: LocalPresence['selection']
  const say = (): void => {
    const me = identityOf(core)
    handle.presence.set({
      name: (me === undefined ? undefined : memberName(me)) ?? displayName(),
      ...(selection === undefined ? {} : { selection }),
    })
  }
  return {
    people,
    onChange: (fn) => handle.presence.onChange(() => fn(people())),
    here: (s) => {
      selection = s
      say()
    },
    leave: () => handle.presence.set(undefined),
  }
}

/** this tab's identity, once the network is up and the identity loaded */
function identityOf(core: FacadeCore): string | undefined {
  try {
    return core.booted()?.peer.identity.id
  } catch {
    return undefined // NOT_READY: still loading
  }
}
