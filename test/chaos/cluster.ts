/**
 * L1 of the chaos suite: full Orrery peers (libp2p, the real sync service, firewall and repo)
 * over `@libp2p/memory` with latency, so messages are in flight when a peer is killed. Each
 * peer's disk is a `ModelDisk` (disk.ts): a killed peer loses what its disk had not committed
 * and comes back as a new tab (new peer id) on the same disk.
 */
import { openShared } from '../shared-key'
import { memory } from '@libp2p/memory'
import { seedSigner } from '../../src/core/signer'
import { ok } from '../../src/core/errors'
import type { Identity } from '../../src/core/identity'
import type { DocId } from '../../src/core/ids'
import { createPeer, type OrreryPeer } from '../../src/core/peer'
import type { Governance } from '../../src/core/repo/governance'
import { Repo } from '../../src/core/repo/repo'
import { docGovernance } from '../../src/core/spaces/governance'
import type { SpaceState } from '../../src/core/spaces/model'
import { CoalescingStorage } from '../../src/core/storage/coalescing'
import { DiskPort, ModelDisk } from './disk'
export { mulberry32 } from './random'

let counter = 0

export interface ClusterDocs {
  free: DocId
  governed: DocId
  spaceId: string
  space: SpaceState
}

export class ClusterPeer {
  readonly disk = new ModelDisk()
  /** peer ids this peer refuses to talk to (a partition) */
  readonly blocked = new Set<string>()
  peer!: OrreryPeer
  port!: DiskPort
  incarnation = 0
  alive = false

  constructor(
    readonly name: string,
    readonly identity: Identity,
    readonly intruder: boolean,
    private readonly docs: ClusterDocs,
    private readonly latency: number,
  ) {}

  get id(): string {
    return this.peer.id
  }

  private governance(id: DocId): Governance | undefined {
    if (id !== this.docs.governed) return undefined
    if (this.intruder)
      return {
        mayWriteLocally: () => ok(undefined),
        admit: () => ok(undefined),
        signer: () => seedSigner(this.identity),
      }
    return docGovernance(id, {
      spaceId: this.docs.spaceId,
      state: () => this.docs.space,
      identity: () => this.identity,
    })
  }

  async boot(): Promise<void> {
    this.incarnation++
    this.disk.hold = false
    this.port = new DiskPort(this.disk)
    const storage = new CoalescingStorage(this.port)
    const repo = new Repo({
      storage,
      tabId: `${this.name}.${this.incarnation}`,
      governance: (id) => this.governance(id),
    })
    this.peer = await createPeer({
      identity: this.identity,
      storage,
      repo,
      profileId: `profile-${this.name}`,
      transports: [memory({ latency: this.latency })],
      listen: [`/memory/chaos-${process.pid}-${++counter}`],
      connectionGater: {
        denyDialPeer: (p) => this.blocked.has(p.toString()),
        denyInboundEncryptedConnection: (p) => this.blocked.has(p.toString()),
      },
    })
    await openShared(repo, this.docs.free)
    await openShared(repo, this.docs.governed)
    this.alive = true
  }

  /** SIGKILL mid-sync: the disk keeps only what it committed; connections drop. */
  async kill(): Promise<void> {
    this.alive = false
    this.port.kill()
    for (const h of this.peer.repo.openDocs()) h.close()
    await this.peer.node.stop()
  }

  async dial(other: ClusterPeer): Promise<void> {
    if (!this.alive || !other.alive || this.blocked.has(other.id) || other.blocked.has(this.id))
      return
    try {
      await this.peer.node.dial(other.peer.node.getMultiaddrs())
    } catch {
      // a racing kill or partition; the final heal connects everyone
    }
  }

  async cut(other: ClusterPeer): Promise<void> {
    this.blocked.add(other.id)
    other.blocked.add(this.id)
    await this.peer.node.hangUp(other.peer.node.peerId).catch(() => undefined)
    await other.peer.node.hangUp(this.peer.node.peerId).catch(() => undefined)
  }
}
