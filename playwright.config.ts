import { defineConfig } from '@playwright/test'
import { contextOptions, launchOptions } from './e2e/chromium'

export default defineConfig({
  testDir: 'e2e',
  testMatch: '*.spec.ts',
  // several Chromium contexts and a relay per test on two cores: one test at a time
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 20_000 },
  retries: 0,
  reporter: [['list']],
  use: {
    launchOptions,
    ...contextOptions,
    trace: 'off',
  },
})
