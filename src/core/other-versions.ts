/**
 * Remote peers that run another version of Orrery: for some protocol they speak only majors we do
 * not (identify's protocol list says so, a negotiation found nothing in common, or a HELLO named
 * another version on an id we share). Such a peer is not at fault: nothing here strikes or bans;
 * the UI says "this peer runs another version of Orrery". Kept per connected peer only.
 */
import { Emitter } from './emitter'
import { createLogger } from './log'
import {
  agreement,
  parseProtocolId,
  PROTOCOL_NAMES,
  spokenIds,
  type VersionTable,
} from './wire/versions'

const log = createLogger('versions')

/** The most Orrery ids kept per peer (what it offers, from identify). */
const MAX_OFFERS = 32

export interface OtherVersion {
  /** the Orrery protocol ids the peer offers (from identify; empty until it has run) */
  offers: string[]
  /** why we think so, e.g. "speaks /orrery/sync/3.0.0, we speak /orrery/sync/1.0.0" */
  reason: string
}

export class OtherVersions {
  readonly events = new Emitter<{ changed: string }>()
  /** what each connected peer offers, from its latest identify */
  private readonly offers = new Map<string, string[]>()
  private readonly other = new Map<string, OtherVersion>()

  constructor(private readonly table: VersionTable) {}

  /** Identify ran with `peer`: what it speaks may show another version. */
  identified(peer: string, protocols: readonly string[]): void {
    const offers = protocols.filter((p) => parseProtocolId(p).ok).slice(0, MAX_OFFERS)
    this.offers.set(peer, offers)
    const known = this.other.get(peer)
    if (known !== undefined) {
      known.offers = offers
      this.events.emit('changed', peer)
      return
    }
    for (const name of PROTOCOL_NAMES) {
      if (agreement(name, this.table[name], offers) !== 'other') continue
      const theirs = offers.filter((p) => p.startsWith(`/orrery/${name}/`))
      const ours = spokenIds(name, this.table[name])
      this.note(peer, `speaks ${theirs.join(', ')}, we speak ${ours.join(', ')}`)
      return
    }
  }

  /** `peer` runs another version (a negotiation or a HELLO showed it); the first reason stays. */
  note(peer: string, reason: string): void {
    if (this.other.has(peer)) return
    this.other.set(peer, { offers: this.offers.get(peer) ?? [], reason })
    log.info(`peer …${peer.slice(-8)} runs another version of Orrery: ${reason}`)
    this.events.emit('changed', peer)
  }

  /** The peer is gone (its last connection closed). */
  forget(peer: string): void {
    this.offers.delete(peer)
    if (this.other.delete(peer)) this.events.emit('changed', peer)
  }

  /** What we know when `peer` runs another version, else undefined. */
  get(peer: string): OtherVersion | undefined {
    const o = this.other.get(peer)
    return o === undefined ? undefined : { offers: [...o.offers], reason: o.reason }
  }

  /** Peers known to run another version. */
  peers(): string[] {
    return [...this.other.keys()]
  }
}
