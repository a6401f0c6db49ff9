/**
 * The member attacks of bench/attacks-child.ts: a full Orrery peer that joined the victim's space
 * as a writer, running modified code (it signs whatever it writes and checks nothing), writes
 * what its role forbids: role changes in the space document, or another space's document listed
 * in this space's /docs and then written to (capture, hole 6).
 */
import { webSockets } from '@libp2p/websockets'
import { seedSigner } from '../src/core/signer'
import { multiaddr } from '@multiformats/multiaddr'
import { ok } from '../src/core/errors'
import { generateIdentity } from '../src/core/identity'
import { createPeer, type OrreryPeer } from '../src/core/peer'
import type { Governance } from '../src/core/repo/governance'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import type { AttackContext, ChildReport } from './attacks-plan'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The attacker's client signs its writes to `ids` and lets anything in (as the attack tests'). */
function rogue(p: OrreryPeer, ids: readonly string[]): void {
  const s = p.spaces!
  const honest = s.governanceFor.bind(s)
  const anything: Governance = {
    signer: () => seedSigner(p.identity),
    mayWriteLocally: () => ok(undefined),
    admit: () => ok(undefined),
  }
  s.governanceFor = async (id) => (ids.includes(id) ? anything : honest(id))
}

export async function mountMember(
  ctx: AttackContext,
  kind: 'hostile-space' | 'docs-capture',
  stopped: () => boolean,
  report: ChildReport,
): Promise<void> {
  const p = await createPeer({
    identity: generateIdentity(),
    storage: new MemoryStorageAdapter(),
    transports: [webSockets()],
    discovery: { dialGraceMs: 300 },
  })
  try {
    await p.identityReady
    await p.node.dial(ctx.victim.map((a) => multiaddr(a)))
    await p.spaces!.join(ctx.invite, 'mallory', { timeoutMs: 20_000 })
    const me = p.identity.id
    rogue(p, [ctx.space, ctx.governedDoc, ctx.homeDoc])
    // the space document was opened by the join, with its own rules: lift them on that handle
    const spaceHandle = await p.repo.open(ctx.space as never)
    const g = (spaceHandle as unknown as { ctx: { governance?: Governance } }).ctx.governance
    if (g !== undefined) g.mayWriteLocally = () => ok(undefined)
    report.note =
      kind === 'hostile-space'
        ? 'a writer makes itself admin, demotes the admin, adds members: 50 signed writes/s'
        : "a writer lists another space's document in /docs, then writes to it: 50 writes/s"
    if (kind === 'docs-capture') await p.repo.open(ctx.homeDoc as never)
    for (let i = 0; !stopped(); i++) {
      const at = Date.now()
      if (kind === 'hostile-space') {
        const who = i % 3 === 0 ? me : i % 3 === 1 ? ctx.adminDid : generateIdentity().id
        const role = who === ctx.adminDid ? 'reader' : 'admin'
        await p.state.set(`/${ctx.space}/members/${who}`, { role, addedBy: me, addedAt: at })
      } else if (i % 10 === 0) {
        await p.state.set(`/${ctx.space}/docs/${ctx.homeDoc}`, {
          addedBy: ctx.adminDid,
          addedAt: at,
        })
      } else {
        await p.state.set(`/${ctx.homeDoc}/title`, `captured ${i}`)
      }
      report.writes++
      await sleep(20)
    }
  } finally {
    await p.stop()
  }
}
