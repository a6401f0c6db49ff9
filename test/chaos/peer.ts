/**
 * A peer of the chaos model: the real Repo, StateApi, governance (the space's rules) and
 * Firewall of a tab, over a `DiskPort` to its profile's disk (CoalescingStorage in between, as in
 * the browser). Each boot is a new page: a new libp2p peer id, a new repo loaded from the disk.
 */
import { openShared } from '../shared-key'
import { describeError } from '../../src/core/errors'
import { Firewall, type FirewallConfig } from '../../src/core/firewall/firewall'
import type { Identity } from '../../src/core/identity'
import type { DocId } from '../../src/core/ids'
import type { Governance } from '../../src/core/repo/governance'
import { Repo } from '../../src/core/repo/repo'
import { StateApi } from '../../src/core/state'
import { CoalescingStorage } from '../../src/core/storage/coalescing'
import { issueTabCert, type TabCert } from '../../src/core/tab-cert'
import { DiskPort, ModelDisk, type ModelClock } from './disk'

export interface PeerSetup {
  clock: ModelClock
  firewall: Partial<FirewallConfig>
  docs: DocId[]
  governance: (peer: ModelPeer, id: DocId) => Governance | undefined
}

export class ModelPeer {
  readonly disk = new ModelDisk()
  incarnation = 0
  peerId = ''
  repo!: Repo
  state!: StateApi
  firewall!: Firewall
  port!: DiskPort
  cert!: Promise<TabCert>
  /** booted and not crashed or stopped */
  alive = false

  constructor(
    readonly name: string,
    readonly identity: Identity,
    /** an outsider running its own build (not a member of the space) */
    readonly intruder: boolean,
    private readonly setup: PeerSetup,
  ) {}

  /** A new page load: everything the repo knows comes from the disk. */
  async boot(): Promise<void> {
    this.incarnation++
    this.peerId = `${this.name}.${this.incarnation}`
    this.disk.hold = false // a new page opens the profile's database once its disk caught up
    this.port = new DiskPort(this.disk)
    this.repo = new Repo({
      storage: new CoalescingStorage(this.port),
      tabId: this.peerId,
      governance: (id) => this.setup.governance(this, id),
    })
    this.state = new StateApi(this.repo)
    this.firewall = new Firewall(this.setup.firewall, this.setup.clock)
    this.cert = Promise.resolve(issueTabCert(this.identity, this.peerId, `profile-${this.name}`))
    for (const id of this.setup.docs) await openShared(this.repo, id)
    this.alive = true
  }

  /** SIGKILL: what the disk had not committed is gone; the old page's objects are dropped. */
  crash(): void {
    this.port.kill()
    this.drop()
  }

  /**
   * The page goes away (reload, closed tab) without anyone calling `flush()`: the shell's page-end
   * handler runs `Repo.flushNow`, and IndexedDB commits every transaction it was handed.
   */
  async unload(): Promise<void> {
    this.repo.flushNow()
    this.port.freeze() // no later task of the page runs
    await this.port.release()
    this.port.kill()
    this.drop()
  }

  /** A graceful stop (`OrreryPeer.stop`): everything saved, every document closed. */
  async stop(): Promise<void> {
    await this.port.release()
    await this.repo.flushAll()
    await this.repo.shutdown()
    this.port.kill()
    this.alive = false
  }

  private drop(): void {
    this.alive = false
    // frees the Automerge documents; writes they still attempt go to the dead port
    for (const h of this.repo.openDocs()) {
      try {
        h.close()
      } catch (e) {
        throw new Error(`closing ${h.id} of a dropped page: ${describeError(e)}`, { cause: e })
      }
    }
  }
}
