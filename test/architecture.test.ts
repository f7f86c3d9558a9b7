import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { storeErrorCodes, warningCodes } from '../src/errors.js';

const src = fileURLToPath(new URL('../src/', import.meta.url));

/** Each module of src/ by its path below src/, and its text. */
function sources(): Map<string, string> {
  const texts = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) texts.set(relative(src, path), readFileSync(path, 'utf8'));
    }
  };
  visit(src);
  return texts;
}

/** Each module of src/ and the modules of src/ it imports (`import` and `export … from`, types included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [module, text] of sources()) {
    const targets = [...text.matchAll(/from '(\.[^']+)\.js'/g)].map(([, target]) =>
      relative(src, resolve(dirname(join(src, module)), `${target}.ts`)),
    );
    graph.set(module, targets);
  }
  return graph;
}

/** Each module of src/ and the packages it imports (`node:` built-ins included). */
function packageImports(): Map<string, string[]> {
  const imports = new Map<string, string[]>();
  for (const [module, text] of sources()) {
    imports.set(
      module,
      [...text.matchAll(/from '([^.'][^']*)'/g)].map(([, name]) => name as string),
    );
  }
  return imports;
}

/**
 * The modules a published entry point is built from (`exports` in package.json, `nestjs` aside):
 * each is a layer of its own, above the library, and nothing in the library imports one.
 */
const entryModules = ['index.ts', 'types.ts', 'catalog.ts', 'store/index.ts'];

/** The layer of a module: an entry module itself, else its folder, or the module itself at the top. */
const layerOf = (module: string): string =>
  entryModules.includes(module) || !module.includes('/') ? module : module.slice(0, module.indexOf('/'));

/**
 * The arrows the layers may point along: `limits` is pure (no Express, no request object: finding a
 * request's path is the middleware's) and stands on the bounded map alone; the store is I/O behind
 * two ports, the buckets' and the membership ledger's (a store may keep its own ledger: the contract
 * and the Redis ledger live there); membership (the caps' policy, the choice of ledger, the one kept
 * in this process) uses both; the options (types, and the lists of values their unions take) name
 * what they are made of; the limiter and its helpers decide (`limiter/`: its policies, over the
 * store's types only); only the Express layer (and the public surface) reaches the middleware. The
 * entry points reach what they publish: the main entry (`index.ts`, its types in `types.ts`), the
 * catalog (`limits`, and the classifier of request targets, which finds a target's path as Express
 * does in the middleware), the store and ledger contracts. The NestJS layer
 * (`im-rate-limit/nestjs`) stands above them all and reaches the library only through the main
 * entry, so both entry points share one instance of every module; nothing below imports it (Nest is
 * an optional peer).
 */
const allowed: Record<string, readonly string[]> = {
  'bounded-map.ts': [],
  limits: ['limits', 'bounded-map.ts'],
  'errors.ts': [],
  'clock.ts': [],
  'maybe-async.ts': [],
  'log.ts': ['errors.ts'],
  'admin-change.ts': ['log.ts', 'maybe-async.ts'],
  'decision.ts': ['limits'],
  store: ['store', 'limits', 'bounded-map.ts', 'errors.ts', 'clock.ts', 'log.ts', 'maybe-async.ts'],
  membership: ['membership', 'store', 'limits', 'clock.ts', 'log.ts', 'maybe-async.ts'],
  'options.ts': ['admin-change.ts', 'decision.ts', 'errors.ts', 'limits', 'log.ts', 'membership', 'store'],
  'config.ts': ['options.ts', 'limits', 'membership', 'store', 'errors.ts', 'log.ts'],
  'edition-directory.ts': [
    'config.ts',
    'options.ts',
    'store',
    'limits',
    'bounded-map.ts',
    'clock.ts',
    'log.ts',
    'maybe-async.ts',
  ],
  'plan.ts': ['options.ts', 'limits', 'store'],
  limiter: ['limiter', 'store', 'bounded-map.ts'],
  'limiter.ts': [
    'limiter',
    'bounded-map.ts',
    'admin-change.ts',
    'config.ts',
    'options.ts',
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
    'limiter',
    'edition-directory.ts',
    'admin-change.ts',
    'plan.ts',
    'config.ts',
    'options.ts',
    'decision.ts',
    'membership',
    'limits',
    'store',
    'errors.ts',
    'clock.ts',
    'log.ts',
    'maybe-async.ts',
  ],
  'types.ts': [
    'admin-change.ts',
    'decision.ts',
    'errors.ts',
    'limiter.ts',
    'limits',
    'log.ts',
    'membership',
    'middleware',
    'options.ts',
    'store',
  ],
  'index.ts': ['types.ts', 'errors.ts', 'limits', 'middleware', 'store'],
  'catalog.ts': ['limits', 'middleware'],
  'store/index.ts': ['store'],
  nestjs: ['nestjs', 'index.ts'],
};

/** The packages the pure layers may import: zod for the quota table's schema, nothing that does I/O or reads a request. */
const purePackages: Record<string, readonly string[]> = { limits: ['zod'], 'bounded-map.ts': [], limiter: [] };

describe('the layers of src/', () => {
  const graph = importGraph();

  it('knows every layer', () => {
    expect([...new Set([...graph.keys()].map(layerOf))].sort()).toEqual(Object.keys(allowed).sort());
  });

  it('has an entry module for each entry point of package.json', () => {
    const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, string | { default: string }>;
    };
    const published = Object.values(manifest.exports)
      .filter((target) => typeof target !== 'string')
      .map((target) => target.default.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
    expect(published.sort()).toEqual(
      [...entryModules.filter((module) => module !== 'types.ts'), 'nestjs/index.ts'].sort(),
    );
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
    const builds = [
      'edition-directory.ts',
      'admin-change.ts',
      'membership/ledgers.ts',
      'store/slot.ts',
      'limiter/refusal-cache.ts',
    ];
    const against: string[] = [];
    for (const [module, targets] of graph) {
      if (!module.startsWith('middleware/') || module === 'middleware/compose.ts') continue;
      for (const target of targets) if (builds.includes(target)) against.push(`${module} → ${target}`);
    }
    expect(against).toEqual([]);
  });

  it('keep the pure layers off Express, Node and I/O', () => {
    const against: string[] = [];
    for (const [module, packages] of packageImports()) {
      const allowedPackages = purePackages[layerOf(module)];
      if (allowedPackages === undefined) continue;
      for (const name of packages) if (!allowedPackages.includes(name)) against.push(`${module} → ${name}`);
    }
    expect(against).toEqual([]);
  });
});

const root = fileURLToPath(new URL('../', import.meta.url));
const architecture = readFileSync(new URL('../ARCHITECTURE.md', import.meta.url), 'utf8');

/** Every text file below `dirs` (paths from the repository's root), node_modules aside, with its text. */
function textFiles(...dirs: string[]): Map<string, string> {
  const texts = new Map<string, string>();
  const visit = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') visit(path);
      } else if (/\.(?:[cm]?[jt]s|json|md)$/.test(entry.name))
        texts.set(relative(root, path), readFileSync(path, 'utf8'));
    }
  };
  for (const dir of dirs) visit(join(root, dir));
  return texts;
}

/** The lines of one `## ` section of ARCHITECTURE.md. */
function section(title: string): string[] {
  const lines = architecture.split('\n');
  const start = lines.indexOf(`## ${title}`);
  expect(start, `ARCHITECTURE.md has no section "${title}"`).toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((line, i) => i > start && line.startsWith('## '));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

const codeSpans = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map(([, span]) => span as string);

describe('ARCHITECTURE.md', () => {
  it('is the design src/ and test/ point at: none outside the repository', () => {
    // spelled in parts, so that this file does not name them itself
    const outside = new RegExp(`\\b(?:${['DES', 'IGN'].join('')}|${['SP', 'EC'].join('')})\\b`);
    const mentions = [...textFiles('src', 'test', 'bench', 'demo', 'examples')]
      .filter(([, text]) => outside.test(text))
      .map(([path]) => path);
    expect(mentions, 'point at a section of ARCHITECTURE.md instead').toEqual([]);
  });

  it('lists the layers and their arrows exactly as `allowed` has them', () => {
    const documented: Record<string, string[]> = {};
    for (const row of section('Layers and arrows').filter((line) => line.startsWith('| `'))) {
      const [layers = '', imports = ''] = row.split('|').slice(1);
      for (const layer of codeSpans(layers)) documented[layer] = codeSpans(imports).sort();
    }
    const expected = Object.fromEntries(
      Object.entries(allowed).map(([layer, targets]) => [layer, targets.filter((target) => target !== layer).sort()]),
    );
    expect(documented).toEqual(expected);
  });

  it('names every key builder of store/keys.ts', () => {
    const keys = readFileSync(join(src, 'store/keys.ts'), 'utf8');
    const builders = [...keys.matchAll(/^export (?:function|const) (\w+)/gm)].map(([, name]) => name as string);
    expect(builders.length).toBeGreaterThan(5);
    const named = new Set(codeSpans(section('The key layout').join('\n')));
    expect(builders.filter((builder) => !named.has(builder))).toEqual([]);
  });

  it('names every error and warning code, and none the library does not have', () => {
    const declared = ['errors.ts', 'log.ts'].flatMap((module) =>
      [...readFileSync(join(src, module), 'utf8').matchAll(/'((?:ERR|WRN)_[A-Z_]+)'/g)].map(([, code]) => code),
    );
    const codes = new Set<string>([...declared, ...warningCodes, ...storeErrorCodes] as string[]);
    expect([...codes].filter((code) => code.startsWith('ERR_')).length).toBeGreaterThanOrEqual(10);
    expect([...codes].filter((code) => code.startsWith('WRN_')).length).toBeGreaterThanOrEqual(16);
    const documented = new Set(codeSpans(section('Errors and warnings').join('\n')));
    expect([...codes].filter((code) => !documented.has(code))).toEqual([]);
    const mentioned = [...architecture.matchAll(/\b(?:ERR|WRN)_[A-Z][A-Z_]*\b/g)].map(([code]) => code);
    expect([...new Set(mentioned)].filter((code) => !codes.has(code))).toEqual([]);
  });
});
