/**
 * `window.orrery.pwa`: installing Orrery as an app (the browser's install prompt, which the shell
 * replaces with its own Install button) and switching to a new version once it is downloaded.
 */
import type { FacadeCore } from './types'

type InstallEvent = Event & { prompt(): Promise<void>; userChoice: Promise<{ outcome: string }> }

export function pwaApi(core: FacadeCore) {
  let installEvent: InstallEvent | undefined
  const changed = (): void => core.events.emit('pwa', undefined)
  globalThis.addEventListener?.('beforeinstallprompt', (e) => {
    e.preventDefault() // the shell offers its own Install button
    installEvent = e as InstallEvent
    changed()
  })
  globalThis.addEventListener?.('appinstalled', () => {
    installEvent = undefined
    changed()
  })
  return {
    /** the browser allows installing Orrery now (it fired beforeinstallprompt) */
    canInstall: (): boolean => installEvent !== undefined,
    install: async (): Promise<string> => {
      const e = installEvent
      if (e === undefined) return 'unavailable'
      installEvent = undefined
      await e.prompt()
      const choice = await e.userChoice
      changed()
      return choice.outcome
    },
    /** a new version is downloaded and waits for the user to switch */
    updateAvailable: (): boolean => core.booted()?.sw.updateWaiting ?? false,
    /** saves everything, switches to the new version and reloads */
    applyUpdate: async (): Promise<void> => (await core.up()).sw.applyUpdate(),
  }
}
