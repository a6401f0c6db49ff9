/**
 * The version policy of every Orrery protocol, in one place.
 *
 * - A protocol's version is the major of its libp2p protocol id, `/orrery/<name>/<major>.0.0`,
 *   and nothing else: libp2p's multistream-select picks the version when a stream opens, and the
 *   stream's `protocol` says which one was picked. The major goes up on every incompatible change
 *   of the protocol's messages or their meaning.
 * - During a transition a peer speaks the current major and the previous one (`VERSIONS`): it
 *   handles both ids, and opens streams offering the current id first, then the previous, so two
 *   peers settle on the newest major both speak. One release later the previous major leaves the
 *   list (its code paths, if any, go with it).
 * - A peer that speaks none of our majors of a protocol runs another version of Orrery. That is
 *   not a fault: it is never struck or banned, only reported (`OtherVersions`, other-versions.ts).
 * - HELLO messages (sync, outbox) still carry a version field, for the wire's sake; its value is
 *   derived from the negotiated id (`helloVersion`) and checked against it.
 *
 * Tests (and only tests) give a service another `Spoken` to act as a peer of another version.
 */
import type { Connection, NewStreamOptions, PeerId, Stream, Topology } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { err, ok, ProtocolError, type Result } from '../errors'

export type ProtocolName = 'sync' | 'discovery' | 'blocks' | 'outbox' | 'releases' | 'mirror'

/** The majors of one protocol a peer speaks: the current one, and those still spoken. */
export interface Spoken {
  current: number
  /** older majors still spoken during a transition, newest first (at most one, usually) */
  previous: readonly number[]
}

/** What this build of Orrery speaks. Bump `current` and move the old one to `previous`. */
export const VERSIONS: Readonly<Record<ProtocolName, Readonly<Spoken>>> = Object.freeze({
  // 2: PRESENCE frames (issue 20); 1 is still spoken, without presence
  sync: { current: 2, previous: [1] },
  discovery: { current: 1, previous: [] },
  blocks: { current: 1, previous: [] },
  outbox: { current: 1, previous: [] },
  releases: { current: 1, previous: [] },
  // 2: envelopes name their space's roster; rosters and admissions (issue 16)
  mirror: { current: 2, previous: [] },
})

export const PROTOCOL_NAMES = Object.keys(VERSIONS) as ProtocolName[]

/** What a peer speaks of each protocol; tests override single protocols. */
export type VersionTable = Readonly<Record<ProtocolName, Readonly<Spoken>>>

/** VERSIONS with some protocols replaced (a test peer of another version). */
export function versionTable(overrides: Partial<VersionTable> = {}): VersionTable {
  const table = { ...VERSIONS, ...overrides }
  for (const name of PROTOCOL_NAMES) checkSpoken(name, table[name])
  return table
}

/**
 * The version field of a HELLO sent on `/orrery/<name>/<major>.0.0`: the id's major, except where
 * the field predates this policy (sync 1.0.0 has always said 2). A HELLO that says something else
 * comes from a build that changed its wire without changing the id: another version, not a fault.
 */
export function helloVersion(name: ProtocolName, major: number): number {
  return LEGACY_HELLO[name]?.[major] ?? major
}

const LEGACY_HELLO: Partial<Record<ProtocolName, Record<number, number>>> = { sync: { 1: 2 } }

export function protocolId(name: ProtocolName, major: number): string {
  return `/orrery/${name}/${major}.0.0`
}

/** The ids spoken of one protocol, the current first. */
export function spokenIds(name: ProtocolName, spoken: Spoken = VERSIONS[name]): string[] {
  return [spoken.current, ...spoken.previous].map((m) => protocolId(name, m))
}

export interface ParsedProtocolId {
  /** the protocol's name; may be one this build does not know */
  name: string
  major: number
}

const ID =
  /^\/orrery\/([a-z][a-z0-9-]{0,31})\/(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$/

/** Reads an Orrery protocol id (from the network: identify's list). Anything else is an error. */
export function parseProtocolId(id: string): Result<ParsedProtocolId, ProtocolError> {
  const m = ID.exec(id)
  if (m === null) return err(new ProtocolError('MALFORMED_MESSAGE', `not an Orrery protocol id`))
  return ok({ name: m[1] as string, major: Number(m[2]) })
}

/** What a remote peer's protocol list says about one of our protocols. */
export type Agreement =
  /** it speaks a major we speak */
  | 'common'
  /** it speaks this protocol, but only majors we do not */
  | 'other'
  /** it does not speak this protocol at all (a relay has no sync, for one) */
  | 'absent'

/** A stream whose protocol was negotiated, with the major it speaks. */
export interface Negotiated {
  stream: Stream
  major: number
}

/** libp2p's "no protocol in common" (the remote answered `na` to every id offered). */
export function isUnsupportedProtocol(e: unknown): boolean {
  return e instanceof Error && e.name === 'UnsupportedProtocolError'
}

/**
 * One protocol as a service speaks it: every spoken id handled, topologies registered for each,
 * and streams opened offering the current id first. Each stream's major comes with it.
 */
export class VersionedProtocol {
  /** the ids spoken, current first */
  readonly ids: readonly string[]
  private readonly majors: ReadonlyMap<string, number>
  private topologies: string[] = []

  constructor(
    readonly name: ProtocolName,
    readonly spoken: Spoken = VERSIONS[name],
  ) {
    checkSpoken(name, spoken)
    this.ids = spokenIds(name, spoken)
    this.majors = new Map(this.ids.map((id, i) => [id, [spoken.current, ...spoken.previous][i]!]))
  }

  /** the current id (what a peer of this build offers first) */
  get current(): string {
    return this.ids[0] as string
  }

  /** The major of `id` when it is one we speak (a negotiated stream's `protocol`). */
  majorOf(id: string): number | undefined {
    return this.majors.get(id)
  }

  /** Handles every spoken id; the handler learns the major the remote chose. */
  async handle(
    registrar: Registrar,
    handler: (stream: Stream, connection: Connection, major: number) => void | Promise<void>,
    options: Parameters<Registrar['handle']>[2] = {},
  ): Promise<void> {
    for (const id of this.ids) {
      const major = this.majors.get(id) as number
      await registrar.handle(
        id,
        (stream, connection) => handler(stream, connection, major),
        options,
      )
    }
  }

  async unhandle(registrar: Registrar): Promise<void> {
    for (const id of this.ids) await registrar.unhandle(id)
  }

  /**
   * Registers the topology for every spoken id: it hears of a peer that speaks any of them (once
   * per id it lists; callers already ignore a connection they have seen).
   */
  async register(registrar: Registrar, topology: Topology): Promise<void> {
    for (const id of this.ids) this.topologies.push(await registrar.register(id, topology))
  }

  unregister(registrar: Registrar): void {
    for (const t of this.topologies.splice(0)) registrar.unregister(t)
  }

  /**
   * Opens a stream offering the current id first, then the previous ones. Rejects like
   * `newStream` (an UnsupportedProtocolError when the remote speaks none of them).
   */
  async open(connection: Connection, options: NewStreamOptions = {}): Promise<Negotiated> {
    return this.negotiated(await connection.newStream([...this.ids], options))
  }

  /** `open` on a connection the connection manager picks (or dials) to `peer`. */
  async openTo(
    connectionManager: ConnectionManager,
    peer: PeerId,
    options: Parameters<ConnectionManager['openStream']>[2] = {},
  ): Promise<Negotiated> {
    return this.negotiated(await connectionManager.openStream(peer, [...this.ids], options))
  }

  /** Whether a remote protocol list (identify's) shares a major of this protocol with us. */
  agreement(remote: readonly string[]): Agreement {
    return agreement(this.name, this.spoken, remote)
  }

  private negotiated(stream: Stream): Negotiated {
    const major = this.majors.get(stream.protocol)
    if (major !== undefined) return { stream, major }
    // libp2p only returns a stream on an id that was offered: this is a bug, not the remote's
    const e = new ProtocolError('UNSUPPORTED_VERSION', `negotiated ${stream.protocol}`)
    stream.abort(e)
    throw e
  }
}

/** Whether `remote` (a protocol list) speaks a major of `name` that `spoken` has. */
export function agreement(
  name: ProtocolName,
  spoken: Spoken,
  remote: readonly string[],
): Agreement {
  const ours = new Set([spoken.current, ...spoken.previous])
  let listed = false
  for (const id of remote) {
    const parsed = parseProtocolId(id)
    if (!parsed.ok || parsed.value.name !== name) continue
    if (ours.has(parsed.value.major)) return 'common'
    listed = true
  }
  return listed ? 'other' : 'absent'
}

function checkSpoken(name: ProtocolName, spoken: Spoken): void {
  const all = [spoken.current, ...spoken.previous]
  if (!all.every((m) => Number.isInteger(m) && m >= 1))
    throw new RangeError(`${name}: majors must be integers >= 1, got ${all.join(', ')}`)
  if (new Set(all).size !== all.length)
    throw new RangeError(`${name}: a major is listed twice: ${all.join(', ')}`)
  if (spoken.previous.some((m) => m > spoken.current))
    throw new RangeError(`${name}: a previous major above the current one: ${all.join(', ')}`)
}
