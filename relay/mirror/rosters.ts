/**
 * The mirror's member lists (src/core/mirror/roster.ts): which keys may upload to a space's logs.
 * A roster is taken when it is newer than the one held and signed by an admin of that one (its
 * root, for the first); a newcomer is admitted on an invite pass signed by a member who may grant
 * its role. Signatures are checked with node:crypto.
 *
 * Keys in the store's LevelDB (see store.ts for the envelopes'):
 *   r!<roster id>                   the roster held, as its admin signed it
 *   a!<roster id>!<key>             an admitted newcomer: role byte ‖ the invite's public key
 * Every write is synced (`sync: true`) before it is answered, and the writes of one roster are
 * made one at a time (`serial`), so two admins racing, or two newcomers on the last use of an
 * invite, are decided in order.
 */
import crypto, { type KeyObject } from 'node:crypto'
import type { ClassicLevel } from 'classic-level'
import {
  describeError,
  IdentityError,
  OrreryError,
  ProtocolError,
  StorageError,
  type Result,
  err,
  ok,
} from '../../src/core/errors'
import { createLogger } from '../../src/core/log'
import {
  admissionSigned,
  BYTE_ROLE,
  keyHex,
  ROLE_BYTE,
  parseAdmission,
  parseRoster,
  type ParsedRoster,
} from '../../src/core/mirror/roster'
import { mayGrant, type Role } from '../../src/core/spaces/model'

const log = createLogger('mirror-rosters')

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex')
const DEFAULT_CACHE = 10_000

interface Membership {
  roster: ParsedRoster
  /** admitted newcomers: key → role */
  admitted: Map<string, Role>
  /** invite key → the newcomers it admitted */
  uses: Map<string, Set<string>>
}

type Db = ClassicLevel<string, Uint8Array>

const fail = (
  code: 'NOT_A_MEMBER' | 'NOT_ALLOWED' | 'BAD_INVITE' | 'INVITE_EXPIRED' | 'INVITE_EXHAUSTED',
  message: string,
): Result<never, OrreryError> => err(new OrreryError(code, message))

/** Ed25519 verification by OpenSSL, with the keys it loaded kept. */
export class Verifier {
  private readonly keys = new Map<string, KeyObject>()

  constructor(private readonly max = 1024) {}

  verify(raw: Uint8Array, signed: Uint8Array, signature: Uint8Array, id = keyHex(raw)): boolean {
    try {
      let key = this.keys.get(id)
      if (key === undefined) {
        key = crypto.createPublicKey({
          key: Buffer.concat([SPKI_ED25519, raw]),
          format: 'der',
          type: 'spki',
        })
        if (this.keys.size >= this.max) this.keys.delete(this.keys.keys().next().value as string)
      }
      this.keys.delete(id)
      this.keys.set(id, key)
      return crypto.verify(null, signed, key, signature)
    } catch {
      return false // a key OpenSSL will not load cannot have signed anything
    }
  }
}

export class Rosters {
  /** roster id (hex) → what is held; `null`: none is held */
  private readonly cache = new Map<string, Membership | null>()
  private readonly locks = new Map<string, Promise<unknown>>()

  constructor(
    private readonly db: Db,
    private readonly verifier: Verifier,
    private readonly now: () => number,
    private readonly cacheEntries = DEFAULT_CACHE,
  ) {}

  /**
   * The role `key` (hex) has in roster `id` (hex): what the roster says, else an admission the
   * roster does not overrule (a removed key has none). Undefined for a non-member; an error
   * NOT_A_MEMBER when no roster is held.
   */
  async roleOf(id: string, key: string): Promise<Result<Role | undefined, OrreryError>> {
    let m: Membership | undefined
    try {
      m = await this.load(id)
    } catch (e) {
      log.warn(`member list …${id.slice(-8)}: the store failed: ${describeError(e)}`)
      return err(new StorageError('STORAGE_FAILED', 'the mirror could not read its store', e))
    }
    if (m === undefined)
      return fail(
        'NOT_A_MEMBER',
        "the mirror holds no member list for this space yet: an admin's tab publishes it",
      )
    return ok(roleIn(m, key))
  }

  /** The roster held under `id` (32 bytes), as signed. Throws what LevelDB throws. */
  async get(id: Uint8Array): Promise<Uint8Array | undefined> {
    const bytes = await this.db.get(`r!${keyHex(id)}`)
    return bytes === undefined
      ? undefined
      : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** Takes a newer roster signed by an admin of the one held (its root, for the first). */
  async put(bytes: Uint8Array): Promise<Result<void, OrreryError>> {
    const parsed = parseRoster(bytes)
    if (!parsed.ok) return parsed
    const r = parsed.value
    const id = keyHex(r.id)
    return this.serial(id, async () => {
      if (!this.verifier.verify(r.signer, r.signed, r.signature))
        return err(new IdentityError('BAD_SIGNATURE', 'the roster is not signed by its signer'))
      const held = await this.load(id)
      const signer = keyHex(r.signer)
      if (held === undefined) {
        if (signer !== keyHex(r.root))
          return fail('NOT_ALLOWED', "a space's first member list is signed by its creator")
        if (r.members.get(signer) !== 'admin')
          return fail('NOT_ALLOWED', 'the creator is not an admin of its own member list')
      } else {
        if (r.serial <= held.roster.serial)
          return err(
            new ProtocolError(
              'PROTOCOL_VIOLATION',
              `member list ${r.serial} is not newer than the one held (${held.roster.serial})`,
            ),
          )
        if (roleIn(held, signer) !== 'admin')
          return fail('NOT_ALLOWED', 'the member list is signed by someone who is not an admin')
      }
      await this.db.put(`r!${id}`, bytes.slice(), { sync: true })
      const admitted = held?.admitted ?? new Map<string, Role>()
      const uses = held?.uses ?? new Map<string, Set<string>>()
      this.remember(id, { roster: r, admitted, uses })
      log.debug(`roster …${id.slice(-8)} ${r.serial}: ${r.members.size} members`)
      return ok(undefined)
    })
  }

  /** Admits a newcomer on an invite (see roster.ts); admitting one twice is not an error. */
  async admit(bytes: Uint8Array): Promise<Result<void, OrreryError>> {
    const parsed = parseAdmission(bytes)
    if (!parsed.ok) return parsed
    const a = parsed.value
    const id = keyHex(a.roster)
    return this.serial(id, async () => {
      const held = await this.load(id)
      if (held === undefined)
        return fail('NOT_A_MEMBER', 'the mirror holds no member list for this space yet')
      const newcomer = keyHex(a.newcomer)
      const invite = keyHex(a.invitePub)
      if (held.roster.removed.has(newcomer))
        return fail('NOT_ALLOWED', 'this key was removed from the space')
      if (roleIn(held, newcomer) !== undefined) return ok(undefined) // a member already
      if (!(this.now() < a.expiresAt))
        return fail(
          'INVITE_EXPIRED',
          `the invite expired at ${new Date(a.expiresAt).toISOString()}`,
        )
      const inviter = roleIn(held, keyHex(a.inviter))
      if (inviter === undefined) return fail('NOT_A_MEMBER', 'the inviter is not a member')
      if (!mayGrant(inviter, a.role))
        return fail('NOT_ALLOWED', `a ${inviter} may not grant ${a.role}`)
      for (const s of admissionSigned(a))
        if (!this.verifier.verify(s.key, s.signed, s.sig))
          return err(
            new IdentityError('BAD_SIGNATURE', 'the invite pass or the join proof does not verify'),
          )
      const used = held.uses.get(invite) ?? new Set<string>()
      if (used.size >= a.maxUses)
        return fail('INVITE_EXHAUSTED', `the invite was used ${used.size} time(s) of ${a.maxUses}`)
      const value = new Uint8Array(33)
      value[0] = ROLE_BYTE[a.role]
      value.set(a.invitePub, 1)
      await this.db.put(`a!${id}!${newcomer}`, value, { sync: true })
      held.admitted.set(newcomer, a.role)
      held.uses.set(invite, used.add(newcomer))
      log.debug(`roster …${id.slice(-8)}: admitted …${newcomer.slice(-8)} as ${a.role}`)
      return ok(undefined)
    })
  }

  /**
   * Runs `f` after the roster's earlier operations; a failure of the database (a full disk, a
   * damaged file) comes back as STORAGE_FAILED, with nothing changed in memory.
   */
  private async serial(
    id: string,
    f: () => Promise<Result<void, OrreryError>>,
  ): Promise<Result<void, OrreryError>> {
    const before = this.locks.get(id) ?? Promise.resolve()
    const guarded = async (): Promise<Result<void, OrreryError>> => {
      try {
        return await f()
      } catch (e) {
        this.cache.delete(id) // read again from what the database holds
        log.warn(`member list …${id.slice(-8)}: the store failed: ${describeError(e)}`)
        return err(new StorageError('STORAGE_FAILED', 'the mirror could not store it', e))
      }
    }
    const run = before.then(guarded, guarded)
    const tail = run.catch(() => undefined)
    this.locks.set(id, tail)
    void tail.then(() => {
      if (this.locks.get(id) === tail) this.locks.delete(id)
    })
    return run
  }

  private async load(id: string): Promise<Membership | undefined> {
    const cached = this.cache.get(id)
    if (cached !== undefined) return cached ?? undefined
    const bytes = await this.db.get(`r!${id}`)
    if (bytes === undefined) {
      this.remember(id, null)
      return undefined
    }
    const parsed = parseRoster(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    if (!parsed.ok) {
      log.warn(`roster …${id.slice(-8)} unreadable in the store: ${parsed.error.message}`)
      return undefined
    }
    const m: Membership = { roster: parsed.value, admitted: new Map(), uses: new Map() }
    for await (const [key, v] of this.db.iterator({ gt: `a!${id}!`, lt: `a!${id}"` })) {
      const role = BYTE_ROLE[v[0] ?? 0]
      if (role === undefined || v.length !== 33) continue
      const who = key.slice(id.length + 3)
      const invite = keyHex(v.subarray(1))
      m.admitted.set(who, role)
      m.uses.set(invite, (m.uses.get(invite) ?? new Set()).add(who))
    }
    this.remember(id, m)
    return m
  }

  private remember(id: string, m: Membership | null): void {
    this.cache.delete(id)
    this.cache.set(id, m)
    for (const old of this.cache.keys()) {
      if (this.cache.size <= this.cacheEntries) break
      this.cache.delete(old)
    }
  }
}

function roleIn(m: Membership, key: string): Role | undefined {
  const listed = m.roster.members.get(key)
  if (listed !== undefined) return listed
  if (m.roster.removed.has(key)) return undefined
  return m.admitted.get(key)
}
