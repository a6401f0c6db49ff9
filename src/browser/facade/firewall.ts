/**
 * `window.orrery.firewall`: what each remote peer may send (limits, strikes, bans) and the deny
 * and allow lists kept in this profile.
 */
import type { FirewallConfig, FirewallPeerStats } from '../../core/firewall/firewall'
import type { PeerLists } from '../../core/firewall/peer-lists'
import type { FacadeCore } from './types'

export function firewallApi(core: Pick<FacadeCore, 'up'>) {
  return {
    /** per remote peer: admitted writes and bytes, time throttled, strikes, bans */
    stats: async (): Promise<Record<string, FirewallPeerStats>> =>
      (await core.up()).peer.firewall.stats(),
    config: async (): Promise<FirewallConfig> => (await core.up()).peer.firewall.config,
    /**
     * changes the limits (writes per second, bytes per minute …); deny and allow lists given
     * here are kept in the profile like those of `lists`
     */
    configure: async (changes: Partial<FirewallConfig>): Promise<void> => {
      const b = await core.up()
      const { deny, allow, ...limits } = changes
      b.peer.firewall.configure(limits)
      if (deny !== undefined || 'allow' in changes) {
        const now = b.peerLists.lists()
        const nextAllow = 'allow' in changes ? allow : now.allow
        await b.peerLists.set({
          deny: deny ?? now.deny,
          ...(nextAllow === undefined ? {} : { allow: nextAllow }),
        })
      }
    },
    /** the deny and allow lists (identity did:keys and/or peer ids), kept in this profile */
    lists: async (): Promise<PeerLists> => (await core.up()).peerLists.lists(),
    deny: async (who: string): Promise<void> => (await core.up()).peerLists.deny(who),
    undeny: async (who: string): Promise<void> => (await core.up()).peerLists.undeny(who),
    /** adds to the allow list; with an allow list, only those on it may sync */
    allow: async (who: string): Promise<void> => (await core.up()).peerLists.allow(who),
    unallow: async (who: string): Promise<void> => (await core.up()).peerLists.unallow(who),
    /** allow-list mode on or off (off keeps nothing of the allow list) */
    allowOnly: async (on: boolean): Promise<void> => (await core.up()).peerLists.allowOnly(on),
  }
}
