/** Loads the low-level Automerge wasm API in Node (tests, relay, bench helpers). */
import { createRequire } from 'node:module'
import path from 'node:path'
import { useAutomerge, type AutomergeApi } from './automerge'

export function loadAutomergeNode(): AutomergeApi {
  const require = createRequire(import.meta.url)
  const dist = path.dirname(require.resolve('@automerge/automerge/automerge.wasm'))
  const api = require(
    path.join(dist, 'mjs/wasm_bindgen_output/nodejs/automerge_wasm.cjs'),
  ) as AutomergeApi
  useAutomerge(api)
  return api
}
