/**
 * L0 of the chaos suite: an in-memory network model over the real core. Peers are real repos
 * (see peer.ts); between two peers run two real `SyncSession`s whose messages travel through
 * model streams (stream.ts), so the schedule decides every delivery: in order, dropped,
 * duplicated, reordered, or lost with a partition or a crash. After the schedule everything is
 * healed and delivered until the network is quiet; then the invariants are checked:
 *
 * - convergence: every honest peer holds the same heads and the same value of every document;
 * - no acknowledged write lost: every `set` that resolved is present at every peer, except what a
 *   crashed (SIGKILLed) page had not `flush()`ed — what README/ARCHITECTURE promise;
 * - only member-signed changes admitted to the governed document (an outsider keeps writing);
 * - rate limits hold: no peer's session hands the repo more writes than the firewall's budget
 *   (burst + rate × time) allows, checked at every delivery.
 */
import { am } from '../../src/core/automerge'
import { seedSigner } from '../../src/core/signer'
import { splitChunks } from '../../src/core/chunks'
import { ok } from '../../src/core/errors'
import type { Firewall, FirewallConfig } from '../../src/core/firewall/firewall'
import { identityFromSeed } from '../../src/core/identity'
import { newDocId, type DocId } from '../../src/core/ids'
import { createLogger } from '../../src/core/log'
import type { Governance } from '../../src/core/repo/governance'
import { docGovernance } from '../../src/core/spaces/governance'
import type { SpaceState } from '../../src/core/spaces/model'
import { decodeSyncFrame, encodeSyncFrame, MAX_SYNC_MESSAGE } from '../../src/core/sync/messages'
import { SyncSession } from '../../src/core/sync/session'
import type { FramedStream } from '../../src/core/wire/framed-stream'
import { VERSIONS } from '../../src/core/wire/versions'
import type { Connection } from '@libp2p/interface'
import { ModelClock } from './disk'
import { ChaosViolation, chaosSpace, checkInvariants, type Write } from './invariants'
import { ModelPeer } from './peer'
import { ModelStream } from './stream'

const syncLog = createLogger('sync')

export interface NetOptions {
  honest: number
  intruder: boolean
  firewall?: Partial<FirewallConfig>
}

interface Link {
  a: ModelPeer
  b: ModelPeer
  ends: [ModelStream, ModelStream]
  /** a message was dropped: a real transport would have broken the connection */
  lossy: boolean
}

/** Per receiving firewall and sending peer: writes handed to the repo, since when. */
interface Spent {
  since: number
  writes: number
}

/** A run's figures before anything happened. */
export const noFigures = (): RunFigures => ({
  deliveries: 0,
  dropped: 0,
  duplicated: 0,
  reordered: 0,
  crashes: 0,
  reloads: 0,
  restarts: 0,
  acked: 0,
  lost: 0,
  unpromisedLost: 0,
  throttled: 0,
  convergeWallMs: 0,
  convergeModelMs: 0,
})

export interface RunFigures {
  deliveries: number
  dropped: number
  duplicated: number
  reordered: number
  crashes: number
  reloads: number
  restarts: number
  acked: number
  /** acknowledged writes missing at some peer after healing (must be 0) */
  lost: number
  unpromisedLost: number
  throttled: number
  convergeWallMs: number
  convergeModelMs: number
}

export const FIREWALL: Partial<FirewallConfig> = { writesPerSecond: 20, burstWrites: 40 }

let connections = 0

export class ModelNet {
  readonly clock = new ModelClock()
  readonly peers: ModelPeer[] = []
  readonly docs: { free: DocId; governed: DocId }
  readonly writes: Write[] = []
  /** a readable account of what happened, for a failure's message */
  readonly trace: string[] = []
  private readonly links = new Map<string, Link>()
  private readonly blocked = new Set<string>()
  private readonly spent = new WeakMap<Firewall, Map<string, Spent>>()
  private readonly space: SpaceState
  private readonly spaceId = newDocId()
  private nextWrite = 0
  private intruderWrites = 0
  readonly figures: RunFigures = noFigures()

  private constructor(opts: NetOptions) {
    this.docs = { free: newDocId(), governed: newDocId() }
    const seed = (n: number): Uint8Array => new Uint8Array(32).fill(n + 1)
    const setup = {
      clock: this.clock,
      firewall: { ...FIREWALL, ...opts.firewall },
      docs: [this.docs.free, this.docs.governed],
      governance: (p: ModelPeer, id: DocId) => this.governanceFor(p, id),
    }
    for (let i = 0; i < opts.honest; i++)
      this.peers.push(new ModelPeer(`p${i}`, identityFromSeed(seed(i), 0), false, setup))
    if (opts.intruder)
      this.peers.push(new ModelPeer('x', identityFromSeed(seed(99), 0), true, setup))
    // the space of the governed document: p0 its admin, every other honest peer a writer
    const [admin, ...writers] = this.honest.map((p) => p.identity)
    this.space = chaosSpace(this.spaceId, admin!, writers)
  }

  static async create(opts: NetOptions): Promise<ModelNet> {
    const net = new ModelNet(opts)
    for (const p of net.peers) await p.boot()
    for (const [a, b] of net.pairs()) net.connect(a, b)
    await net.settle()
    return net
  }

  get honest(): ModelPeer[] {
    return this.peers.filter((p) => !p.intruder)
  }

  get intruder(): ModelPeer | undefined {
    return this.peers.find((p) => p.intruder)
  }

  private governanceFor(p: ModelPeer, id: DocId): Governance | undefined {
    if (id !== this.docs.governed) return undefined
    if (p.intruder) {
      // the outsider's own build: it writes and signs whatever it likes, and takes everything
      return {
        mayWriteLocally: () => ok(undefined),
        admit: () => ok(undefined),
        signer: () => seedSigner(p.identity),
      }
    }
    return docGovernance(id, {
      spaceId: this.spaceId,
      state: () => this.space,
      identity: () => p.identity,
    })
  }

  private pairs(): [ModelPeer, ModelPeer][] {
    const out: [ModelPeer, ModelPeer][] = []
    for (let i = 0; i < this.peers.length; i++)
      for (let j = i + 1; j < this.peers.length; j++) out.push([this.peers[i]!, this.peers[j]!])
    return out
  }

  private key(a: ModelPeer, b: ModelPeer): string {
    return [a.name, b.name].sort().join('|')
  }

  // ---- connections -------------------------------------------------------------------------

  private live(l: Link | undefined): l is Link {
    return l !== undefined && !l.ends[0].ended && !l.ends[1].ended
  }

  /** A direct connection with a sync session on each end (`a` dials). */
  connect(a: ModelPeer, b: ModelPeer): void {
    const k = this.key(a, b)
    if (!a.alive || !b.alive || this.blocked.has(k) || this.live(this.links.get(k))) return
    this.links.get(k)?.ends.forEach((e) => e.reset())
    const ends = ModelStream.pair()
    const id = `c${++connections}`
    const session = (me: ModelPeer, other: ModelPeer, end: ModelStream): SyncSession =>
      new SyncSession({
        framed: end as unknown as FramedStream,
        maxMessage: MAX_SYNC_MESSAGE,
        connection: { remotePeer: { toString: () => other.peerId }, id } as unknown as Connection,
        version: VERSIONS.sync.current,
        repo: me.repo,
        cert: me.cert,
        log: syncLog,
        onClose: () => undefined,
        localPeerId: me.peerId,
        firewall: me.firewall,
      })
    const sa = session(a, b, ends[0])
    const sb = session(b, a, ends[1])
    this.links.set(k, { a, b, ends, lossy: false })
    void sa.run()
    void sb.run()
    this.trace.push(`connect ${a.peerId} ${b.peerId}`)
  }

  private resetLinksOf(p: ModelPeer): void {
    for (const [k, l] of this.links) {
      if (l.a !== p && l.b !== p) continue
      l.ends.forEach((e) => e.reset())
      this.links.delete(k)
    }
  }

  partition(a: ModelPeer, b: ModelPeer): void {
    const k = this.key(a, b)
    this.blocked.add(k)
    this.links.get(k)?.ends.forEach((e) => e.reset())
    this.links.delete(k)
  }

  heal(a: ModelPeer, b: ModelPeer): void {
    this.blocked.delete(this.key(a, b))
    this.connect(a, b)
  }

  /** Ends that have messages waiting, in a stable order (the schedule picks among them). */
  private waiting(): ModelStream[] {
    const out: ModelStream[] = []
    for (const k of [...this.links.keys()].sort()) {
      const l = this.links.get(k) as Link
      for (const e of l.ends) if (e.deliverable) out.push(e)
    }
    return out
  }

  /** `p0.1→p1.1 sync 3 changes` (for a failure's message) */
  private describe(end: ModelStream): string {
    const l = this.linkOf(end)
    const m = end.inbox[0]
    if (l === undefined || m === undefined) return '?'
    const to = end === l.ends[0] ? l.a : l.b
    const from = to === l.a ? l.b : l.a
    const f = decodeSyncFrame(m)
    const what = !f.ok
      ? 'garbage'
      : f.value.type === 'sync'
        ? `sync ${am().decodeSyncMessage(f.value.message).changes.length}ch`
        : f.value.type
    return `${from.peerId}→${to.peerId} ${what}`
  }

  private linkOf(end: ModelStream): Link | undefined {
    for (const l of this.links.values()) if (l.ends.includes(end)) return l
    return undefined
  }

  /** Positions of SYNC messages in an end's inbox (only those are dropped, copied or moved). */
  private syncFrames(end: ModelStream): number[] {
    const out: number[] = []
    end.inbox.forEach((m, i) => {
      const f = decodeSyncFrame(m)
      if (f.ok && f.value.type === 'sync') out.push(i)
    })
    return out
  }

  // ---- deliveries ----------------------------------------------------------------------------

  /** Delivers up to `count` messages, each from the end `pick` chooses among those waiting. */
  async deliver(pick: number, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const ends = this.waiting()
      if (ends.length === 0) break
      this.deliverOne(ends[(pick + i) % ends.length] as ModelStream, 0)
      await this.settle()
    }
  }

  private deliverOne(end: ModelStream, index: number): void {
    const link = this.linkOf(end)
    const m = end.inbox[index]
    if (link === undefined || m === undefined) return
    const receiver = end === link.ends[0] ? link.a : link.b
    const sender = receiver === link.a ? link.b : link.a
    const cost = writesIn(m)
    if (cost !== undefined) this.checkBudget(receiver, sender.peerId, cost)
    end.deliver(index)
    this.figures.deliveries++
  }

  /**
   * The firewall's promise, checked from outside: before a message reaches the repo, the writes
   * this sender already handed it fit within burst + rate × the time since its first message.
   */
  private checkBudget(receiver: ModelPeer, sender: string, cost: number): void {
    let perSender = this.spent.get(receiver.firewall)
    if (perSender === undefined)
      this.spent.set(receiver.firewall, (perSender = new Map<string, Spent>()))
    const now = this.clock.now()
    const s = perSender.get(sender) ?? { since: now, writes: 0 }
    perSender.set(sender, s)
    const cfg = receiver.firewall.config
    const budget = cfg.burstWrites + (cfg.writesPerSecond * (now - s.since)) / 1000
    if (s.writes > budget + 1e-6)
      throw new ChaosViolation(
        `rate limit: ${receiver.peerId} let ${sender} hand its repo ${s.writes} writes in ${now - s.since} ms (budget ${budget})`,
      )
    s.writes += cost
  }

  drop(pick: number): void {
    const end = this.pickWithSync(pick)
    if (end === undefined) return
    const frames = this.syncFrames(end)
    end.inbox.splice(frames[pick % frames.length] as number, 1)
    const link = this.linkOf(end)
    if (link !== undefined) link.lossy = true
    this.figures.dropped++
  }

  duplicate(pick: number): void {
    const end = this.pickWithSync(pick)
    if (end === undefined) return
    const frames = this.syncFrames(end)
    const at = frames[pick % frames.length] as number
    end.inbox.splice(at + 1, 0, (end.inbox[at] as Uint8Array).slice())
    this.figures.duplicated++
  }

  /** A SYNC message overtaken by everything sent after it. */
  reorder(pick: number): void {
    const end = this.pickWithSync(pick)
    if (end === undefined) return
    const frames = this.syncFrames(end)
    const at = frames[pick % frames.length] as number
    if (at === end.inbox.length - 1) return
    const [m] = end.inbox.splice(at, 1)
    end.inbox.push(m as Uint8Array)
    this.figures.reordered++
  }

  private pickWithSync(pick: number): ModelStream | undefined {
    const ends = this.waiting().filter((e) => this.syncFrames(e).length > 0)
    return ends[pick % Math.max(1, ends.length)]
  }

  /** Lets the peers' tasks, microtasks and storage callbacks run until nothing is left to do now. */
  async settle(): Promise<void> {
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setImmediate(r))
      for (const l of this.links.values()) for (const e of l.ends) e.tidy()
    }
  }

  wait(ms: number): void {
    this.clock.advance(ms)
  }

  // ---- edits -------------------------------------------------------------------------------

  /** `n` sets in one task: a write to a key of its own (recorded) and to a shared key. */
  async edit(p: ModelPeer, governed: boolean, n: number, shared: number, del: boolean) {
    const doc = governed ? this.docs.governed : this.docs.free
    for (let i = 0; i < n; i++) {
      const key = `${p.name}-${++this.nextWrite}`
      await p.state.set(`/${doc}/w/${key}`, key)
      this.writes.push({ doc, key, writer: p.name, status: 'acked' })
      if (del) await p.state.delete(`/${doc}/s/k${shared}`)
      else await p.state.set(`/${doc}/s/k${shared}`, key)
    }
  }

  /** `n` changes, each in a task of its own (a burst of separate messages). */
  async burst(p: ModelPeer, governed: boolean, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await this.edit(p, governed, 1, i % 4, false)
      await new Promise((r) => setImmediate(r))
    }
  }

  /** The outsider writes `n` changes to the governed document, each in a task of its own. */
  async intrude(n: number): Promise<void> {
    const x = this.intruder
    if (x === undefined) return
    for (let i = 0; i < n; i++) {
      await x.state.set(`/${this.docs.governed}/x/${++this.intruderWrites}`, 'intruder')
      await x.state.set(`/${this.docs.governed}/s/k0`, 'intruder')
      await new Promise((r) => setImmediate(r))
    }
  }

  /**
   * The outsider's client ignores the protocol's pacing: `n` SYNC messages at once to every peer
   * it is connected to (empty ones: each still costs a write at the firewall).
   */
  flood(n: number): void {
    const x = this.intruder
    if (x === undefined) return
    const message = am().encodeSyncMessage({ heads: [], need: [], have: [], changes: [] })
    const frame = encodeSyncFrame({ type: 'sync', docId: this.docs.governed, message, sigs: [] })
    for (const l of this.links.values()) {
      const own = l.a === x ? l.ends[0] : l.b === x ? l.ends[1] : undefined
      for (let i = 0; i < n && own !== undefined; i++) own.send(frame)
    }
  }

  // ---- disks and page lifetimes -----------------------------------------------------------

  stall(p: ModelPeer): void {
    p.disk.hold = true
  }

  /** `flush()`: resolves once everything so far is on disk (the disk catches up meanwhile). */
  async flush(p: ModelPeer): Promise<void> {
    const before = this.writes.filter((w) => w.writer === p.name && w.status === 'acked')
    const done = p.state.flush()
    await p.port.release()
    await done
    for (const w of before) w.status = 'durable'
  }

  /** SIGKILL and a new page. Writes its page never flushed were promised nothing. */
  async crash(p: ModelPeer): Promise<void> {
    this.resetLinksOf(p)
    p.crash()
    for (const w of this.writes) if (w.writer === p.name && w.status === 'acked') w.status = 'maybe'
    this.figures.crashes++
    await this.reboot(p)
  }

  /** The page goes away without `flush()` (reload, closed tab) and comes back. */
  async reload(p: ModelPeer): Promise<void> {
    await p.unload()
    this.resetLinksOf(p)
    this.figures.reloads++
    await this.reboot(p)
  }

  /** A graceful stop and start. */
  async restart(p: ModelPeer): Promise<void> {
    await p.stop()
    this.resetLinksOf(p)
    for (const w of this.writes)
      if (w.writer === p.name && w.status === 'acked') w.status = 'durable'
    this.figures.restarts++
    await this.reboot(p)
  }

  private async reboot(p: ModelPeer): Promise<void> {
    this.trace.push(`${p.name} down at incarnation ${p.incarnation}`)
    await p.boot()
    for (const o of this.peers) if (o !== p) this.connect(p, o)
    await this.settle()
  }

  // ---- the end ----------------------------------------------------------------------------

  /**
   * Heals every partition, lets every disk catch up, replaces connections that lost a message
   * (a real transport would have broken them), then delivers until the network is quiet.
   */
  async healAndSettle(maxSteps = 20_000): Promise<void> {
    this.blocked.clear()
    for (const p of this.peers) await p.port.release()
    for (const [k, l] of [...this.links])
      if (l.lossy) {
        l.ends.forEach((e) => e.reset())
        this.links.delete(k)
      }
    await this.settle()
    const wall = performance.now()
    const model = this.clock.now()
    for (const [a, b] of this.pairs()) this.connect(a, b)
    let quiet = 0
    const recent: string[] = []
    for (let step = 0; step < maxSteps && quiet < 2; step++) {
      await this.settle()
      const ends = this.waiting()
      if (ends.length > 0) {
        quiet = 0
        for (const e of ends) {
          if (step > maxSteps - 50) recent.push(this.describe(e))
          this.deliverOne(e, 0)
        }
        continue
      }
      const wake = this.clock.nextWake()
      if (wake !== undefined) {
        quiet = 0
        this.clock.advance(wake)
        continue
      }
      // a session still handling a message without waiting for the firewall (a whole document
      // being measured: the DEFLATE counter yields to the event loop between slices)
      if ([...this.links.values()].some((l) => l.ends.some((e) => e.busy && !e.ended))) {
        quiet = 0
        await new Promise((r) => setTimeout(r, 2))
        continue
      }
      quiet++
    }
    if (quiet < 2)
      throw new ChaosViolation(
        `the network was not quiet after ${maxSteps} steps; the last deliveries: ${recent.slice(-30).join(', ')}`,
      )
    this.figures.convergeWallMs = performance.now() - wall
    this.figures.convergeModelMs = this.clock.now() - model
  }

  /** Every invariant; throws a ChaosViolation naming the first that fails. */
  async check(): Promise<void> {
    await checkInvariants(
      this.honest.map((p) => ({ label: p.peerId, repo: p.repo, state: p.state })),
      this.writes,
      this.docs,
      this.honest.map((p) => p.identity.id),
      this.figures,
    )
    this.figures.throttled = this.peers.reduce(
      (n, p) => n + Object.values(p.firewall.stats()).reduce((m, s) => m + s.throttled, 0),
      0,
    )
  }

  /** Drops every page (the run is over). */
  dispose(): void {
    for (const l of this.links.values()) l.ends.forEach((e) => e.reset())
    this.links.clear()
    for (const p of this.peers) if (p.alive) p.crash()
  }
}

/**
 * The writes a message costs at the firewall, as the session counts them: HELLO and INTEREST one
 * each, a SYNC message its chunks (at least one); undefined for what is not charged.
 */
function writesIn(m: Uint8Array): number | undefined {
  const f = decodeSyncFrame(m)
  if (!f.ok || f.value.type === 'goodbye') return undefined
  if (f.value.type !== 'sync') return 1
  let n = 0
  for (const c of am().decodeSyncMessage(f.value.message).changes) {
    const chunks = splitChunks(c, false)
    n += chunks.ok ? chunks.value.length : 1
  }
  return Math.max(1, n)
}
