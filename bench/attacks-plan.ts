/** What bench/attacks.ts and its attacker child (bench/attacks-child.ts) say to each other. */

export const ATTACK_NAMES = [
  'change-bomb',
  'document-bomb',
  'compressed-change',
  'interest-flood',
  'reassembly-pinning',
  'slow-loris',
  'relay-amplification',
  'hostile-space',
  'docs-capture',
  'write-flood',
  'forged-signatures',
] as const
export type AttackName = (typeof ATTACK_NAMES)[number]

/** Where the victim is and what it holds (ids the attacker learnt, as a real one could). */
export interface AttackContext {
  /** the victim's listen addresses (WebSockets on 127.0.0.1) */
  victim: string[]
  /** the discovery relay's addresses */
  relay: string[]
  /** topics the victim's process is a member of at the relay (hex) */
  relayTopics: string[]
  /** an ungoverned document the victim has open */
  plainDoc: string
  /** a document of the victim's space `space` */
  governedDoc: string
  space: string
  /** a document of another space of the victim's, which the attacker is not in */
  homeDoc: string
  /** the victim's identity (did:key) and public key (hex): the space's admin */
  adminDid: string
  adminKey: string
  /** the victim's reassembly budget: pinning announces messages of this size (larger: refused) */
  reassemblyBytes: number
  /** an invite to `space` as a writer (the member attacks join with it) */
  invite: string
}

export interface ChildReport {
  /** bytes the attacker sent (raw attacks) */
  bytes: number
  /** signed writes made (member attacks) */
  writes: number
  /** streams it opened, and how many the victim (or relay) closed or reset */
  streams: number
  cutOff: number
  /** what was mounted, with its parameters */
  note: string
}

export type ToChild =
  { type: 'start'; attack: AttackName; ctx: AttackContext } | { type: 'stop' } | { type: 'exit' }

export type FromChild =
  { type: 'ready' } | { type: 'started' } | { type: 'stopped'; report: ChildReport }
