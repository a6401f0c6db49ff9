/**
 * Presence as a person sees it: people, not tabs or keys. Tabs of one identity are one person;
 * each is named by the space's member record when the document belongs to a space (what the
 * members agreed on), else by the name they chose for themselves (marked as such: anyone can
 * choose any name), else by a short form of their key. Each person has a colour of their own,
 * the same on every peer (it comes from their key).
 */
import type { PresenceSelection } from './presence-state'
import type { PresenceEntry } from './doc-presence'

export interface PersonHere {
  identity: string
  name: string
  /** where the name comes from: the space's member record, their own choice, or their key */
  named: 'member' | 'self' | 'key'
  /** a CSS colour, the same for this identity everywhere */
  color: string
  /** one per tab of theirs that has a selection in a text */
  selections: { session: string; selection: PresenceSelection }[]
  /** how many tabs of theirs have the document open */
  tabs: number
}

/** A short, stable stand-in for an identity without a name: the end of its key. */
export function shortIdentity(did: string): string {
  return `someone ${did.slice(-6)}`
}

/** A colour for an identity: a hue from its key, at a saturation and lightness that read on white. */
export function colorOf(did: string): string {
  let h = 2166136261
  for (let i = 0; i < did.length; i++) h = Math.imul(h ^ did.charCodeAt(i), 16777619)
  return `hsl(${(h >>> 0) % 360} 70% 42%)`
}

/**
 * The people in a document from its presence entries, in the order they arrived. `memberName`:
 * the name a space's member record gives an identity, if any.
 */
export function peopleHere(
  entries: readonly PresenceEntry[],
  memberName: (identity: string) => string | undefined,
): PersonHere[] {
  const people = new Map<string, PersonHere>()
  for (const e of entries) {
    let p = people.get(e.identity)
    if (p === undefined) {
      const member = memberName(e.identity)
      p = {
        identity: e.identity,
        ...(member !== undefined
          ? { name: member, named: 'member' as const }
          : e.name.trim() !== ''
            ? { name: e.name.trim(), named: 'self' as const }
            : { name: shortIdentity(e.identity), named: 'key' as const }),
        color: colorOf(e.identity),
        selections: [],
        tabs: 0,
      }
      people.set(e.identity, p)
    } else if (p.named === 'key' && e.name.trim() !== '') {
      // another tab of theirs says a name
      p.name = e.name.trim()
      p.named = 'self'
    }
    p.tabs++
    if (e.selection !== undefined) p.selections.push({ session: e.session, selection: e.selection })
  }
  return [...people.values()]
}
