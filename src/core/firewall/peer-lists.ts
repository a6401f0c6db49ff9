/**
 * The user's deny and allow lists, kept in the profile's storage (one record,
 * ['firewall', 'lists']) and applied to the firewall when the peer starts and on every change.
 * Entries are identity did:keys or libp2p peer ids (see Firewall.permits). Without this the
 * lists lived in one tab's firewall config and were gone on reload.
 *
 * Other tabs of the profile read the record when they start; `onSaved` tells the caller a change
 * is stored (the browser posts it to the profile's other tabs, which `reload()`).
 */
import { fromUtf8, utf8 } from '../bytes'
import { describeError, err, ok, OrreryError, type Result } from '../errors'
import { createLogger } from '../log'
import { isDid } from '../spaces/values'
import type { StorageAdapter } from '../storage/types'
import type { Firewall } from './firewall'

const log = createLogger('peer-lists')

export const PEER_LISTS_KEY = ['firewall', 'lists'] as const
export const MAX_LIST_ENTRIES = 1000

export interface PeerLists {
  /** identity did:keys and/or peer ids that may never sync */
  deny: string[]
  /** when set, only these may sync (allow-list mode) */
  allow?: string[]
}

export class PeerListError extends OrreryError {
  constructor(message: string) {
    super('INVALID_VALUE', message)
    this.name = 'PeerListError'
  }
}

/** A did:key or a libp2p peer id (base58btc, or a CIDv1 in base32): what the firewall matches. */
export function isPeerRef(v: unknown): v is string {
  return (
    typeof v === 'string' &&
    (isDid(v) ||
      /^(12D3Koo|Qm|16Uiu2)[1-9A-HJ-NP-Za-km-z]{20,60}$/.test(v) ||
      /^b[a-z2-7]{40,80}$/.test(v))
  )
}

/** Reads a stored record; anything unreadable or out of shape gives empty lists (and a warning). */
export function parsePeerLists(bytes: Uint8Array | undefined): Result<PeerLists, PeerListError> {
  if (bytes === undefined) return ok({ deny: [] })
  let v: unknown
  try {
    v = JSON.parse(fromUtf8(bytes))
  } catch {
    return err(new PeerListError('the stored peer lists are not JSON'))
  }
  if (typeof v !== 'object' || v === null) return err(new PeerListError('not an object'))
  const r = v as Record<string, unknown>
  const list = (x: unknown): string[] | undefined =>
    Array.isArray(x) && x.length <= MAX_LIST_ENTRIES && x.every(isPeerRef)
      ? [...new Set(x)]
      : undefined
  const deny = list(r.deny)
  if (deny === undefined) return err(new PeerListError('deny is not a list of peers'))
  if (r.allow === undefined) return ok({ deny })
  const allow = list(r.allow)
  if (allow === undefined) return err(new PeerListError('allow is not a list of peers'))
  return ok({ deny, allow })
}

export class PeerListStore {
  private current: PeerLists = { deny: [] }
  readonly ready: Promise<void>
  /** writes in order: the last change wins on disk as it does in memory */
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly storage: StorageAdapter,
    private readonly firewall: Firewall,
    private readonly onSaved?: () => void,
  ) {
    this.ready = this.reload()
  }

  /** Reads the stored lists again and applies them. */
  async reload(): Promise<void> {
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.storage.load([...PEER_LISTS_KEY])
    } catch (e) {
      log.error(`could not read the peer lists: ${describeError(e)}`)
      return
    }
    const parsed = parsePeerLists(bytes)
    if (!parsed.ok) {
      log.warn(`ignoring the stored peer lists: ${parsed.error.message}`)
      return
    }
    this.apply(parsed.value)
  }

  /** The lists in force (a copy). */
  lists(): PeerLists {
    return {
      deny: [...this.current.deny],
      ...(this.current.allow === undefined ? {} : { allow: [...this.current.allow] }),
    }
  }

  /** Replaces both lists (`allow` undefined leaves allow-list mode); resolves once stored. */
  async set(lists: PeerLists): Promise<void> {
    await this.ready
    for (const who of [...lists.deny, ...(lists.allow ?? [])])
      if (!isPeerRef(who))
        throw new PeerListError(`${JSON.stringify(who).slice(0, 80)} is not a did:key or peer id`)
    const n = lists.deny.length + (lists.allow?.length ?? 0)
    if (n > 2 * MAX_LIST_ENTRIES) throw new PeerListError(`more than ${MAX_LIST_ENTRIES} entries`)
    const next: PeerLists = {
      deny: [...new Set(lists.deny)],
      ...(lists.allow === undefined ? {} : { allow: [...new Set(lists.allow)] }),
    }
    this.apply(next)
    const bytes = utf8(JSON.stringify(next))
    const write = this.writing.then(() => this.storage.save([...PEER_LISTS_KEY], bytes))
    this.writing = write.catch(() => undefined)
    await write
    this.onSaved?.()
  }

  async deny(who: string): Promise<void> {
    await this.ready
    await this.set({ ...this.lists(), deny: [...this.current.deny, who] })
  }

  async undeny(who: string): Promise<void> {
    await this.ready
    await this.set({ ...this.lists(), deny: this.current.deny.filter((d) => d !== who) })
  }

  /** Adds to the allow list (entering allow-list mode if it was off). */
  async allow(who: string): Promise<void> {
    await this.ready
    await this.set({ ...this.lists(), allow: [...(this.current.allow ?? []), who] })
  }

  async unallow(who: string): Promise<void> {
    await this.ready
    const allow = this.current.allow
    if (allow === undefined) return
    await this.set({ ...this.lists(), allow: allow.filter((d) => d !== who) })
  }

  /** Allow-list mode on (only the allow list may sync) or off (everyone not denied may). */
  async allowOnly(on: boolean): Promise<void> {
    await this.ready
    const { deny, allow } = this.lists()
    await this.set(on ? { deny, allow: allow ?? [] } : { deny })
  }

  private apply(lists: PeerLists): void {
    this.current = lists
    this.firewall.configure({ deny: lists.deny, allow: lists.allow })
  }
}
