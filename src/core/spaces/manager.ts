/**
 * The spaces this peer belongs to, and the rules they put on documents. The repo asks
 * `governanceFor(docId)` when it opens a document: a space document governs itself, a document
 * listed in a space is governed by that space, anything else is a free document.
 *
 * Which space a document belongs to is decided once and never changed: from its id for the
 * documents of bound spaces (`docBelongsTo`: no other space can claim them), and for legacy ids
 * by the first space that lists a document this tab does not already know.
 */
import { bytesToHex, fromUtf8, utf8 } from '../bytes'
import { Emitter } from '../emitter'
import { describeError, OrreryError } from '../errors'
import { docBelongsTo, idKind, newDocIdIn, newSpaceId, parseDocId, type DocId } from '../ids'
import type { Identity } from '../identity'
import { createLogger } from '../log'
import type { Governance } from '../repo/governance'
import type { Repo } from '../repo/repo'
import type { StorageAdapter } from '../storage/types'
import {
  createInvite,
  decodeInvite,
  encodeInvite,
  checkInvite,
  joinValues,
  inviteRecord,
  mirrorAdmission,
} from './invite'
import { readSpace, roleOf, newSpaceValue, emptySpace, type Role, type SpaceState } from './model'
import { removeMember } from './policy'
import { SpaceError } from './errors'
import { docGovernance, spaceGovernance, type SpaceContext } from './governance'
import { SpaceKeys, spaceDataDocKey, spaceDocKey } from './space-keys'
import { SpaceRosters } from './space-rosters'
import { whenMembers } from './when-members'
import { currentEpoch, newEpoch, readEpochs, type Epoch } from './epochs'
import { EpochKeeper } from './epoch-keeper'
import { CryptoError } from '../errors'

const log = createLogger('spaces')

export interface SpacesOptions {
  repo: Repo
  storage: StorageAdapter
  identity: () => Identity | undefined
  /** where newcomers can reach this tab (put into invites) */
  peerId?: () => string | undefined
  relays?: () => string[]
}

export class Spaces {
  readonly events = new Emitter<{ changed: string }>()
  readonly ready: Promise<void>
  private readonly known = new Set<string>()
  /** spaces whose rules this tab applies without being a member (from share links) */
  private readonly followed = new Set<string>()
  private readonly spaceOf = new Map<DocId, string>()
  /** legacy documents a space listed that this tab kept where they were (warned once) */
  private readonly notAdopted = new Set<DocId>()
  private readonly states = new Map<string, SpaceState>()
  private readonly watching = new Map<string, Promise<void>>()
  private readonly changeListeners = new Map<string, Set<() => void>>()
  private readonly keys: SpaceKeys
  private readonly epochs = new Map<string, Map<string, Epoch>>()
  private readonly keeper: EpochKeeper
  /** where the spaces' documents live on the mirror */
  readonly rosters: SpaceRosters
  private ownWrites = 0

  constructor(private readonly opts: SpacesOptions) {
    this.keys = new SpaceKeys(opts.storage)
    this.rosters = new SpaceRosters(
      opts.storage,
      (id) => opts.repo.keys.get(id as DocId),
      (id) => this.state(id),
    )
    this.keeper = new EpochKeeper({
      repo: opts.repo,
      keys: this.keys,
      identity: opts.identity,
      state: (id) => this.state(id),
      epochs: (id) => this.epochs.get(id) ?? new Map(),
      docsOf: (id) => [...this.state(id).docs.keys()].filter((d) => this.spaceOf.get(d) === id),
      write: (id, writes) => this.ownWrite(id, writes),
    })
    this.ready = this.load()
  }

  private async load(): Promise<void> {
    await this.keys.load()
    await this.rosters.load()
    for (const c of await this.opts.storage.loadRange(['spaces'])) {
      const id = c.key[1]
      if (id !== undefined && parseDocId(id).ok) this.known.add(id)
    }
    for (const c of await this.opts.storage.loadRange(['followed'])) {
      const id = c.key[1]
      if (id !== undefined && parseDocId(id).ok) this.followed.add(id)
    }
    for (const c of await this.opts.storage.loadRange(['space-of'])) {
      const doc = c.key[1]
      const space = fromUtf8(c.data)
      if (doc === undefined || !parseDocId(doc).ok || !parseDocId(space).ok) continue
      // a listing an earlier version took from a space that cannot hold the document
      if (docBelongsTo(doc, space)) this.spaceOf.set(doc, space)
      else log.warn(`document ${doc} is not one of space ${space}'s: not governed by it`)
    }
    // Every known space's document opens now: its state (the member list every check and the
    // Spaces card read) is otherwise empty until something happens to open it. Not awaited:
    // opening asks governanceFor, which waits for `ready`, which is this.
    for (const id of this.known) {
      const key = this.keys.docKey(id)
      if (key !== undefined) await this.opts.repo.setKey(id, key)
      else log.warn(`space ${id} was made before spaces had keys: it stays on this device`)
    }
    for (const id of this.known)
      this.watch(id).catch((e: unknown) =>
        log.warn(`could not open the document of space ${id}: ${describeError(e)}`),
      )
  }

  /** The repo's hook: which rules govern a document (awaited before the document loads). */
  async governanceFor(docId: DocId): Promise<Governance | undefined> {
    await this.ready
    if (this.known.has(docId) || this.followed.has(docId)) return this.governanceOfSpace(docId)
    const spaceId = this.spaceOf.get(docId) ?? this.spaceNamedBy(docId)
    if (spaceId === undefined) return undefined
    if (!this.spaceOf.has(docId)) await this.registerDoc(docId, spaceId)
    void this.watch(spaceId) // the space document opens alongside; its state arrives with it
    return {
      ...docGovernance(docId, this.context(spaceId)),
      onChange: (cb) => this.onSpaceChange(spaceId, cb),
    }
  }

  /** A space this tab knows whose tag a bound document id carries (its listing may not be here yet). */
  private spaceNamedBy(docId: DocId): string | undefined {
    if (idKind(docId) !== 'bound') return undefined
    for (const id of [...this.known, ...this.followed]) if (docBelongsTo(docId, id)) return id
    return undefined
  }

  private governanceOfSpace(spaceId: string): Governance {
    void this.watch(spaceId)
    return {
      ...spaceGovernance(this.context(spaceId), () => this.ownWrites > 0),
      onChange: (cb) => this.onSpaceChange(spaceId, cb),
    }
  }

  private context(spaceId: string): SpaceContext {
    return { spaceId, state: () => this.state(spaceId), identity: () => this.opts.identity() }
  }

  private onSpaceChange(spaceId: string, cb: () => void): () => void {
    let set = this.changeListeners.get(spaceId)
    if (set === undefined) this.changeListeners.set(spaceId, (set = new Set()))
    set.add(cb)
    return () => set.delete(cb)
  }

  /** The current state of a space (empty until its document has arrived). */
  state(spaceId: string): SpaceState {
    return this.states.get(spaceId) ?? emptySpace(spaceId)
  }

  /** The space's current key epoch, as this tab's copy of its document says (epochs.ts). */
  currentEpoch(spaceId: string): Epoch | undefined {
    return currentEpoch(this.epochs.get(spaceId) ?? new Map<string, Epoch>())
  }

  list(): SpaceState[] {
    return [...this.known].map((id) => this.state(id))
  }

  /** Opens a space document and keeps its state (and the list of its documents) current. */
  private watch(spaceId: string): Promise<void> {
    let p = this.watching.get(spaceId)
    if (p === undefined) {
      p = (async () => {
        const handle = await this.opts.repo.open(spaceId)
        await this.opts.repo.list() // the records of known documents are loaded (see mayAdopt)
        handle.subscribe([], (value) => this.refresh(spaceId, value))
      })()
      this.watching.set(spaceId, p)
    }
    return p
  }

  /** A space document's new value: its state, its documents, its keys. */
  private refresh(spaceId: string, value: unknown): void {
    const state = readSpace(value, spaceId)
    this.states.set(spaceId, state)
    for (const docId of state.docs.keys())
      if (this.mayAdopt(docId, spaceId)) void this.registerDoc(docId, spaceId)
    this.epochs.set(spaceId, readEpochs(value))
    void this.keeper.run(spaceId)
    for (const cb of this.changeListeners.get(spaceId) ?? []) cb()
    this.events.emit('changed', spaceId)
  }

  private async registerSpace(spaceId: string): Promise<void> {
    if (this.known.has(spaceId)) return
    this.known.add(spaceId)
    await this.opts.storage.save(['spaces', spaceId], utf8(JSON.stringify({ at: Date.now() })))
  }

  /**
   * Whether a space's listing of `docId` makes it that space's document here. `readSpace` only
   * lists documents that may belong to the space (`docBelongsTo`); a bound id proves it. A legacy
   * id proves nothing, so it is taken only if this tab does not know the document yet: a document
   * open or stored as a free document (or a space) is never re-homed by someone else's listing.
   */
  private mayAdopt(docId: DocId, spaceId: string): boolean {
    if (this.spaceOf.has(docId) || this.known.has(docId) || this.followed.has(docId)) return false
    if (!docBelongsTo(docId, spaceId)) return false
    if (idKind(docId) === 'bound') return true
    const known =
      this.opts.repo.get(docId) !== undefined || this.opts.repo.record(docId) !== undefined
    if (known && !this.notAdopted.has(docId)) {
      this.notAdopted.add(docId)
      log.warn(`space ${spaceId} lists ${docId}, which this tab already knows: not re-homed`)
    }
    return !known
  }

  private async registerDoc(docId: DocId, spaceId: string): Promise<void> {
    this.spaceOf.set(docId, spaceId)
    await this.opts.storage.save(['space-of', docId], utf8(spaceId))
  }

  /** Writes the space document itself on behalf of this user (joins, document listings). */
  private async ownWrite(spaceId: string, writes: [string[], unknown][]): Promise<void> {
    const handle = await this.opts.repo.open(spaceId)
    this.ownWrites++
    try {
      for (const [keys, value] of writes) handle.write(keys, value)
      handle.flush() // committed and signed while the own-write permission holds
    } finally {
      this.ownWrites--
    }
    // what follows (a removal's new epoch, the next key upkeep) sees this write at once
    if (this.watching.has(spaceId)) this.refresh(spaceId, handle.read([]))
    await handle.whenSaved()
  }

  private me(): Identity {
    const me = this.opts.identity()
    if (me === undefined) throw new OrreryError('NOT_READY', 'the identity is still loading')
    return me
  }

  // ---- what a user does ------------------------------------------------------------------------

  async create(name: string): Promise<string> {
    await this.ready
    const me = this.me()
    const { id, nonce } = newSpaceId(me.id) // bound to its creator: nobody else can write its genesis
    // the first epoch's key, sealed to the creator; the space document's key comes from it
    const first = await newEpoch(id, undefined, [me.id], me.id, Date.now())
    const docKey = spaceDocKey(first.key, id)
    await this.keys.keep(id, { doc: docKey, epoch: first.key })
    await this.opts.repo.setKey(id, docKey)
    await this.registerSpace(id)
    await this.watch(id)
    const genesis = {
      ...newSpaceValue(name, me, Date.now(), nonce),
      keys: { [first.id]: first.value },
    }
    await this.ownWrite(
      id,
      Object.entries(genesis).map(([k, v]) => [[k], v]),
    )
    return id
  }

  /** A new document in the space (writers and admins). */
  async createDoc(spaceId: string): Promise<DocId> {
    await this.watch(spaceId)
    const me = this.me()
    const role = roleOf(this.state(spaceId), me.id)
    if (role !== 'admin' && role !== 'writer') {
      throw new OrreryError('NOT_ALLOWED', 'only writers and admins add documents to a space')
    }
    const docId = newDocIdIn(spaceId) // bound to this space: no other space can list it
    await this.registerDoc(docId, spaceId)
    const key = this.keeper.currentKey(spaceId)
    if (key === undefined) throw this.noKey(spaceId)
    await this.ownWrite(spaceId, [[['docs', docId], { addedBy: me.id, addedAt: Date.now() }]])
    await this.opts.repo.create(docId, spaceDataDocKey(key, docId))
    return docId
  }

  /** An invite (the string to put in a link's fragment). Admins invite anyone, writers writers and readers. */
  async invite(
    spaceId: string,
    o: { role: Role; expiresInMs?: number; maxUses?: number },
  ): Promise<string> {
    await this.watch(spaceId)
    const me = this.me()
    const doc = this.keys.docKey(spaceId)
    const epoch = this.keeper.currentKey(spaceId)
    if (doc === undefined || epoch === undefined) throw this.noKey(spaceId)
    const keys = { doc, epoch }
    const { token, secret } = createInvite({
      spaceId,
      role: o.role,
      expiresAt: Date.now() + (o.expiresInMs ?? 7 * 24 * 3600 * 1000),
      maxUses: o.maxUses ?? 10,
      inviter: me,
      ...(this.opts.peerId?.() ? { inviterPeer: this.opts.peerId() } : {}),
      ...(this.opts.relays ? { relays: this.opts.relays().slice(0, 4) } : {}),
      keys,
      mirrorRoster: this.rosters.idOf(spaceId),
    })
    const check = checkInvite(token, this.state(spaceId), Date.now())
    if (!check.ok) throw check.error
    if (roleOf(this.state(spaceId), me.id) === 'admin') {
      await this.ownWrite(spaceId, [[['invites', token.id], inviteRecord(token)]])
    }
    return encodeInvite(token, secret, keys)
  }

  private noKey(spaceId: string): CryptoError {
    return new CryptoError(
      'NO_KEY',
      `space ${spaceId} was made before spaces had keys: it cannot be shared; make a new one`,
    )
  }

  /**
   * What a share link of a space's document carries beside the document's own key: the space's
   * id and the read key of its document (a reader checks changes against its members), and the
   * id of its member list on the mirror.
   */
  linkKeys(
    docId: DocId,
  ): { space: string; spaceDocKey: Uint8Array; roster: Uint8Array | undefined } | undefined {
    const space = this.spaceOfDoc(docId)
    const key = space === undefined ? undefined : this.opts.repo.keys.get(space)
    if (space === undefined || key === undefined) return undefined
    return { space, spaceDocKey: key, roster: this.rosters.idOf(space) }
  }

  /**
   * Joins a space with an invite: the space document comes from whichever member (or peer that
   * holds it) is reachable, the invite is checked against it, and this user writes their own
   * member record, which every member can verify without the inviter. While no member is
   * reachable it waits (the space document's sync state says so; `onWaiting` is called once the
   * space is registered and being looked for) and completes by itself when one comes online:
   * only `timeoutMs` or the signal end the wait. A damaged, forged or expired invite fails at
   * once.
   */
  async join(
    invite: string,
    name?: string,
    opts: { timeoutMs?: number; signal?: AbortSignal; onWaiting?: (spaceId: string) => void } = {},
  ): Promise<string> {
    await this.ready
    const decoded = decodeInvite(invite)
    if (!decoded.ok) throw decoded.error
    const { token } = decoded.value
    if (!(Date.now() < token.expiresAt))
      throw new SpaceError(
        'INVITE_EXPIRED',
        `invite ${token.id} expired at ${new Date(token.expiresAt).toISOString()}`,
      )
    const me = this.me()
    const spaceId = token.space
    const { keys } = decoded.value
    await this.keys.keep(spaceId, keys)
    if (!this.opts.repo.keys.has(spaceId)) await this.opts.repo.setKey(spaceId, keys.doc)
    await this.keepAdmission(spaceId, mirrorAdmission(decoded.value, me))
    await this.registerSpace(spaceId)
    await this.watch(spaceId)
    if (this.state(spaceId).members.size === 0) {
      opts.onWaiting?.(spaceId)
      await whenMembers(this.events, () => this.state(spaceId).members.size > 0, spaceId, opts)
    }
    if (roleOf(this.state(spaceId), me.id) !== undefined) return spaceId // already in
    const check = checkInvite(token, this.state(spaceId), Date.now(), me.id)
    if (!check.ok) throw check.error
    const { member, redeemed } = joinValues(decoded.value, me.id, Date.now(), name)
    await this.ownWrite(spaceId, [
      [['members', me.id], member],
      [['redeemed', token.id, me.id], redeemed],
    ])
    if (this.state(spaceId).overQuota.has(me.id)) {
      // a concurrent join with the same invite ranks before this one (model.ts)
      throw new SpaceError(
        'INVITE_EXHAUSTED',
        `invite ${token.id} was used ${token.maxUses} time(s) by joins that rank before yours`,
      )
    }
    log.info(`joined space ${spaceId} as ${token.role}`)
    return spaceId
  }

  /**
   * Keeps what lets the mirror take this newcomer's uploads before any admin is online (the
   * invite's pass and our proof), under the space's member-list id, for the mirror's seat to
   * hand over when the mirror answers NOT_A_MEMBER (mirror-sync.ts).
   */
  private async keepAdmission(spaceId: string, admission: Uint8Array | undefined): Promise<void> {
    if (admission === undefined) return
    const roster = admission.subarray(0, 32)
    await this.rosters.note(spaceId, roster)
    try {
      await this.opts.storage.save(['mirror-admission', bytesToHex(roster)], admission)
    } catch (e) {
      log.warn(`could not keep the mirror admission of space ${spaceId}: ${describeError(e)}`)
    }
  }

  /**
   * Where a document lives on the mirror: its space's member-list id and the key epoch (0 for a
   * space's own document, whose key never changes). Undefined for a document of no space;
   * 'unknown' while its space's id on the mirror is not known here.
   */
  mirrorPlace(docId: DocId): { roster: Uint8Array; epoch: number } | 'unknown' | undefined {
    const space = this.spaceOfDoc(docId)
    if (space === undefined) return undefined
    const roster = this.rosters.idOf(space)
    if (roster === undefined) return 'unknown'
    return { roster, epoch: space === docId ? 0 : (this.currentEpoch(space)?.n ?? 0) }
  }

  /** Removes a member (admins): their later writes are refused by every peer. */
  async remove(spaceId: string, did: string): Promise<void> {
    await this.watch(spaceId)
    const me = this.me()
    const space = this.state(spaceId)
    const heads: { docId: string; actors: Record<string, number> }[] = []
    for (const docId of [spaceId, ...space.docs.keys()]) {
      const h = await this.opts.repo.open(docId)
      heads.push({ docId, actors: h.actorsOf(did) })
    }
    const record = removeMember(space, did, me.id, heads)
    if (!record.ok) throw record.error
    await this.ownWrite(spaceId, [[['removed', did], record.value]])
    // a new epoch, sealed to the others: what is written from now on is read with its key
    await this.keeper.rotate(spaceId, me)
    await this.keeper.run(spaceId)
  }

  /** Revokes an invite (admins): joins with it are refused from then on. */
  async revoke(spaceId: string, inviteId: string): Promise<void> {
    await this.watch(spaceId)
    const me = this.me()
    // checked here because the write goes through ownWrite, which skips the local write check;
    // a refused change stored here would be offered to every peer and get this peer cut off
    if (roleOf(this.state(spaceId), me.id) !== 'admin')
      throw new OrreryError('NOT_ALLOWED', 'only admins revoke invites')
    await this.ownWrite(spaceId, [[['revoked', inviteId], { by: me.id, at: Date.now() }]])
  }

  /** The space a document belongs to, if any. */
  spaceOfDoc(docId: DocId): string | undefined {
    if (this.known.has(docId) || this.followed.has(docId)) return docId
    return this.spaceOf.get(docId) ?? this.spaceNamedBy(docId)
  }

  /**
   * Applies a space's rules to one of its documents without being a member: what a share link
   * that names the document's space does for a reader. Their tab then checks every change of
   * the document (and of the space's own document) like a member's tab, refuses forged ones
   * from any peer, and refuses its own writes unless the space lets this identity write. It must
   * come before the document is opened (rules are decided when it loads): a document already
   * open without its space is refused (NOT_READY), and a document already known to belong to
   * another space stays there (SPACE_MISMATCH). The space must be one that can hold the
   * document (`docBelongsTo`): a link naming another space than the document's fails with
   * SPACE_MISMATCH. Only a legacy document id in a legacy space is taken on trust.
   * `spaceDocReadKey` (from the link) lets this tab find and read the space's document.
   */
  async follow(
    spaceId: string,
    docId: DocId,
    spaceDocReadKey?: Uint8Array,
    mirrorRoster?: Uint8Array,
  ): Promise<void> {
    for (const id of [spaceId, docId]) {
      const ok = parseDocId(id)
      if (!ok.ok) throw ok.error
    }
    if (docId !== spaceId && !docBelongsTo(docId, spaceId))
      throw new OrreryError(
        'SPACE_MISMATCH',
        `document ${docId} is not a document of space ${spaceId} (its id names another space)`,
      )
    await this.ready
    // kept in memory at once (the mirror's seat reads it when the document opens); on disk after
    // the space is followed: nothing else may come between a link and its space's rules
    const noting = this.rosters.note(spaceId, mirrorRoster)
    const current = this.spaceOfDoc(docId)
    if (current === spaceId) return noting
    if (current !== undefined)
      throw new OrreryError('SPACE_MISMATCH', `document ${docId} belongs to space ${current}`)
    for (const id of [docId, spaceId]) {
      const open = await this.opts.repo.openedPastHolds(id)
      if (open !== undefined && !open.governed)
        throw new OrreryError(
          'NOT_READY',
          `document ${id} is open without its space's rules; reload to open it with them`,
        )
    }
    // the space document's read key, from the link (a member has it already)
    if (spaceDocReadKey !== undefined && !this.opts.repo.keys.has(spaceId))
      await this.opts.repo.setKey(spaceId, spaceDocReadKey)
    if (!this.known.has(spaceId) && !this.followed.has(spaceId)) {
      this.followed.add(spaceId)
      await this.opts.storage.save(['followed', spaceId], utf8(JSON.stringify({ at: Date.now() })))
    }
    if (docId !== spaceId) await this.registerDoc(docId, spaceId)
    await noting
  }
}
