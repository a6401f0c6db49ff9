/**
 * A dial whose signal aborts before the server answers the handshake, answered then with 503 (a
 * relay restarting under load): the process must survive, as a browser tab does.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { afterEach, describe, expect, it } from 'vitest'
import { NodeWebSocket } from './node-websocket'
import { sleep } from './peers'

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
})

describe('NodeWebSocket', () => {
  it('survives a 503 to a handshake after libp2p gave up on the dial', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (e: unknown): void => void uncaught.push(e)
    process.on('uncaughtException', onUncaught)
    closers.push(async () => void process.off('uncaughtException', onUncaught))
    let resolveAnswered = (): void => undefined
    const answered = new Promise<void>((r) => (resolveAnswered = r))
    const server = http.createServer()
    server.on('upgrade', (_req, socket) => {
      setTimeout(() => {
        socket.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n')
        resolveAnswered()
      }, 300)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    closers.push(() => new Promise((r) => server.close(() => r())))
    const { port } = server.address() as AddressInfo
    const node = await createLibp2p({
      transports: [webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionGater: { denyDialMultiaddr: () => false },
    })
    closers.push(async () => await node.stop())
    const peer = '12D3KooWSK5ogGodELEw1iWXjxXkNPwKtTfbBRRxJeLsJ4UdPR91'
    const dial = node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${port}/ws/p2p/${peer}`), {
      signal: AbortSignal.timeout(50),
    })
    await expect(dial).rejects.toThrow()
    await answered
    await sleep(100) // the 503's error event is emitted after the response is parsed
    expect(uncaught).toEqual([])
    expect(globalThis.WebSocket).toBe(NodeWebSocket)
  })
})
