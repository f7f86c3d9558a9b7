import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Each module of src/ and the modules of src/ it imports (`import` and `export … from`, types included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        const targets = [...text.matchAll(/from '(\.[^']+)\.js'/g)].map(([, target]) =>
          relative(src, resolve(dirname(path), `${target}.ts`)),
        );
        graph.set(relative(src, path), targets);
      }
    }
  };
  visit(src);
  return graph;
}

/** The layer of a module: its folder, or the module itself at the top. */
const layerOf = (module: string): string => (module.includes('/') ? module.slice(0, module.indexOf('/')) : module);

/**
 * The arrows the layers may point along: `limits` is pure and stands alone; the store is I/O behind
 * one port; membership uses both; the limiter and its helpers decide; only the Express layer (and
 * the public surface) reaches the middleware. The NestJS layer (`im-rate-limit/nestjs`) stands above
 * them all and reaches the library only through its public surface, so both entry points share one
 * instance of every module; nothing below imports it (Nest is an optional peer).
 */
const allowed: Record<string, readonly string[]> = {
  limits: ['limits'],
  'errors.ts': [],
  'clock.ts': [],
  'maybe-async.ts': [],
  'log.ts': ['errors.ts'],
  'admin-change.ts': ['log.ts', 'maybe-async.ts'],
  'decision.ts': ['limits'],
  store: ['store', 'limits', 'errors.ts', 'clock.ts', 'log.ts', 'maybe-async.ts'],
  membership: ['membership', 'store', 'limits', 'errors.ts', 'clock.ts', 'log.ts', 'maybe-async.ts'],
  'config.ts': ['decision.ts', 'limits', 'membership', 'store', 'errors.ts', 'log.ts', 'admin-change.ts'],
  'edition-directory.ts': ['config.ts', 'store', 'limits', 'clock.ts', 'log.ts', 'maybe-async.ts'],
  'plan.ts': ['config.ts', 'limits', 'store'],
  'limiter.ts': [
    'admin-change.ts',
    'config.ts',
    'edition-directory.ts',
    'plan.ts',
    'limits',
    'membership',
    'store',
    'errors.ts',
    'clock.ts',
    'log.ts',
    'maybe-async.ts',
  ],
  // the limiter's collaborators (edition-directory.ts, admin-change.ts) only through the composition root: below
  middleware: [
    'middleware',
    'limiter.ts',
    'edition-directory.ts',
    'admin-change.ts',
    'plan.ts',
    'config.ts',
    'decision.ts',
    'membership',
    'limits',
    'store',
    'errors.ts',
    'clock.ts',
    'log.ts',
    'maybe-async.ts',
  ],
  'index.ts': ['config.ts', 'decision.ts', 'errors.ts', 'limits', 'membership', 'middleware', 'store', 'log.ts'],
  nestjs: ['nestjs', 'index.ts'],
};

describe('the layers of src/', () => {
  const graph = importGraph();

  it('knows every layer', () => {
    expect([...new Set([...graph.keys()].map(layerOf))].sort()).toEqual(Object.keys(allowed).sort());
  });

  it('import only along the arrows', () => {
    const against: string[] = [];
    for (const [module, targets] of graph) {
      for (const target of targets) {
        const [from, to] = [layerOf(module), layerOf(target)];
        if (from !== to && !allowed[from]?.includes(to)) against.push(`${module} → ${target}`);
      }
    }
    expect(against).toEqual([]);
  });

  it("build the limiter's collaborators only in the composition root", () => {
    const builds = ['edition-directory.ts', 'admin-change.ts', 'membership/ledgers.ts', 'store/slot.ts'];
    const against: string[] = [];
    for (const [module, targets] of graph) {
      if (!module.startsWith('middleware/') || module === 'middleware/compose.ts') continue;
      for (const target of targets) if (builds.includes(target)) against.push(`${module} → ${target}`);
    }
    expect(against).toEqual([]);
  });
});
