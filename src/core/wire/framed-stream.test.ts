/** FramedStream's split-message deadlines over a real libp2p stream (memory transport, yamux). */
import { afterEach, describe, expect, it } from 'vitest'
import type { Libp2p, Stream } from '@libp2p/interface'
import { memoryNode, sleep } from '../../../test/peers'
import { createLogger } from '../log'
import { encodeMessage } from './framing'
import { FramedStream } from './framed-stream'

const PROTOCOL = '/orrery-test/framed/1'
const log = createLogger('framed-test')
const nodes: Libp2p[] = []

afterEach(async () => {
  await Promise.all(nodes.splice(0).map(async (n) => n.stop()))
})

describe('FramedStream deadlines', () => {
  it('does not count the time it throttled the sender against the whole-message deadline', async () => {
    // idle 1 s, whole 1 s + 8 KiB at 1 MiB/s: the second chunk is held 1.2 s by `charge` (our
    // own throttling), past that deadline; the rest comes 300 ms after the hold ends
    const [receiver, sender] = [await memoryNode('r'), await memoryNode('s')]
    nodes.push(receiver, sender)
    const message = new Uint8Array(8 * 1024).map((_, i) => i & 0xff)
    const frames = encodeMessage(message, 2048)
    let released: (() => void) | undefined
    const holdEnded = new Promise<void>((r) => (released = r))
    const outcome = new Promise<{ got: Uint8Array[]; error: unknown }>((resolve) => {
      void receiver.handle(PROTOCOL, (stream: Stream) => {
        let chunks = 0
        const framed = new FramedStream(
          stream,
          {
            maxFrame: 2048,
            maxMessage: 64 * 1024,
            partialIdleMs: 1000,
            partialMinBytesPerSecond: 1024 * 1024,
          },
          log,
          {
            charge: () => {
              if (++chunks !== 2) return undefined
              return sleep(1200).then(() => released?.())
            },
          },
        )
        const got: Uint8Array[] = []
        void framed.read((m) => void got.push(m)).then((error) => resolve({ got, error }))
      })
    })
    const s = await sender.dialProtocol(receiver.getMultiaddrs(), PROTOCOL)
    s.send(frames[0]!)
    await sleep(100) // (separate chunks)
    s.send(frames[1]!)
    await holdEnded
    await sleep(300)
    try {
      for (const f of frames.slice(2)) s.send(f)
      await s.close()
    } catch {
      // the receiver aborted the stream: the outcome says why
    }
    const { got, error } = await outcome
    expect(error).toBeUndefined()
    expect(got.map((m) => m.length)).toEqual([message.length])
  })
})
