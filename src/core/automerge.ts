/**
 * Orrery talks to Automerge through its low-level wasm API (the `Automerge` class: mutable,
 * no materialised JS tree), not through the `@automerge/automerge` JS layer. Measured on this
 * machine with Automerge 3.5.0 and a 10,000-key map: a JS-layer `change` costs ~8.5 ms (it copies
 * the materialised root object), a low-level put+commit ~0.2 ms; the JS layer's sync also converts
 * sync states between JS and wasm on every call. The low-level API ships inside the pinned
 * `@automerge/automerge` package (it has no export of its own), so the Node and browser loaders
 * reach it by file path; this module is the single place the rest of the code gets it from.
 */
import type * as Wasm from 'automerge-wasm'

export type AutomergeDoc = Wasm.Automerge
export type SyncState = Wasm.SyncState
export type Patch = Wasm.Patch
export type Heads = Wasm.Heads
export type Prop = Wasm.Prop

export interface AutomergeApi {
  create(options?: { actor?: string }): Wasm.Automerge
  load(data: Uint8Array, options?: Wasm.LoadOptions): Wasm.Automerge
  initSyncState(): Wasm.SyncState
  decodeSyncMessage(msg: Uint8Array): Wasm.DecodedSyncMessage
  encodeSyncMessage(message: Wasm.DecodedSyncMessage): Uint8Array
  decodeChange(change: Uint8Array): Wasm.DecodedChange
}

let api: AutomergeApi | undefined
const waiters: ((a: AutomergeApi) => void)[] = []

export function useAutomerge(a: AutomergeApi): void {
  api = a
  for (const w of waiters.splice(0)) w(a)
}

/** The loaded API; throws if no loader has run yet (a programming error, not user input). */
export function am(): AutomergeApi {
  if (api === undefined)
    throw new Error('Automerge wasm is not loaded yet (call useAutomerge first)')
  return api
}

export function automergeReady(): Promise<AutomergeApi> {
  if (api !== undefined) return Promise.resolve(api)
  return new Promise((resolve) => waiters.push(resolve))
}
