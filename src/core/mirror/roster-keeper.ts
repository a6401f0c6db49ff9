/**
 * An admin's tab keeps its spaces' member lists on the mirror (roster.ts) in step with their
 * space documents: after a space changes (a join, a removal, a role), once the document says
 * something the mirror's list does not, it signs the next list and hands it over. The space's
 * creator starts the list; any admin carries it on. Two admins racing are decided by the mirror
 * (the later serial wins, a stale one is refused): the loser reads the mirror's list and, if
 * that still differs from its document, signs the one after it.
 */
import { bytesToHex } from '../bytes'
import { describeError, type Result } from '../errors'
import type { Identity } from '../identity'
import { createLogger } from '../log'
import type { Spaces } from '../spaces/manager'
import { encodeRoster, parseRoster, rosterId, type RosterBody } from './roster'

const log = createLogger('mirror-rosters')

export interface RosterTransport {
  putRoster(roster: Uint8Array): Promise<Result<void>>
  getRoster(id: Uint8Array): Promise<Result<Uint8Array | undefined>>
}

export interface RosterKeeperOptions {
  spaces: Pick<Spaces, 'events' | 'list' | 'rosters'>
  identity: () => Identity | undefined
  client: RosterTransport
  /** a space's changes are looked at this long after the first of them (ms) */
  delayMs?: number
  /** after a failure (the mirror unreachable), again after this (ms) */
  retryMs?: number
}

const DEFAULT_DELAY_MS = 300
const DEFAULT_RETRY_MS = 5000

export class RosterKeeper {
  /** the mirror's list as last seen, by space */
  private readonly held = new Map<string, RosterBody>()
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly running = new Map<string, Promise<void>>()
  private off: (() => void) | undefined
  private stopped = false

  constructor(private readonly opts: RosterKeeperOptions) {}

  start(): void {
    this.stopped = false
    this.off = this.opts.spaces.events.on('changed', (id) => this.soon(id))
    for (const s of this.opts.spaces.list()) this.soon(s.id)
  }

  stop(): void {
    this.stopped = true
    this.off?.()
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }

  /** Brings the space's list on the mirror in step now (tests, and the next change's timer). */
  async sync(spaceId: string): Promise<void> {
    const before = this.running.get(spaceId)
    if (before !== undefined) await before
    const run = this.run(spaceId).finally(() => this.running.delete(spaceId))
    this.running.set(spaceId, run)
    await run
  }

  private soon(spaceId: string, ms = this.opts.delayMs ?? DEFAULT_DELAY_MS): void {
    if (this.stopped || this.timers.has(spaceId)) return
    this.timers.set(
      spaceId,
      setTimeout(() => {
        this.timers.delete(spaceId)
        void this.sync(spaceId)
      }, ms),
    )
  }

  private async run(spaceId: string): Promise<void> {
    const me = this.opts.identity()
    const want = this.opts.spaces.rosters.desired(spaceId)
    if (me === undefined || want === undefined) return
    const mine = bytesToHex(me.publicKey)
    if (want.members.get(mine) !== 'admin') return // only admins sign lists
    const id = rosterId(want.spaceTag, want.root)
    for (let attempt = 0; attempt < 3; attempt++) {
      let held = this.held.get(spaceId)
      if (held === undefined) {
        const got = await this.opts.client.getRoster(id)
        if (!got.ok) return this.failed(spaceId, got.error.message)
        const parsed = got.value === undefined ? undefined : parseRoster(got.value)
        held = parsed?.ok === true ? parsed.value : undefined
        if (held !== undefined) this.held.set(spaceId, held)
      }
      if (held !== undefined && sameList(held, want)) return
      if (held === undefined && mine !== bytesToHex(want.root)) return // the creator starts it
      const next = { ...want, serial: (held?.serial ?? 0) + 1 }
      let bytes: Uint8Array
      try {
        bytes = encodeRoster(next, me)
      } catch (e) {
        return log.warn(`space ${spaceId}: its member list not made: ${describeError(e)}`)
      }
      const put = await this.opts.client.putRoster(bytes)
      if (put.ok) {
        this.held.set(spaceId, next)
        return log.info(`space ${spaceId}: member list ${next.serial} on the mirror`)
      }
      // another admin's list came first: read it, and go on from it
      if (put.error.code === 'PROTOCOL_VIOLATION') this.held.delete(spaceId)
      else if (put.error.code === 'NOT_ALLOWED')
        return log.warn(
          `space ${spaceId}: the mirror refused its member list: ${put.error.message}`,
        )
      else return this.failed(spaceId, put.error.message)
    }
  }

  private failed(spaceId: string, why: string): void {
    log.info(`space ${spaceId}: the mirror's member list not reached (${why}); again later`)
    this.soon(spaceId, this.opts.retryMs ?? DEFAULT_RETRY_MS)
  }
}

function sameList(a: RosterBody, b: RosterBody): boolean {
  if (a.members.size !== b.members.size || a.removed.size !== b.removed.size) return false
  for (const [k, role] of a.members) if (b.members.get(k) !== role) return false
  for (const k of a.removed) if (!b.removed.has(k)) return false
  return true
}
