/**
 * The WebRTC classes @libp2p/webrtc's private-to-private transport uses in this app: the build
 * points its `../webrtc/index.js` here (scripts/vite-libp2p-rtc.ts) instead of at its own module,
 * which hands out the browser's globals. The only change: the 'init' data channel its dialling
 * side makes is guarded against a race that stalled 1 in 6-9 dials (init-channel.ts), and every
 * other data channel, made here or opened by the remote side, sends each libp2p frame as one
 * message (coalesce-sends.ts). Nothing else in the page sees a different RTCPeerConnection.
 */
import { coalesceSends } from './coalesce-sends'
import { guardInitChannel } from './init-channel'

type PeerConnectionClass = typeof globalThis.RTCPeerConnection

function withGuardedInit(Base: PeerConnectionClass): PeerConnectionClass {
  return class Libp2pPeerConnection extends Base {
    constructor(config?: RTCConfiguration) {
      super(config)
      // registered before libp2p sets `ondatachannel`, so it runs first
      this.addEventListener('datachannel', (e) => {
        if (e.channel.label !== 'init') coalesceSends(e.channel)
      })
    }

    override createDataChannel(label: string, init?: RTCDataChannelInit): RTCDataChannel {
      const channel = super.createDataChannel(label, init)
      return label === 'init' ? guardInitChannel(channel) : coalesceSends(channel)
    }
  }
}

// Undefined where the context has no WebRTC (workers), as in @libp2p/webrtc's own module.
const Native = globalThis.RTCPeerConnection as PeerConnectionClass | undefined
export const RTCPeerConnection: PeerConnectionClass | undefined =
  Native === undefined ? Native : withGuardedInit(Native)
export const RTCSessionDescription = globalThis.RTCSessionDescription
export const RTCIceCandidate = globalThis.RTCIceCandidate
