/**
 * One L2 peer process: the real core (Repo, StateApi, governance of the space, firewall, sync)
 * on a file log (file-storage.ts), reaching the relay over WebSockets through the browser's own
 * RelayLink (redial with backoff) and the other peers directly over WebSockets (discovery tells
 * it their addresses), with the browser's Pulse hanging up on peers that stop answering.
 *
 * Bundled by procs.ts and run as `node --import ./relay/polyfill.js <bundle>` inside the
 * peer's network namespace, with its settings as JSON in L2_PEER and an IPC channel to the test
 * (requests and answers: protocol.ts). SIGKILL and SIGSTOP come from the test.
 */
import { openShared } from '../../shared-key'
import { webSockets } from '@libp2p/websockets'
import { seedSigner } from '../../../src/core/signer'
import { multiaddr } from '@multiformats/multiaddr'
import { RelayLink } from '../../../src/browser/network'
import { loadAutomergeNode } from '../../../src/core/automerge-node'
import { describeError, ok } from '../../../src/core/errors'
import { identityFromSeed } from '../../../src/core/identity'
import type { DocId } from '../../../src/core/ids'
import { createLogger, setLogLevel, type LogLevel } from '../../../src/core/log'
import { createPeer } from '../../../src/core/peer'
import { Pulse } from '../../../src/core/pulse'
import type { Governance } from '../../../src/core/repo/governance'
import { Repo } from '../../../src/core/repo/repo'
import { docGovernance } from '../../../src/core/spaces/governance'
import { CoalescingStorage } from '../../../src/core/storage/coalescing'
import { installNodeWebSocket } from '../../node-websocket'
import { chaosSpace } from '../invariants'
import { FileLogStorage } from './file-storage'
import { identitySeed, type PeerConfig, type Reply, type Request } from './protocol'

installNodeWebSocket()
loadAutomergeNode()
setLogLevel((process.env.ORRERY_LOG as LogLevel | undefined) ?? 'error')
const log = createLogger('chaos-l2-peer')

async function main(): Promise<void> {
  const cfg = JSON.parse(process.env.L2_PEER ?? '') as PeerConfig
  const identity = identityFromSeed(identitySeed(cfg.index), 0)
  const ids = Array.from({ length: cfg.honest }, (_, i) => identityFromSeed(identitySeed(i), 0))
  const space = chaosSpace(cfg.spaceId, ids[0]!, ids.slice(1))
  const free = cfg.free as DocId
  const governed = cfg.governed as DocId
  const governance = (id: DocId): Governance | undefined => {
    if (id !== governed) return undefined
    if (cfg.intruder)
      return {
        mayWriteLocally: () => ok(undefined),
        admit: () => ok(undefined),
        signer: () => seedSigner(identity),
      }
    return docGovernance(id, { spaceId: cfg.spaceId, state: () => space, identity: () => identity })
  }
  const disk = await FileLogStorage.open(cfg.file)
  const storage = new CoalescingStorage(disk)
  const repo = new Repo({ storage, tabId: `${cfg.name}.${cfg.incarnation}`, governance })
  const peer = await createPeer({
    identity,
    storage,
    repo,
    profileId: `profile-${cfg.name}`,
    transports: [webSockets() as never],
    listen: [`/ip4/${cfg.ip}/tcp/0/ws`],
    // private addresses are all there is inside the test's namespaces
    connectionGater: { denyDialMultiaddr: () => false },
    discovery: { dialGraceMs: 500 },
  })
  peer.node.addEventListener('self:peer:update', () => peer.node.services.discovery.announce())
  await openShared(repo, free)
  await openShared(repo, governed)
  // before the relay link: nobody can reach this new peer id yet, so what it has is its disk's
  const missing: string[] = []
  for (const w of cfg.flushed)
    if ((await peer.state.get(`/${w.doc === 'free' ? free : governed}/w/${w.key}`)) !== w.key)
      missing.push(w.key)
  const relay = new RelayLink(peer, multiaddr(cfg.relayAddr), cfg.relayId)
  relay.start()
  // faster than the browser's 5 s / 30 s so a schedule of a minute sees partitions take effect
  const pulse = new Pulse(peer.node as never, {
    intervalMs: 1000,
    timeoutMs: 1500,
    dropAfterMs: 5000,
  })
  pulse.start()

  const handle = async (r: Request): Promise<Reply> => {
    switch (r.op) {
      case 'write': {
        const doc = r.doc === 'free' ? free : governed
        await peer.state.set(`/${doc}/w/${r.key}`, r.key)
        await peer.state.set(`/${doc}/s/k${r.slot}`, r.key)
        return { id: r.id, ok: true }
      }
      case 'outsider':
        await peer.state.set(`/${governed}/x/${r.key}`, 'outsider')
        return { id: r.id, ok: true }
      case 'flush':
        await peer.state.flush()
        return { id: r.id, ok: true }
      case 'status':
        return {
          id: r.id,
          ok: true,
          heads: [free, governed].map((d) => [...(repo.get(d)?.heads ?? [])].sort().join(',')),
          peers: peer.node.getPeers().length,
          relay: relay.state,
          strikes: Object.entries(peer.firewall.stats())
            .filter(([, s]) => s.strikes > 0)
            .map(([who, s]) => `${who}: ${s.lastStrike}`),
        }
      case 'stop':
        relay.stop()
        pulse.stop()
        await peer.stop()
        await disk.close()
        setTimeout(() => process.exit(0), 10)
        return { id: r.id, ok: true }
    }
  }
  // the test went away (it failed hard): nobody will stop this process otherwise
  process.on('disconnect', () => process.exit(1))
  process.on('message', (m: Request) => {
    handle(m).then(
      (reply) => process.send?.(reply),
      (e: unknown) => process.send?.({ id: m.id, ok: false, error: describeError(e) }),
    )
  })
  process.send?.({ id: 0, ok: true, peerId: peer.id, torn: disk.tornBytes, missing })
}

main().catch((e: unknown) => {
  log.error(`the peer could not start: ${describeError(e)}`)
  process.exit(1)
})
