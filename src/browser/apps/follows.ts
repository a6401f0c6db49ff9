/**
 * Following a developer's app: the user follows an app by its publisher's key and name; new
 * versions signed by that key arrive through the releases service (from the relay that publishes
 * them or from any other follower, over the mesh) and are installed at once; the shell swaps them
 * into the open app. A version may be pinned: it stays mounted and newer ones are only offered.
 * Follows live in the profile's settings (every tab of the profile follows the same apps, told of
 * changes over a BroadcastChannel), and
 * their peers meet in a rendezvous topic so releases also travel follower to follower.
 */
import { appKey, followTopic } from '../../core/apps/topic'
import { Emitter } from '../../core/emitter'
import type { AppManifest } from '../../core/blocks/types'
import { OrreryError } from '../../core/errors'
import { createLogger } from '../../core/log'
import type { OrreryPeer } from '../../core/peer'
import type { OrreryDb } from '../db'
import type { AppInstaller } from './installer'

const log = createLogger('follows')
const SETTING = 'app-follows'

export interface Follow {
  publisher: string
  name: string
  /** the version kept mounted (newer ones are installed but not swapped in) */
  pinned?: string
  /** the newest version installed from this publisher, if any */
  latest?: string
  latestVersion?: string
  /** the newest version's manifest time (releases may finish installing out of order) */
  latestAt?: number
}

export interface Release {
  key: string
  cid: string
  manifest: AppManifest
}

export interface Refusal {
  publisher: string
  name: string
  reason: string
  at: number
}

export class AppFollows {
  readonly events = new Emitter<{ release: Release; refused: Refusal; changed: undefined }>()
  readonly refusals: Refusal[] = []
  private follows = new Map<string, Follow>()
  private channel: BroadcastChannel | undefined

  constructor(
    private readonly db: OrreryDb,
    private readonly peer: OrreryPeer,
    private readonly installer: AppInstaller,
  ) {}

  async start(): Promise<void> {
    await this.reload()
    // the profile's other tabs follow what this one follows (and the other way round)
    this.channel =
      typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(SETTING)
    if (this.channel !== undefined)
      this.channel.onmessage = () =>
        void this.reload().catch((e: unknown) => log.warn('follows did not reload', e))
    const releases = this.peer.node.services.releases
    releases.events.on('release', (r) => void this.arrived(r.key, r.cid, r.manifest))
    releases.events.on('refused', (r) => {
      const refusal = { publisher: r.publisher, name: r.name, reason: r.reason, at: Date.now() }
      this.refusals.push(refusal)
      if (this.refusals.length > 50) this.refusals.shift()
      log.warn(`refused a version of ${r.name}: ${r.reason}`)
      this.events.emit('refused', refusal)
    })
  }

  /** Reads the follows from the profile's settings and (un)subscribes what changed. */
  private async reload(): Promise<void> {
    const row = await this.db.settings.get(SETTING)
    const stored = new Map(((row?.value as Follow[] | undefined) ?? []).map((f) => [appKey(f), f]))
    for (const [key, f] of this.follows) if (!stored.has(key)) this.unsubscribe(f)
    for (const [key, f] of stored) if (!this.follows.has(key)) this.subscribe(f)
    const changed = this.follows.size > 0 || stored.size > 0
    this.follows = stored
    if (changed) this.events.emit('changed', undefined)
  }

  list(): Follow[] {
    return [...this.follows.values()].map((f) => ({ ...f }))
  }

  get(publisher: string, name: string): Follow | undefined {
    return this.follows.get(appKey({ publisher, name }))
  }

  async follow(publisher: string, name: string): Promise<void> {
    const key = appKey({ publisher, name })
    if (this.follows.has(key)) return
    const f: Follow = { publisher, name }
    this.subscribe(f) // the releases service refuses a key or name that cannot be (INVALID_VALUE)
    this.follows.set(key, f)
    await this.save()
  }

  async unfollow(publisher: string, name: string): Promise<void> {
    const key = appKey({ publisher, name })
    const f = this.follows.get(key)
    if (f === undefined) return
    this.follows.delete(key)
    this.unsubscribe(f)
    await this.save()
  }

  /** Keeps `cid` mounted (undefined: follow the newest again). */
  async pin(publisher: string, name: string, cid: string | undefined): Promise<void> {
    const f = this.follows.get(appKey({ publisher, name }))
    if (f === undefined) throw new OrreryError('INVALID_VALUE', `${name} is not followed`)
    if (cid === undefined) delete f.pinned
    else f.pinned = cid
    await this.save()
  }

  private subscribe(f: Follow): void {
    this.peer.node.services.releases.follow(f.publisher, f.name)
    this.peer.node.services.discovery.addTopic(followTopic(f.publisher, f.name))
  }

  private unsubscribe(f: Follow): void {
    this.peer.node.services.releases.unfollow(f.publisher, f.name)
    this.peer.node.services.discovery.removeTopic(followTopic(f.publisher, f.name))
  }

  private async arrived(key: string, cid: string, manifest: AppManifest): Promise<void> {
    const f = this.follows.get(key)
    // the service checks this already; the shell does not swap in what it did not ask for
    if (f === undefined || manifest.publisher !== f.publisher || manifest.name !== f.name) return
    try {
      await this.installer.install(cid, { timeoutMs: 15_000 })
    } catch (e) {
      log.warn(`version ${cid} of ${f.name} could not be installed`, e)
      return
    }
    if ((f.latestAt ?? 0) > manifest.createdAt) return
    f.latest = cid
    f.latestVersion = manifest.appVersion
    f.latestAt = manifest.createdAt
    await this.save()
    this.events.emit('release', { key, cid, manifest })
  }

  private async save(): Promise<void> {
    await this.db.settings.put({ key: SETTING, value: this.list() })
    this.channel?.postMessage('changed')
    this.events.emit('changed', undefined)
  }
}
