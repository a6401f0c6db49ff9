/**
 * The chaos schedule as fast-check commands over a `ModelNet`. Each command prints itself the
 * way it reads in a shrunk counterexample (`p1 crash`, `deliver 3 from #2`, …).
 */
import fc from 'fast-check'
import type { ModelNet } from './model'

type Cmd = fc.AsyncCommand<object, ModelNet>

abstract class Base implements Cmd {
  check(): boolean {
    return true
  }
  abstract run(_m: object, net: ModelNet): Promise<void>
  abstract toString(): string
}

const honest = (net: ModelNet, i: number) => net.honest[i % net.honest.length]!

class Edit extends Base {
  constructor(
    readonly peer: number,
    readonly governed: boolean,
    readonly n: number,
    readonly shared: number,
    readonly del: boolean,
  ) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    await net.edit(honest(net, this.peer), this.governed, this.n, this.shared, this.del)
    await net.settle()
  }
  toString() {
    return `p${this.peer} edit ${this.governed ? 'governed' : 'free'} ×${this.n}${this.del ? ` delete k${this.shared}` : ` k${this.shared}`}`
  }
}

class Burst extends Base {
  constructor(
    readonly peer: number,
    readonly governed: boolean,
    readonly n: number,
  ) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    await net.burst(honest(net, this.peer), this.governed, this.n)
    await net.settle()
  }
  toString() {
    return `p${this.peer} burst ${this.governed ? 'governed' : 'free'} ×${this.n}`
  }
}

class Deliver extends Base {
  constructor(
    readonly pick: number,
    readonly count: number,
  ) {
    super()
  }
  run(_m: object, net: ModelNet) {
    return net.deliver(this.pick, this.count)
  }
  toString() {
    return `deliver ${this.count} from #${this.pick}`
  }
}

class Fault extends Base {
  constructor(
    readonly kind: 'drop' | 'duplicate' | 'reorder',
    readonly pick: number,
  ) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    net[this.kind](this.pick)
    await net.settle()
  }
  toString() {
    return `${this.kind} #${this.pick}`
  }
}

class Partition extends Base {
  constructor(
    readonly a: number,
    readonly b: number,
    readonly heal: boolean,
  ) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    const a = net.peers[this.a % net.peers.length]!
    const b = net.peers[this.b % net.peers.length]!
    if (a === b) return
    if (this.heal) net.heal(a, b)
    else net.partition(a, b)
    await net.settle()
  }
  toString() {
    return `${this.heal ? 'heal' : 'partition'} ${this.a}|${this.b}`
  }
}

class Lifetime extends Base {
  constructor(
    readonly peer: number,
    readonly kind: 'crash' | 'reload' | 'restart' | 'stall' | 'flush',
  ) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    const p = honest(net, this.peer)
    if (this.kind === 'stall') net.stall(p)
    else await net[this.kind](p)
    await net.settle()
  }
  toString() {
    return `p${this.peer} ${this.kind}`
  }
}

class Wait extends Base {
  constructor(readonly ms: number) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    net.wait(this.ms)
    await net.settle()
  }
  toString() {
    return `wait ${this.ms} ms`
  }
}

class Intrude extends Base {
  constructor(readonly n: number) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    await net.intrude(this.n)
    await net.settle()
  }
  toString() {
    return `outsider writes ×${this.n}`
  }
}

class Flood extends Base {
  constructor(readonly n: number) {
    super()
  }
  async run(_m: object, net: ModelNet) {
    net.flood(this.n)
    await net.settle()
  }
  toString() {
    return `outsider floods ×${this.n}`
  }
}

/** The commands and their weights (fc.commands picks uniformly among the arbitraries). */
export function commandArbs(): fc.Arbitrary<Cmd>[] {
  const peer = fc.nat(7)
  const pick = fc.nat(15)
  const edit = fc
    .tuple(peer, fc.boolean(), fc.integer({ min: 1, max: 3 }), fc.nat(3), fc.boolean())
    .map(([p, g, n, s, d]) => new Edit(p, g, n, s, d))
  const deliver = fc.tuple(pick, fc.integer({ min: 1, max: 12 })).map(([p, n]) => new Deliver(p, n))
  const fault = fc
    .tuple(fc.constantFrom('drop' as const, 'duplicate' as const, 'reorder' as const), pick)
    .map(([k, p]) => new Fault(k, p))
  const lifetime = fc
    .tuple(
      peer,
      fc.constantFrom(
        'crash' as const,
        'reload' as const,
        'restart' as const,
        'stall' as const,
        'flush' as const,
      ),
    )
    .map(([p, k]) => new Lifetime(p, k))
  return [
    edit,
    edit,
    deliver,
    deliver,
    deliver,
    fault,
    fault,
    fault,
    lifetime,
    lifetime,
    fc
      .tuple(peer, fc.boolean(), fc.integer({ min: 2, max: 30 }))
      .map(([p, g, n]) => new Burst(p, g, n)),
    fc.tuple(peer, peer, fc.boolean()).map(([a, b, h]) => new Partition(a, b, h)),
    fc.integer({ min: 1, max: 5000 }).map((ms) => new Wait(ms)),
    fc.integer({ min: 1, max: 30 }).map((n) => new Intrude(n)),
    fc.integer({ min: 1, max: 100 }).map((n) => new Flood(n)),
  ]
}
