/** What the L2 test and its peer processes (peer-main.ts) say to each other over IPC. */

export interface PeerConfig {
  name: string
  /** which identity (identitySeed): 0 is the space's admin, 1 … honest-1 writers, honest the outsider */
  index: number
  honest: number
  intruder: boolean
  incarnation: number
  free: string
  governed: string
  spaceId: string
  /** the peer's file log (its disk; survives kills) */
  file: string
  /** the address it listens on, in its namespace */
  ip: string
  relayAddr: string
  relayId: string
  /** keys this peer wrote and flushed before it was killed: present once it loaded its disk */
  flushed: { doc: 'free' | 'governed'; key: string }[]
}

export type RequestBody =
  | { op: 'write'; doc: 'free' | 'governed'; key: string; slot: number }
  | { op: 'outsider'; key: string }
  | { op: 'flush' }
  | { op: 'status' }
  | { op: 'stop' }

export type Request = { id: number } & RequestBody

export interface Reply {
  id: number
  ok: boolean
  error?: string
  /** ready (id 0): the libp2p peer id, and bytes of a torn log tail cut off when opening */
  peerId?: string
  torn?: number
  /** ready: the flushed keys (PeerConfig.flushed) its disk did not give back */
  missing?: string[]
  /** status: sorted heads of the free and the governed document */
  heads?: string[]
  peers?: number
  relay?: string
  strikes?: string[]
}

/** The 32-byte seed of identity `i` (deterministic: the test knows every member's key). */
export function identitySeed(i: number): Uint8Array {
  return new Uint8Array(32).fill(i + 1)
}
