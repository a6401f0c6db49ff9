/**
 * Boot of a tab's peer, ordered to reach other peers fastest: the network starts at once (a tab
 * key needs nothing from disk) while the Automerge wasm and the profile (IndexedDB) load in
 * parallel; sync hellos wait for the identity, documents for the wasm. Each step reports progress
 * for the shell, which painted before any of this.
 */
import { parseDocId } from '../core/ids'
import { createLogger } from '../core/log'
import type { OrreryPeer } from '../core/peer'
import { Pulse } from '../core/pulse'
import { BroadcastTabBus, type TabBus } from '../core/tabs/bus'
import { mark } from '../core/timings'
import { loadAutomergeWeb } from './automerge-web'
import { OrreryDb } from './db'
import { DexieStorageAdapter } from './dexie-storage'
import { loadOrCreateProfile } from './identity-store'
import { createBrowserPeer, readRelayInfo, relayAddress, RelayLink } from './network'

const log = createLogger('boot')

export interface Booted {
  peer: OrreryPeer
  db: OrreryDb
  bus: TabBus
  relay: RelayLink
  pulse: Pulse
  profileId: string
}

export type BootReporter = (step: string, done: number, total: number) => void

export async function boot(report: BootReporter): Promise<Booted> {
  const total = 4
  let done = 0
  const finished = <T>(what: string, p: Promise<T>): Promise<T> =>
    p.then((v) => {
      mark(what)
      report(`loaded ${what}`, ++done, total)
      return v
    })
  report('starting', done, total)
  const db = new OrreryDb()
  const profile = finished('profile', loadOrCreateProfile(db))
  const wasm = finished('wasm', loadAutomergeWeb())
  const relayInfo = await finished('relay-info', readRelayInfo())
  // BroadcastChannel is scoped to the browser profile already: every tab of it hears this one.
  const bus = new BroadcastTabBus('orrery-tabs')
  const peer = await createBrowserPeer({
    identity: profile.then((p) => p.identity),
    profileId: profile.then((p) => p.profileId),
    storage: new DexieStorageAdapter(db),
    bus,
    relay: relayInfo,
  })
  mark('libp2p-started')
  report('connecting', ++done, total)
  const relay = new RelayLink(peer, relayAddress(relayInfo), relayInfo.peerId)
  relay.start()
  // The document in the address bar starts opening now: its topic goes to the relay as soon as
  // the relay link is up, while the wasm and the profile are still loading.
  const linked = /^#\/doc\/([^/?#]+)/.exec(location.hash)?.[1]
  if (linked !== undefined && parseDocId(linked).ok) peer.repo.open(linked).catch(() => undefined)
  const pulse = new Pulse(peer.node as never)
  pulse.start()
  const [p] = await Promise.all([profile, wasm])
  log.info(`tab ${peer.id} of ${p.identity.id}`)
  return { peer, db, bus, relay, pulse, profileId: p.profileId }
}
