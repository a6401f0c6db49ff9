/** How tests and the benchmark start Chromium here: Debian's build, loopback WebRTC allowed. */
import type { LaunchOptions } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

export const chromiumArgs = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
  // WebRTC between two Chromium processes on loopback: without this (and the camera/microphone
  // permissions on the context) no ICE candidates are gathered.
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
]

export const launchOptions: LaunchOptions = {
  executablePath: CHROMIUM,
  args: chromiumArgs,
  headless: true,
}

export const contextOptions = { permissions: ['camera', 'microphone'] }
