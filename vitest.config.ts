import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** The package's entry points and the source of each (`exports` in package.json). */
const entryPoints = {
  'im-rate-limit': './src/index.ts',
  'im-rate-limit/catalog': './src/catalog.ts',
  'im-rate-limit/store': './src/store/index.ts',
  'im-rate-limit/nestjs': './src/nestjs/index.ts',
};

export default defineConfig({
  resolve: {
    // The demo imports the package by name; tests run it from source, no build needed.
    alias: Object.entries(entryPoints).map(([name, path]) => ({
      find: new RegExp(`^${name}$`),
      replacement: fileURLToPath(new URL(path, import.meta.url)),
    })),
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/redis-servers.ts'],
    reporters: ['default', './test/setup/summary-reporter.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
