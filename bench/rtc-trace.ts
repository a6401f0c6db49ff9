/**
 * Debug-only tracing of every RTCPeerConnection a page makes, for finding where a WebRTC dial
 * stalls. `rtcTraceProbe` is an init script (page.addInitScript): it runs before the app's
 * modules, so @libp2p/webrtc (which reads `globalThis.RTCPeerConnection` once, when its module
 * loads) gets the traced subclass. Per connection it records, in ms since the connection was
 * made: signalling, ICE gathering, ICE connection, connection, DTLS transport and SCTP states,
 * the descriptions and candidates set, and every data channel's open and close. It also turns on
 * the app's own fine-grained trace (`globalThis.__orreryTrace`, src/core/timings.ts), which
 * notes each discovery dial and each connection opened or closed. Nothing here changes what the
 * page does.
 */

/** One RTCPeerConnection's life: [ms since `created`, what happened]. */
export interface RtcTrace {
  id: number
  /** performance.timeOrigin + performance.now() when constructed (a wall clock shared by pages) */
  created: number
  events: [number, string][]
}

declare global {
  interface Window {
    __rtcTraces?: RtcTrace[]
    __orreryTrace?: [string, number][]
  }
}

/** Init script: wraps window.RTCPeerConnection so each connection records its states. */
export function rtcTraceProbe(): void {
  const Native = window.RTCPeerConnection
  const traces: RtcTrace[] = []
  window.__rtcTraces = traces
  window.__orreryTrace = []
  const now = (): number => performance.timeOrigin + performance.now()
  const MAX_EVENTS = 300
  const kind = (c: string): string => /typ (\w+)/.exec(c)?.[1] ?? '?'
  const proto = (c: string): string => (/ (udp|tcp) /i.exec(c)?.[1] ?? '?').toLowerCase()

  class TracedPeerConnection extends Native {
    private readonly trace: RtcTrace
    private sctpWatched = false

    constructor(config?: RTCConfiguration) {
      super(config)
      this.trace = { id: traces.length, created: now(), events: [] }
      traces.push(this.trace)
      const certs = config?.certificates?.length ?? 0
      this.note(`new (${certs} certificate${certs === 1 ? '' : 's'})`)
      this.addEventListener('signalingstatechange', () =>
        this.note(`signaling ${this.signalingState}`),
      )
      this.addEventListener('icegatheringstatechange', () =>
        this.note(`gathering ${this.iceGatheringState}`),
      )
      this.addEventListener('iceconnectionstatechange', () =>
        this.note(`ice ${this.iceConnectionState}`),
      )
      this.addEventListener('connectionstatechange', () => {
        this.note(`connection ${this.connectionState}`)
        this.watchSctp()
      })
      this.addEventListener('icecandidate', (e) =>
        this.note(
          e.candidate === null || e.candidate.candidate === ''
            ? 'local candidate: end'
            : `local candidate ${kind(e.candidate.candidate)} ${proto(e.candidate.candidate)}`,
        ),
      )
      this.addEventListener('icecandidateerror', (e) =>
        this.note(`candidate error ${e.errorCode} ${e.errorText}`),
      )
      this.addEventListener('datachannel', (e) => this.watchChannel(e.channel, 'remote'))
    }

    note(what: string): void {
      if (this.trace.events.length < MAX_EVENTS)
        this.trace.events.push([Math.round((now() - this.trace.created) * 10) / 10, what])
    }

    /** pc.sctp exists once a description with a data section is set. */
    private watchSctp(): void {
      const sctp = this.sctp
      if (this.sctpWatched || sctp === null) return
      this.sctpWatched = true
      const dtls = sctp.transport
      const ice = dtls.iceTransport
      this.note(`sctp ${sctp.state}, dtls ${dtls.state}, ice transport ${ice.state}`)
      sctp.addEventListener('statechange', () => this.note(`sctp ${sctp.state}`))
      dtls.addEventListener('statechange', () => this.note(`dtls ${dtls.state}`))
      dtls.addEventListener('error', () => this.note('dtls error'))
      ice.addEventListener('statechange', () => this.note(`ice transport ${ice.state}`))
      ice.addEventListener('selectedcandidatepairchange', () => {
        const pair = ice.getSelectedCandidatePair()
        this.note(
          `selected pair ${pair?.local?.type ?? '?'}/${pair?.local?.protocol ?? '?'} -> ${pair?.remote?.type ?? '?'}/${pair?.remote?.protocol ?? '?'}`,
        )
      })
    }

    private watchChannel(channel: RTCDataChannel, side: string): void {
      // libp2p opens one channel per stream: the first few tell the story
      if (channel.id !== null && channel.id > 8) return
      const name = `${side} channel ${channel.label === '' ? '""' : channel.label}#${channel.id ?? '?'}`
      this.note(`${name} ${channel.readyState}`)
      channel.addEventListener('open', () => this.note(`${name} open`))
      channel.addEventListener('close', () => this.note(`${name} close`))
      channel.addEventListener('error', () => this.note(`${name} error`))
    }

    override createDataChannel(label: string, init?: RTCDataChannelInit): RTCDataChannel {
      const channel = super.createDataChannel(label, init)
      this.watchChannel(channel, 'local')
      return channel
    }

    override async setLocalDescription(d?: RTCLocalSessionDescriptionInit): Promise<void> {
      this.note(`setLocalDescription ${d?.type ?? 'implicit'}`)
      try {
        await super.setLocalDescription(d)
      } catch (e) {
        this.note(`setLocalDescription failed: ${String(e)}`)
        throw e
      }
      this.watchSctp()
    }

    override async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
      this.note(`setRemoteDescription ${d.type}`)
      try {
        await super.setRemoteDescription(d)
      } catch (e) {
        this.note(`setRemoteDescription failed: ${String(e)}`)
        throw e
      }
      this.watchSctp()
    }

    override async addIceCandidate(c?: RTCIceCandidateInit | null): Promise<void> {
      const text = c?.candidate ?? ''
      const early = this.remoteDescription === null ? ' (before the remote description)' : ''
      this.note(`remote candidate ${text === '' ? 'end' : `${kind(text)} ${proto(text)}`}${early}`)
      try {
        await super.addIceCandidate(c)
      } catch (e) {
        this.note(`addIceCandidate failed: ${String(e)}`)
        throw e
      }
    }

    override close(): void {
      this.note('close()')
      super.close()
    }
  }
  window.RTCPeerConnection = TracedPeerConnection
}
