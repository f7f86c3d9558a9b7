import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { integrationTests } from './suites.js';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Every `*.test.ts` under test/, as `test/...` paths. */
function testFiles(dir = join(root, 'test')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

/** `integrationTests`' globs, whose only wildcard is `*` within a file name. */
const integration = integrationTests.map(
  (glob) => new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`),
);
const isIntegration = (file: string): boolean => integration.some((pattern) => pattern.test(file));

/** What only the integration project provides: the run's Redis servers, server processes, the built package. */
const needsIntegration = [
  /\binject\(/,
  /from '[./]*support\/(redis|own-redis|redis-ha|clients|stores)\.js'/,
  /from 'io(redis)'/, // (a group, so that this file does not match itself)
  /node:child_(process)/,
  /\bdist\//,
];

describe('the unit and integration projects', () => {
  const files = testFiles();

  it('every integration glob names a test file', () => {
    expect(integration.filter((pattern) => !files.some((file) => pattern.test(file)))).toEqual([]);
  });

  it('no unit test reaches for a server, another process or the build', () => {
    const against = files
      .filter((file) => !isIntegration(file))
      .flatMap((file) => {
        const text = readFileSync(join(root, file), 'utf8');
        return needsIntegration.filter((pattern) => pattern.test(text)).map((pattern) => `${file}: ${pattern}`);
      });
    expect(against).toEqual([]);
  });
});
