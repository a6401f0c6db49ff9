import { defineConfig } from 'vitest/config'
import path from 'node:path'

export default defineConfig({
  resolve: {
    alias: {
      // types only in Node: the runtime comes from src/core/automerge-node.ts
      'automerge-wasm': path.resolve('node_modules/@automerge/automerge/dist/wasm_types.d.ts'),
    },
  },
  test: {
    include: ['src/**/*.test.ts', 'relay/**/*.test.ts', 'test/**/*.test.ts', 'apps/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
})
