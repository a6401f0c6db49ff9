/**
 * The attacker of `npm run bench:attacks`, in its own process (bench/attacks.ts forks it): its
 * CPU is not the victim's main thread, though on a 2-core machine it still competes for the
 * cores. Told over IPC which attack to mount and where the victim is; mounts it until told to
 * stop, then reports what it sent and how often the victim cut it off. The payloads come from
 * test/attack-kit.ts, the ones the attack tests send.
 */
import '../test/setup'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Stream } from '@libp2p/interface'
import { am } from '../src/core/automerge'
import { generateIdentity, sign } from '../src/core/identity'
import {
  encodeSyncFrame,
  SYNC_PROTOCOL,
  type ChangeSignature,
  type SyncFrame,
} from '../src/core/sync/messages'
import { encodeMessage } from '../src/core/wire/framing'
import { Writer } from '../src/core/wire/codec'
import { DISCOVERY_PROTOCOL, encodeDiscovery } from '../src/core/discovery/messages'
import { randomKey } from '../src/core/keys/aead'
import { docTopic, newDocId, type DocId } from '../src/core/ids'
import { hexToBytes, sha256, utf8 } from '../src/core/bytes'
import {
  changeBomb,
  compressChange,
  documentBomb,
  helloFrame,
  splitFrames,
} from '../test/attack-kit'
import { mountMember } from './attacks-member'
import type { AttackContext, AttackName, ChildReport, ToChild } from './attacks-plan'

const MiB = 1024 * 1024
let stopped = false
const report: ChildReport = { bytes: 0, writes: 0, streams: 0, cutOff: 0, note: '' }
const nodes: Libp2p[] = []
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function node(): Promise<Libp2p> {
  const n = await createLibp2p({
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
  })
  nodes.push(n)
  return n
}

interface Line {
  s: Stream
  closed: () => boolean
  /** sends frames with back-pressure; false once the stream is gone */
  put: (frames: Iterable<Uint8Array>) => Promise<boolean>
}

/** A stream to `addrs` on `protocol` from `n` (a fresh peer id when not given). */
async function open(addrs: string[], protocol: string, n?: Libp2p): Promise<Line> {
  const from = n ?? (await node())
  const s = await from.dialProtocol(
    addrs.map((a) => multiaddr(a)),
    protocol,
  )
  report.streams++
  let closed = false
  void (async () => {
    try {
      for await (const _ of s) void _
    } catch {
      // reset by the victim
    }
    closed = true
    report.cutOff++
  })()
  const put = async (frames: Iterable<Uint8Array>): Promise<boolean> => {
    for (const f of frames) {
      if (closed || stopped || s.status !== 'open' || s.writeStatus !== 'writable') return false
      report.bytes += f.length
      try {
        if (!s.send(f)) await Promise.race([s.onDrain(), sleep(1000)])
      } catch {
        return false
      }
    }
    return true
  }
  return { s, closed: () => closed || s.status !== 'open', put }
}

const frames = (f: SyncFrame): Uint8Array[] => encodeMessage(encodeSyncFrame(f))
const syncOf = (docId: string, changes: Uint8Array[], sigs: ChangeSignature[] = []): SyncFrame => ({
  type: 'sync',
  docId: docId as DocId,
  message: am().encodeSyncMessage({ heads: [], need: [], have: [], changes }),
  sigs,
})

/** A sync stream that said HELLO (a fresh identity signs its own tab certificate). */
async function hello(ctx: AttackContext, n?: Libp2p): Promise<Line> {
  const from = n ?? (await node())
  const line = await open(ctx.victim, SYNC_PROTOCOL, from)
  await line.put([helloFrame(from.peerId.toString())])
  return line
}

/** Repeats `one` on fresh peer ids (`lanes` at a time) until stopped. */
async function repeat(lanes: number, one: () => Promise<void>): Promise<void> {
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!stopped) {
        try {
          await one()
        } catch {
          await sleep(50) // a refused dial (e.g. the victim is busy): try again
        }
      }
    }),
  )
}

/** Sends `payload` on a fresh HELLO'd stream, again each time the victim cuts it off. */
const resend = (ctx: AttackContext, payload: () => Uint8Array[]) => async (): Promise<void> => {
  const line = await hello(ctx)
  while (!line.closed() && !stopped) {
    if (!(await line.put(payload()))) break
    await sleep(0)
  }
}

/** Real changes of `docId`'s root map by a fresh actor, one per value. */
function realChanges(count: number, bytes: number): Uint8Array[] {
  const d = am().create()
  const out: Uint8Array[] = []
  for (let i = 0; i < count; i++) {
    d.put('_root', `w${i}`, 'x'.repeat(bytes))
    d.commit()
    out.push(d.getLastLocalChange()!)
  }
  return out
}

const ATTACKS: Record<AttackName, (ctx: AttackContext) => Promise<void>> = {
  'change-bomb': async (ctx) => {
    const bomb = changeBomb(64 * MiB)
    report.note = `compressed change inflating to 64 MiB (${bomb.length} B on the wire), 2 lanes`
    return repeat(
      2,
      resend(ctx, () => frames(syncOf(ctx.plainDoc, [bomb]))),
    )
  },
  'document-bomb': async (ctx) => {
    const bomb = documentBomb(128 * MiB)
    report.note = `document chunk inflating to 128 MiB (${bomb.length} B), 2 lanes`
    return repeat(
      2,
      resend(ctx, () => frames(syncOf(ctx.plainDoc, [bomb]))),
    )
  },
  'compressed-change': async (ctx) => {
    // a change signed over the hash of its compressed bytes (hole 2), sent to the governed doc
    const me = generateIdentity()
    const changes = realChanges(200, 20)
    let i = 0
    report.note = 'real changes sent compressed, signed over the compressed hash, 2 lanes'
    return repeat(
      2,
      resend(ctx, () => {
        const packed = compressChange(changes[i++ % changes.length]!)
        const hash = sha256(packed.subarray(8))
        return frames(
          syncOf(
            ctx.governedDoc,
            [packed],
            [{ hash, author: me.publicKey, signature: sign(me, hash) }],
          ),
        )
      }),
    )
  },
  'interest-flood': async (ctx) => {
    report.note = 'INTEREST of 1,024 random tags, back to back, 4 peer ids'
    let k = 0
    return repeat(
      4,
      resend(ctx, () =>
        frames({
          type: 'interest',
          topics: Array.from({ length: 1024 }, () => sha256(utf8(`${k++}`))),
        }),
      ),
    )
  },
  'reassembly-pinning': async (ctx) => {
    // 6 peer ids x 2 streams, each holding 8 MiB of a split message as large as the budget
    const total = ctx.reassemblyBytes
    report.note = `6 peer ids x 2 streams, 8 MiB each of a ${total / MiB} MiB message (96 MiB tried)`
    return repeat(6, async () => {
      const n = await node()
      const lines = [await hello(ctx, n), await hello(ctx, n)]
      await Promise.all(lines.map((l) => l.put(splitFrames(total, 8 * MiB))))
      while (!stopped && lines.some((l) => !l.closed())) await sleep(100)
      await n.stop()
    })
  },
  'slow-loris': async (ctx) => {
    report.note = '16 peer ids x 2 streams: half a frame before HELLO; a split part every 500 ms'
    return repeat(16, async () => {
      const n = await node()
      // before HELLO: a frame announced at 200 KiB of which 1 KiB comes, then a byte a second
      const early = await open(ctx.victim, SYNC_PROTOCOL, n)
      const late = await hello(ctx, n)
      const head = new Writer()
        .varint(200 * 1024)
        .raw(new Uint8Array(1024))
        .finish()
      await early.put([head])
      const parts = splitFrames(32 * MiB, 32 * MiB, 2048)
      while (!stopped && !(early.closed() && late.closed())) {
        await early.put([new Uint8Array(1)])
        const next = parts.next()
        if (!next.done) await late.put([next.value])
        await sleep(500)
      }
      await n.stop()
    })
  },
  'relay-amplification': async (ctx) => {
    // spaced beyond the relay's notice delay (100 ms), or a JOIN and LEAVE in one batch tell nobody
    report.note = 'JOIN/LEAVE of 256 topics with 8 addresses of 500 B, 150 ms apart, 2 peer ids'
    const topics = ctx.relayTopics.map((t) => hexToBytes(t))
    const more = Array.from({ length: 256 - topics.length }, () =>
      docTopic(newDocId(), randomKey()),
    )
    const all = [...topics, ...more]
    const addrs = Array.from(
      { length: 8 },
      (_, i) => `/dns4/${String(i).padStart(3, '0')}${'a'.repeat(473)}.example/tcp/443/wss`,
    )
    return repeat(2, async () => {
      const line = await open(ctx.relay, DISCOVERY_PROTOCOL)
      while (!line.closed() && !stopped) {
        if (!(await line.put(encodeMessage(encodeDiscovery({ type: 'join', topics: all, addrs })))))
          break
        await sleep(150)
        if (!(await line.put(encodeMessage(encodeDiscovery({ type: 'leave', topics: all }))))) break
        await sleep(150)
      }
    })
  },
  'write-flood': async (ctx) => {
    const changes = realChanges(20_000, 100)
    let i = 0
    report.note = 'real changes of 100 B values, 100 a message, back to back, 1 peer id'
    return repeat(
      1,
      resend(ctx, () => {
        const batch = changes.slice(i, i + 100)
        i = (i + 100) % changes.length
        return frames(syncOf(ctx.plainDoc, batch))
      }),
    )
  },
  'forged-signatures': async (ctx) => {
    // changes to the governed document claiming the admin's key, with random signatures
    const changes = realChanges(2000, 20)
    const admin = hexToBytes(ctx.adminKey)
    let i = 0
    report.note = "changes signed 'by the admin' with random signatures, 2 lanes"
    return repeat(
      2,
      resend(ctx, () => {
        const change = changes[i++ % changes.length]!
        const hash = hexToBytes(am().decodeChange(change).hash)
        const signature = crypto.getRandomValues(new Uint8Array(64))
        return frames(syncOf(ctx.governedDoc, [change], [{ hash, author: admin, signature }]))
      }),
    )
  },
  'hostile-space': (ctx) => mountMember(ctx, 'hostile-space', () => stopped, report),
  'docs-capture': (ctx) => mountMember(ctx, 'docs-capture', () => stopped, report),
}

let running: Promise<void> | undefined
process.on('message', (m: ToChild) => {
  if (m.type === 'start') {
    stopped = false
    Object.assign(report, { bytes: 0, writes: 0, streams: 0, cutOff: 0, note: '' })
    running = ATTACKS[m.attack](m.ctx).catch((e: unknown) => {
      report.note += ` (failed: ${e instanceof Error ? e.message : String(e)})`
    })
    process.send!({ type: 'started' })
  } else if (m.type === 'stop') {
    stopped = true
    void (async () => {
      await Promise.race([running, sleep(5000)])
      await Promise.all(
        nodes.splice(0).map((n) => Promise.resolve(n.stop()).catch(() => undefined)),
      )
      process.send!({ type: 'stopped', report: { ...report } })
    })()
  } else if (m.type === 'exit') {
    process.exit(0)
  }
})
process.send!({ type: 'ready' })
