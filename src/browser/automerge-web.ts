/**
 * Loads Automerge's wasm in the page. The module is fetched with streaming compilation (the relay
 * serves it as application/wasm) and Chromium caches the compiled code, so a returning user does
 * not pay the compile again. The shell paints before this finishes.
 */
import init, * as wasm from 'automerge-wasm-web'
import wasmUrl from '@automerge/automerge/automerge.wasm?url'
import { useAutomerge, type AutomergeApi } from '../core/automerge'

export async function loadAutomergeWeb(): Promise<AutomergeApi> {
  await init({ module_or_path: wasmUrl })
  const api = wasm as unknown as AutomergeApi
  useAutomerge(api)
  return api
}
