/** In-process peers over libp2p's memory transport, with real Automerge and real streams. */
import { afterEach, beforeEach } from 'vitest'
import { addLogSink } from '../src/core/log'
import { memory } from '@libp2p/memory'
import { createLibp2p, type Libp2p, type ServiceFactoryMap } from 'libp2p'
import { identify } from '@libp2p/identify'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { interestKey, interestTag, type DocId } from '../src/core/ids'
import { createPeer, type OrreryPeer, type PeerMirrorOptions } from '../src/core/peer'
import type { DocHandle } from '../src/core/repo/doc-handle'
import { sharedTestKey } from './shared-key'
import { generateIdentity, type Identity } from '../src/core/identity'
import { MemoryStorageAdapter } from '../src/core/storage/memory'
import type { StorageAdapter } from '../src/core/storage/types'
import type { DiscoveryClientInit } from '../src/core/discovery/client'
import { discoveryServer, type DiscoveryServer } from '../src/core/discovery/server'
import type { ConnectionGater, ServiceMap } from '@libp2p/interface'
import type { FirewallConfig } from '../src/core/firewall/firewall'
import type { VersionTable } from '../src/core/wire/versions'
import type { BlockStore } from '../src/core/blocks/types'
import type { PresenceTiming } from '../src/core/presence/doc-presence'

let counter = 0
const uniq = (): string => `${process.pid}-${Date.now()}-${++counter}`

export interface TestPeerOptions {
  storage?: StorageAdapter
  identity?: Identity
  connectionGater?: ConnectionGater
  firewall?: Partial<FirewallConfig>
  discovery?: DiscoveryClientInit
  /** wraps the memory transport (a test that makes some dials misbehave) */
  transport?: (memory: TransportFactory) => TransportFactory
  /** protocol majors other than this build's: a peer of another version */
  versions?: Partial<VersionTable>
  blocks?: BlockStore
  /** an always-on mirror to sync through */
  mirror?: PeerMirrorOptions
  presenceTiming?: PresenceTiming
}

type TransportFactory = ReturnType<typeof memory>

/** every peer made here: whose keys `openDoc` may copy (as if a share link passed them on) */
const made = new Set<OrreryPeer>()

export async function makePeer(opts: TestPeerOptions = {}): Promise<OrreryPeer> {
  const peer = await createPeer({
    identity: opts.identity ?? generateIdentity(),
    storage: opts.storage ?? new MemoryStorageAdapter(),
    transports: [opts.transport ? opts.transport(memory()) : memory()],
    listen: [`/memory/peer-${uniq()}`],
    discovery: { dialGraceMs: 300, ...opts.discovery },
    ...(opts.connectionGater ? { connectionGater: opts.connectionGater } : {}),
    ...(opts.firewall ? { firewall: opts.firewall } : {}),
    ...(opts.versions ? { versions: opts.versions } : {}),
    ...(opts.blocks ? { blocks: opts.blocks } : {}),
    ...(opts.mirror ? { mirror: opts.mirror } : {}),
    ...(opts.presenceTiming ? { presenceTiming: opts.presenceTiming } : {}),
  })
  made.add(peer)
  return peer
}

/**
 * Opens a document with its keys, as an edit link would give them: the keys of whichever test
 * peer holds one (it created the document, or a space gave it the key), else the key every test
 * peer derives alike for an id (a document no peer created: each opens it by id).
 */
export async function openDoc(peer: OrreryPeer, id: DocId): Promise<DocHandle> {
  await peer.repo.keys.loaded
  if (!peer.repo.keys.has(id)) {
    const holder = [...made].find((p) => p !== peer && p.repo.keys.has(id))
    await peer.repo.setKey(id, holder?.repo.keys.get(id) ?? sharedTestKey(id))
    // an edit link: the maker's write secret too
    const write = holder?.repo.keys.writeKey(id)
    if (write !== undefined) await peer.repo.setWriteKey(id, write)
  }
  return peer.repo.open(id)
}

/**
 * `const peer = testPeers()` at a file's top level: `peer(opts)` makes a peer whose identity is
 * ready, and every peer made in a test is stopped after it.
 */
export function testPeers(): (opts?: TestPeerOptions) => Promise<OrreryPeer> {
  const running: OrreryPeer[] = []
  afterEach(async () => {
    await Promise.all(running.splice(0).map(async (p) => p.stop()))
  })
  return async (opts = {}) => {
    const p = await makePeer(opts)
    running.push(p)
    await p.identityReady
    await sleep(0)
    return p
  }
}

export type TestRelay = Libp2p<{ discovery: DiscoveryServer }>

/** A libp2p node on the memory transport (noise, yamux) with these services, or none. */
export async function memoryNode<S extends ServiceMap = ServiceMap>(
  label: string,
  services?: ServiceFactoryMap<S>,
): Promise<Libp2p<S>> {
  return createLibp2p<S>({
    addresses: { listen: [`/memory/${label}-${uniq()}`] },
    transports: [memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(services === undefined ? {} : { services }),
  })
}

export async function makeRelay(): Promise<TestRelay> {
  return memoryNode('relay', { identify: identify(), discovery: discoveryServer() })
}

export async function connect(a: OrreryPeer, b: OrreryPeer | TestRelay): Promise<void> {
  const addrs = 'node' in b ? b.node.getMultiaddrs() : b.getMultiaddrs()
  await a.node.dial(addrs)
}

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** The warnings and errors logged during each test of the file (`component: message`). */
export function collectWarnings(): string[] {
  const lines: string[] = []
  let off: (() => void) | undefined
  beforeEach(() => {
    lines.length = 0
    off = addLogSink((level, component, msg) => {
      if (level === 'warn' || level === 'error') lines.push(`${component}: ${msg}`)
    })
  })
  afterEach(() => off?.())
  return lines
}

/** The interest tag `from` shows `to` for a document whose key `holder` keeps (attack tests). */
export function proofTag(holder: OrreryPeer, doc: DocId, from: string, to: string): Uint8Array {
  const key = holder.repo.keys.get(doc)
  if (key === undefined) throw new Error(`no key for ${doc}`)
  return interestTag(interestKey(doc, key), from, to)
}

/** Gives `to` the keys `from` holds for these documents (what an edit link carries). */
export async function shareKeys(from: OrreryPeer, to: OrreryPeer, ...docs: DocId[]): Promise<void> {
  for (const doc of docs) {
    const key = from.repo.keys.get(doc)
    if (key === undefined) throw new Error(`no key for ${doc}`)
    await to.repo.setKey(doc, key)
    const write = from.repo.keys.writeKey(doc)
    if (write !== undefined) await to.repo.setWriteKey(doc, write)
  }
}
