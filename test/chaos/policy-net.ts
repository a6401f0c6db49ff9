/**
 * The policy model's network: 3–5 peers, each holding the same space (a real Automerge space
 * document) and one data document of it. Every change a peer makes is signed with its identity;
 * every change that reaches a peer goes through the admit path a real tab uses
 * (`checkSignatures`, then the space's `Governance.admit`: `replaySpaceChanges` for the space
 * document, `mayWriteDoc` for the data document) before it is applied. Nothing of the policy is
 * re-implemented here.
 *
 * What is simplified (and why it is enough for the policy): changes travel one at a time, in an
 * order where each comes after its dependencies (a batch of N changes is judged change by change
 * in `replaySpaceChanges` anyway); a change that is refused is offered again at every later
 * delivery (real peers send it again at every sync); a change whose dependencies are missing is
 * held until they arrive. No sync protocol, no storage, no firewall: chaos L0 covers those.
 */
import { am, type AutomergeDoc } from '../../src/core/automerge'
import { type Result } from '../../src/core/errors'
import { identityFromSeed, type Identity } from '../../src/core/identity'
import { newDocIdIn, newSpaceId, type DocId } from '../../src/core/ids'
import { checkSignatures, signChange, type Governance } from '../../src/core/repo/governance'
import { docGovernance, spaceGovernance } from '../../src/core/spaces/governance'
import { readSpace, type SpaceState } from '../../src/core/spaces/model'
import type { ChangeSignature } from '../../src/core/sync/messages'
import { normalizeMaterialized } from '../../src/core/values'

export type DocKind = 'space' | 'data'

/** Every change the model made, honest or not (the global record the invariants read). */
export interface Made {
  hash: string
  doc: DocKind
  author: string
  actor: string
  seq: number
  deps: string[]
  bytes: Uint8Array
  sig: ChangeSignature
  /** the command that made it (for messages) */
  what: string
  /** made outside its author's own replica (a modified build): no honest peer should take it */
  injected: boolean
}

/** The model clock starts a day back so that joins dated by it are never in the future. */
export const T0 = Date.now() - 24 * 3600 * 1000
export const STEP_MS = 60_000

let forks = 0

export class PolicyPeer {
  readonly space: AutomergeDoc
  readonly data: AutomergeDoc
  readonly sigs = new Map<string, ChangeSignature>()
  /** hash → the net's tick when this peer admitted (or made) it */
  readonly admitted = new Map<string, number>()
  /** did → the tick this peer first saw them removed */
  readonly removalSeen = new Map<string, number>()
  private readonly spaceGov: Governance
  private readonly dataGov: Governance
  private cached: SpaceState | undefined
  /** hash → the space heads it was refused at, and why: the verdict only depends on those */
  private readonly refusals = new Map<string, { heads: string; why: string }>()

  /** `from`: a peer of another net whose replicas and records this one starts with (copies) */
  constructor(
    readonly index: number,
    readonly identity: Identity,
    private readonly net: PolicyNet,
    from?: PolicyPeer,
  ) {
    const actor = (index + 1).toString(16).padStart(2, '0').repeat(16)
    this.space = from === undefined ? am().create({ actor }) : from.space.clone(actor)
    this.data = from === undefined ? am().create({ actor }) : from.data.clone(actor)
    for (const [k, v] of from?.sigs ?? []) this.sigs.set(k, v)
    for (const [k, v] of from?.admitted ?? []) this.admitted.set(k, v)
    for (const [k, v] of from?.removalSeen ?? []) this.removalSeen.set(k, v)
    const ctx = {
      spaceId: net.spaceId,
      state: () => this.state(),
      identity: () => this.identity,
    }
    this.spaceGov = spaceGovernance(ctx, () => true)
    this.dataGov = docGovernance(net.dataId, ctx)
  }

  get name(): string {
    return `p${this.index}`
  }

  doc(kind: DocKind): AutomergeDoc {
    return kind === 'space' ? this.space : this.data
  }

  /** The space as this peer's document reads now. */
  state(): SpaceState {
    this.cached ??= readSpace(normalizeMaterialized(this.space.materialize('/')), this.net.spaceId)
    return this.cached
  }

  /** The space as of `heads` of this peer's document. */
  stateAt(heads: string[]): SpaceState {
    return readSpace(normalizeMaterialized(this.space.materialize('/', heads)), this.net.spaceId)
  }

  has(hash: string): boolean {
    return this.admitted.has(hash)
  }

  /** A local write, committed and signed (what a tab's flush does). */
  write(kind: DocKind, what: string, edit: (doc: AutomergeDoc) => void): Made | undefined {
    const doc = this.doc(kind)
    edit(doc)
    const hash = doc.commit()
    if (hash === null) return undefined
    const bytes = doc.getLastLocalChange()
    if (bytes === null) throw new Error('a committed change has no bytes')
    const made = this.net.record(kind, bytes, this.identity, what, false)
    this.take(made)
    return made
  }

  /** A change made on a copy of this peer's document by a modified build (never applied here). */
  forge(
    kind: DocKind,
    what: string,
    edit: (doc: AutomergeDoc) => void,
    as: Identity = this.identity,
  ): Made | undefined {
    const fork = this.doc(kind).fork((0xf0000 + ++forks).toString(16).padStart(32, '0'))
    try {
      edit(fork)
      if (fork.commit() === null) return undefined
      const bytes = fork.getLastLocalChange()
      if (bytes === null) return undefined
      return this.net.record(kind, bytes, as, what, true)
    } finally {
      fork.free()
    }
  }

  private take(m: Made): void {
    this.sigs.set(m.hash, m.sig)
    this.admitted.set(m.hash, this.net.tick())
    if (m.doc === 'space') {
      this.cached = undefined
      for (const did of this.state().removed.keys())
        if (!this.removalSeen.has(did)) this.removalSeen.set(did, this.net.tick())
    }
  }

  /**
   * Offers one change to this peer, as a sync message carrying it and its signature would: the
   * signature is checked, the space's rules judge it, and only then is it applied. A change
   * refused before, at the same heads of the space, is refused `again` without judging it anew
   * (the verdict depends on nothing else).
   */
  receive(m: Made): Result<void> | 'held' | 'known' | 'again' {
    const doc = this.doc(m.doc)
    if (doc.getChangeMetaByHash(m.hash) !== null) return 'known'
    if (!m.deps.every((d) => doc.getChangeMetaByHash(d) !== null)) return 'held'
    const heads = this.space.getHeads().join(',')
    if (this.refusals.get(m.hash)?.heads === heads) return 'again'
    const checked = checkSignatures(
      [m.bytes],
      (h) => (h === m.hash ? m.sig : undefined),
      (h) => doc.getChangeMetaByHash(h) !== null,
    )
    const gov = m.doc === 'space' ? this.spaceGov : this.dataGov
    const verdict = checked.ok ? gov.admit(doc, checked.value, [m.bytes]) : checked
    if (!verdict.ok) {
      this.refusals.set(m.hash, { heads, why: `${verdict.error.code}: ${verdict.error.message}` })
      return verdict
    }
    doc.applyChanges([m.bytes])
    this.take(m)
    return verdict
  }

  /** Why this peer last refused a change (`CODE: message`), if it did. */
  refusal(hash: string): string | undefined {
    return this.refusals.get(hash)?.why
  }

  /**
   * Applies a change without judging it: what a broken policy would let in. Only for the tests
   * of the invariants themselves (policy-checker.test.ts), which must see them fail.
   */
  takeUnjudged(m: Made): void {
    this.doc(m.doc).applyChanges([m.bytes])
    this.take(m)
  }

  /** Highest seq per actor of `did`'s changes in this peer's document (`DocHandle.actorsOf`). */
  actorsOf(kind: DocKind, did: string): Record<string, number> {
    const out: Record<string, number> = {}
    for (const c of this.doc(kind).getChangesMeta([])) {
      if (this.net.made.get(c.hash)?.author !== did) continue
      out[c.actor] = Math.max(out[c.actor] ?? 0, c.seq)
    }
    return out
  }

  free(): void {
    this.space.free()
    this.data.free()
  }
}

export interface NetFigures {
  offered: number
  admitted: number
  refused: number
  held: number
  /** refusals by error code */
  codes: Record<string, number>
}

export class PolicyNet {
  readonly spaceId: DocId
  /** the nonce the space id was made with (its first change names it) */
  readonly nonce: string
  readonly dataId: DocId
  readonly peers: PolicyPeer[] = []
  /** every change made, in the order it was made */
  readonly made = new Map<string, Made>()
  readonly trace: string[] = []
  private readonly blocked = new Set<string>()
  private clockTicks = 0
  step = 0
  readonly figures: NetFigures = { offered: 0, admitted: 0, refused: 0, held: 0, codes: {} }

  /**
   * `n` peers with empty replicas; or, with `from`, a copy of another net as it is (its space,
   * replicas, records and clock): set up once, copied for each schedule.
   */
  constructor(n: number, from?: PolicyNet) {
    const ids = Array.from({ length: n }, (_, i) =>
      identityFromSeed(new Uint8Array(32).fill(0x40 + i), 0),
    )
    const made = from ?? newSpaceId(ids[0]!.id)
    this.spaceId = from?.spaceId ?? (made as { id: DocId }).id
    this.nonce = made.nonce
    this.dataId = from?.dataId ?? newDocIdIn(this.spaceId)
    for (let i = 0; i < n; i++) this.peers.push(new PolicyPeer(i, ids[i]!, this, from?.peers[i]))
    if (from !== undefined) {
      for (const [k, v] of from.made) this.made.set(k, v)
      this.clockTicks = from.clockTicks
      this.step = from.step
    }
  }

  /** The model's clock: advances one step per command. */
  now(): number {
    return T0 + this.step * STEP_MS
  }

  tick(): number {
    return ++this.clockTicks
  }

  record(
    kind: DocKind,
    bytes: Uint8Array,
    author: Identity,
    what: string,
    injected: boolean,
  ): Made {
    const d = am().decodeChange(bytes)
    const m: Made = {
      hash: d.hash,
      doc: kind,
      author: author.id,
      actor: d.actor,
      seq: d.seq,
      deps: d.deps,
      bytes,
      sig: signChange(author, d.hash),
      what,
      injected,
    }
    this.made.set(m.hash, m)
    return m
  }

  private key(a: PolicyPeer, b: PolicyPeer): string {
    return [a.index, b.index].sort().join('|')
  }

  partition(a: PolicyPeer, b: PolicyPeer): void {
    if (a !== b) this.blocked.add(this.key(a, b))
  }

  heal(a: PolicyPeer, b: PolicyPeer): void {
    this.blocked.delete(this.key(a, b))
  }

  healAll(): void {
    this.blocked.clear()
  }

  private offer(to: PolicyPeer, m: Made): boolean {
    const r = to.receive(m)
    if (r === 'known' || r === 'again') return false
    this.figures.offered++
    if (r === 'held') {
      this.figures.held++
      return false
    }
    if (r.ok) {
      this.figures.admitted++
      return true
    }
    this.figures.refused++
    this.figures.codes[r.error.code] = (this.figures.codes[r.error.code] ?? 0) + 1
    return false
  }

  /**
   * Up to `limit` of `from`'s changes that `to` lacks, space document first, each after its
   * dependencies. Returns how many were admitted. A partitioned pair exchanges nothing.
   */
  deliver(from: PolicyPeer, to: PolicyPeer, limit = Infinity): number {
    if (from === to || this.blocked.has(this.key(from, to))) return 0
    let n = 0
    let tried = 0
    for (const kind of ['space', 'data'] as const) {
      for (const meta of from.doc(kind).getChangesMeta([])) {
        if (tried >= limit) return n
        if (to.doc(kind).getChangeMetaByHash(meta.hash) !== null) continue
        const m = this.made.get(meta.hash)
        if (m === undefined) throw new Error(`${from.name} holds a change the model never made`)
        tried++
        if (this.offer(to, m)) n++
      }
    }
    return n
  }

  /** What a modified build sends: offered to every peer it can reach (all, unless `only`). */
  inject(m: Made, only?: PolicyPeer): void {
    for (const p of this.peers) if (only === undefined || p === only) this.offer(p, m)
  }

  /** Every reachable pair exchanges everything, and injected changes are offered again, until quiet. */
  syncAll(): void {
    for (let round = 0; round < 50; round++) {
      let moved = 0
      for (const a of this.peers) for (const b of this.peers) moved += this.deliver(a, b)
      for (const m of this.made.values())
        if (m.injected) for (const p of this.peers) if (this.offer(p, m)) moved++
      if (moved === 0) return
    }
    throw new Error('the network did not go quiet in 50 rounds')
  }

  free(): void {
    for (const p of this.peers) p.free()
  }
}

/** The tick at which `p` admitted `hash`, if it did. */
export function admittedAt(p: PolicyPeer, hash: string): number | undefined {
  return p.admitted.get(hash)
}
