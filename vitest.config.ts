import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { integrationTests } from './test/suites.js';

/** The package's entry points and the source of each (`exports` in package.json). */
const entryPoints = {
  'im-rate-limit': './src/index.ts',
  'im-rate-limit/catalog': './src/catalog.ts',
  'im-rate-limit/store': './src/store/index.ts',
  'im-rate-limit/nestjs': './src/nestjs/index.ts',
};

/** `npm run test:unit` and `npm run test:integration` run one project each; `npm test` runs both. */
export default defineConfig({
  resolve: {
    // The demo imports the package by name; tests run it from source, no build needed.
    alias: Object.entries(entryPoints).map(([name, path]) => ({
      find: new RegExp(`^${name}$`),
      replacement: fileURLToPath(new URL(path, import.meta.url)),
    })),
  },
  test: {
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...integrationTests] },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [...integrationTests],
          // one redis-server and one Redis Cluster for the whole run, started only when this project runs
          globalSetup: ['test/setup/redis-servers.ts'],
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
