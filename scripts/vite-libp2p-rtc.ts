/**
 * A Vite (and dependency optimiser) plugin: @libp2p/webrtc's private-to-private modules import
 * RTCPeerConnection, RTCSessionDescription and RTCIceCandidate from `../webrtc/index.js`; this
 * resolves that import to src/browser/webrtc/libp2p-rtc.ts, which guards the dialler's 'init'
 * data channel (src/browser/webrtc/init-channel.ts says why). The same plugin object serves the
 * build and `optimizeDeps` (the dev server pre-bundles @libp2p/webrtc).
 */
import path from 'node:path'

const target = path.resolve('src/browser/webrtc/libp2p-rtc.ts')
const importer = /[\\/]@libp2p[\\/]webrtc[\\/]dist[\\/]src[\\/]private-to-private[\\/]/

export function libp2pRtc(): {
  name: string
  enforce: 'pre'
  resolveId(source: string, from: string | undefined): string | undefined
} {
  return {
    name: 'orrery-libp2p-rtc',
    enforce: 'pre',
    resolveId(source, from) {
      if (source === '../webrtc/index.js' && from !== undefined && importer.test(from))
        return target
      return undefined
    },
  }
}
