/**
 * Where a space's documents live on the mirror: the id of its member list there (mirror/roster.ts),
 * and the list its admins keep there.
 *
 * The id is made from the space document's read key and the space's creator, so a tab that has
 * the space document computes it. A tab that does not have it yet (a newcomer with an invite, a
 * reader with a share link, while every member sleeps) takes it from the invite (`mr`) or the
 * link (`sr`) and keeps it (`['mirror-roster', spaceId]`) until the space document says.
 */
import { bytesToHex } from '../bytes'
import { describeError } from '../errors'
import { publicKeyFromDidKey } from '../identity'
import type { DocId } from '../ids'
import { createLogger } from '../log'
import { rosterId, spaceRosterTag, type RosterBody } from '../mirror/roster'
import type { StorageAdapter } from '../storage/types'
import { roleOf, type Role, type SpaceState } from './model'

const log = createLogger('spaces')

export class SpaceRosters {
  private readonly hints = new Map<string, Uint8Array>()

  constructor(
    private readonly storage: StorageAdapter,
    /** the read key of a space's document, if held */
    private readonly docKey: (spaceId: string) => Uint8Array | undefined,
    private readonly state: (spaceId: string) => SpaceState,
  ) {}

  async load(): Promise<void> {
    try {
      for (const c of await this.storage.loadRange(['mirror-roster']))
        if (c.key[1] !== undefined && c.data.length === 32) this.hints.set(c.key[1], c.data)
    } catch (e) {
      log.warn(`could not read the spaces' mirror ids: ${describeError(e)}`)
    }
  }

  /** The space's member-list id on the mirror, if this tab knows it. */
  idOf(spaceId: string): Uint8Array | undefined {
    const made = this.made(spaceId)
    return made === undefined ? this.hints.get(spaceId) : rosterId(made.spaceTag, made.root)
  }

  /** The tag and root the space's document gives (undefined until it has arrived). */
  private made(spaceId: string): { spaceTag: Uint8Array; root: Uint8Array } | undefined {
    const key = this.docKey(spaceId)
    const creator = this.state(spaceId).creator
    if (key === undefined || creator === undefined) return undefined
    const root = publicKeyFromDidKey(creator)
    if (!root.ok) return undefined
    return { spaceTag: spaceRosterTag(key, spaceId as DocId), root: root.value }
  }

  /** Keeps an id an invite or a link gave, for a space whose document is not here yet. */
  async note(spaceId: string, id: Uint8Array | undefined): Promise<void> {
    if (id?.length !== 32 || this.made(spaceId) !== undefined) return
    const held = this.hints.get(spaceId)
    if (held !== undefined && bytesToHex(held) === bytesToHex(id)) return
    this.hints.set(spaceId, id.slice())
    try {
      await this.storage.save(['mirror-roster', spaceId], id.slice())
    } catch (e) {
      log.warn(`could not keep space ${spaceId}'s mirror id: ${describeError(e)}`)
    }
  }

  /**
   * The member list the space's document gives, as its admins put it on the mirror: members
   * with their roles, and the removed (by their Ed25519 keys, hex). Serial 0: the caller sets it.
   */
  desired(spaceId: string): RosterBody | undefined {
    const made = this.made(spaceId)
    if (made === undefined) return undefined
    const space = this.state(spaceId)
    const members = new Map<string, Role>()
    for (const did of space.members.keys()) {
      const role = roleOf(space, did)
      const pub = publicKeyFromDidKey(did)
      if (role !== undefined && pub.ok) members.set(bytesToHex(pub.value), role)
    }
    const removed = new Set<string>()
    for (const did of space.removed.keys()) {
      const pub = publicKeyFromDidKey(did)
      if (pub.ok) removed.add(bytesToHex(pub.value))
    }
    return { ...made, serial: 0, members, removed }
  }
}
