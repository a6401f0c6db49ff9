import { defineConfig } from 'vite'
import path from 'node:path'
import { precacheManifest } from './scripts/vite-precache.ts'
import { litHmr } from './scripts/vite-lit-hmr.ts'
import { libp2pRtc } from './scripts/vite-libp2p-rtc.ts'

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
    rolldownOptions: {
      input: { main: path.resolve('index.html'), sw: path.resolve('src/sw/sw.ts') },
      output: {
        // the service worker must live at the root to control the whole origin
        entryFileNames: (chunk) => (chunk.name === 'sw' ? 'sw.js' : 'assets/[name]-[hash].js'),
      },
    },
  },
  plugins: [
    libp2pRtc(),
    litHmr(),
    precacheManifest({ swFile: 'sw.js', publicDir: 'public', skip: /^seed\// }),
  ],
  server: { port: 5173, strictPort: false },
  // the dev service worker's dependencies, optimised up front (a late discovery reloads the page)
  optimizeDeps: {
    include: ['workbox-precaching', 'workbox-routing', 'dexie'],
    rolldownOptions: { plugins: [libp2pRtc()] },
  },
})
