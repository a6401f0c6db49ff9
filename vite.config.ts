import { defineConfig } from 'vite'
import path from 'node:path'

export default defineConfig({
  resolve: {
    alias: {
      // Automerge's low-level wasm API (see src/core/automerge.ts for why)
      'automerge-wasm-web': path.resolve(
        'node_modules/@automerge/automerge/dist/mjs/wasm_bindgen_output/web/automerge_wasm.js',
      ),
    },
  },
  build: {
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 2000,
    assetsInlineLimit: 0,
  },
  server: { port: 5173, strictPort: false },
})
