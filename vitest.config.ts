import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Integration suites spawn gateway processes: forks keep each file in its own process, and
    // two files at a time is what a 2-core machine can run without timing noise.
    pool: 'forks',
    maxWorkers: 2,
  },
})
