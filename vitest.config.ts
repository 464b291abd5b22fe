import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts the shared test stand once: moto server(s) and a throw-away PostgreSQL cluster.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: two workers. Test files isolate themselves (random AWS account ids, fresh
    // databases, their own Heroku fake), so they may run side by side on the shared stand.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
