/**
 * A guard for @libp2p/webrtc's 'init' data channel (see libp2p-rtc.ts for how it is applied).
 *
 * The dialling side of a private-to-private WebRTC connection makes a channel labelled 'init',
 * reads ICE candidates until the connection is 'connected', then does
 * `if (init.readyState !== 'open') await event(init, 'open')`, closes the channel and waits for
 * its 'close' event. The answering side closes the same channel as soon as its own upgrade
 * adopts it. Chromium may deliver the channel's 'open' and that remote close before the
 * dialler's 'connectionstatechange' to 'connected' (measured: 1 in 6-9 dials on loopback), and
 * the dialler then waits for an 'open' that already happened, until its dial is aborted.
 *
 * Guarded, the channel reads 'open' from its first open until this side closes it, and a
 * close() after the remote's close still ends in a 'close' event: the dialler goes on.
 */

export function guardInitChannel(channel: RTCDataChannel): RTCDataChannel {
  // the browser's own state, read through the prototype's getter (shadowed below)
  const proto = Object.getPrototypeOf(channel) as object
  const nativeState = (): RTCDataChannelState =>
    Reflect.get(proto, 'readyState', channel) as RTCDataChannelState
  let opened = false
  let closed = false
  let closeAsked = false
  channel.addEventListener('open', () => (opened = true))
  channel.addEventListener('close', () => (closed = true))
  Object.defineProperty(channel, 'readyState', {
    configurable: true,
    get: (): RTCDataChannelState => (opened && !closeAsked ? 'open' : nativeState()),
  })
  const close = channel.close.bind(channel)
  channel.close = (): void => {
    if (closeAsked) return
    closeAsked = true
    // already closed by the remote: the caller is about to wait for 'close', so give it one
    if (closed) setTimeout(() => channel.dispatchEvent(new Event('close')), 0)
    else close()
  }
  return channel
}
