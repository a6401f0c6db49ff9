/**
 * The WebSocket that Node tests and L2's peer processes give libp2p (Node 20 has none; 22's is
 * global): `ws`'s client, made to behave like a browser's on errors. A browser delivers an error
 * event to whoever listens, or to nobody; `ws` is an EventEmitter, and an 'error' nobody listens
 * to is thrown and kills the process. libp2p's dial stops listening when its signal aborts, so a
 * relay answering a timed-out dial's handshake late (503 while it restarts) killed the peer
 * (found by chaos L2).
 */
import { WebSocket as WsWebSocket, type ClientOptions } from 'ws'

export class NodeWebSocket extends WsWebSocket {
  constructor(address: string | URL, protocols?: string | string[], options?: ClientOptions) {
    super(address, protocols, options)
    // errors go to the listeners libp2p adds; with none left, they are dropped as a browser does
    this.on('error', () => undefined)
  }
}

/** Installs it as the global WebSocket where the runtime has none. */
export function installNodeWebSocket(): void {
  ;(globalThis as { WebSocket?: unknown }).WebSocket ??= NodeWebSocket
}
