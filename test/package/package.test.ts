/**
 * The package as published: `npm pack` the built project, check what the tarball holds, install it
 * into consumer projects in temp dirs as a user would (tarballs from the npm cache that `npm ci`
 * filled, metadata from the registry where the cache lacks it), then compile and run each consumer
 * of `examples/<name>/`. Each starts its server on 127.0.0.1, sends a burst of 11 requests for one
 * community app (10/s, a bucket of 10) with a MemoryStore whose clock stands still, so no token
 * refills during the burst however slow the machine, and prints one line of JSON. A TypeScript
 * consumer is compiled, and run, with the TypeScript of the lock file (5.x) and with TypeScript 7,
 * what `npm install -D typescript` installs today.
 *
 * The consumers and the entry points run on this process's Node and on each Node that
 * `PACKAGE_TEST_NODES` names (`"22 24 26"`: `npx -y node@22`, …; or paths of Node binaries): packing,
 * installing and compiling are done once, whichever Node runs the result.
 *
 * Needs a built `dist/` (`npm test` builds it first) and the npm registry or a warm npm cache.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, type ExpectStatic, expect, it } from 'vitest';
import { EXTRA_NODES_VARIABLE, extraNodeEntries, type NodeBinary, nodesToRun, thisNode } from './nodes.js';
import { describeRun, mustRun, type Run, run } from './run.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = fileURLToPath(new URL('../../examples', import.meta.url));

/**
 * TypeScript 7 (the native compiler), beside the lock file's 5.x. Its `tsc` compiles the projects of
 * the other install dirs: a compiler resolves a project's types from the project, not from itself.
 */
const typescript7 = 'typescript@7.0.2';

/**
 * The install dirs and what each installs besides the tarball: `name` or `name=lockEntry`, at the
 * version of `node_modules/<lockEntry>` in the project's lock file (`express4` is its Express 4),
 * or `name@version` as it stands.
 */
const installs = {
  plain: ['express', 'typescript', '@types/express', '@types/node'],
  express4: ['express=express4'],
  nest: [
    ...['express', 'typescript', '@types/express', '@types/node'],
    ...['@nestjs/common', '@nestjs/core', '@nestjs/platform-express', 'reflect-metadata', 'rxjs'],
  ],
  ts7: [typescript7],
} as const;
type InstallDir = keyof typeof installs;
/** The TypeScript compilers: the one of each consumer's own install dir, and TypeScript 7. */
const compilers = ['typescript 5', 'typescript 7'] as const;
/** The optional peers: no consumer installs them, so the package must load and type-check without them. */
const optionalPeers = ['ioredis', 'rate-limiter-flexible', 'prom-client'];

interface Fixture {
  readonly name: string;
  /** The install dir it runs in: `plain` (Express 5, TypeScript), `express4`, or `nest` (plain and NestJS). */
  readonly install: Exclude<InstallDir, 'ts7'>;
  /** The project in `examples/`, when not `name`. */
  readonly example?: string;
  /**
   * The project files compiled before it runs, by each of `compilers` in turn (the first emits what
   * runs; another one may only type-check); none for JavaScript.
   */
  readonly tsc: readonly string[];
  readonly entry: string;
  /** What its handler answers: an admitted request reached it. */
  readonly answer: unknown;
}

const consumers: readonly Fixture[] = [
  { name: 'esm', install: 'plain', tsc: [], entry: 'main.js', answer: { entities: [] } },
  { name: 'commonjs', install: 'express4', tsc: [], entry: 'main.cjs', answer: { entities: [] } },
  // a CommonJS package: module nodenext compiles import to require(); a bundled app type-checks with bundler
  {
    name: 'commonjs-typescript',
    install: 'plain',
    tsc: ['tsconfig.json', 'tsconfig.bundler.json'],
    entry: 'dist/main.js',
    answer: { entities: [] },
  },
  // one project, compiled with node16 resolution and with bundler resolution
  {
    name: 'typescript-node16',
    example: 'typescript',
    install: 'plain',
    tsc: ['tsconfig.json'],
    entry: 'dist/main.js',
    answer: { entities: [] },
  },
  {
    name: 'typescript-bundler',
    example: 'typescript',
    install: 'plain',
    tsc: ['tsconfig.bundler.json'],
    entry: 'dist/main.js',
    answer: { entities: [] },
  },
  // the handler answers from `this`: the decorated method is called on its instance
  {
    name: 'legacy-decorators',
    install: 'plain',
    tsc: ['tsconfig.json'],
    entry: 'dist/main.js',
    answer: { data: ['lobby'] },
  },
  { name: 'nestjs', install: 'nest', tsc: ['tsconfig.json'], entry: 'dist/main.js', answer: { entities: [] } },
];

/** The names each entry point exports at run time (the store's contracts are types only). */
const entryPointNames = {
  main: [
    'ConfigError',
    'ImRateLimitError',
    'MemoryStore',
    'RateLimiterFlexibleStore',
    'RedisStore',
    'StoreError',
    'categories',
    'defaultTable',
    'imRateLimit',
    'warningCodes',
  ],
  catalog: ['appKeyOf', 'classify', 'routes'],
  store: [],
  nestjs: [
    'IM_RATE_LIMIT',
    'IM_RATE_LIMIT_METADATA',
    'ImRateLimitCategory',
    'ImRateLimitGuard',
    'ImRateLimitModule',
    'ImRateLimitRefusedException',
  ],
};

/** What `PACKAGE_TEST_NODES` names, read when the tests are collected, so that their names can say it. */
const extraNodes = extraNodeEntries(process.env[EXTRA_NODES_VARIABLE]);
const onNodes = extraNodes.length === 0 ? '' : ` (on this Node and ${extraNodes.join(', ')})`;

let nodes: readonly NodeBinary[] = [thisNode]; // the Nodes that run each consumer
let work: string; // the temp dir holding everything below; removed afterwards
let tarball: string;
let unpacked: string; // the tarball's `package/` folder, extracted
let shipped: Set<string>; // the tarball's file paths, relative to `package/`

beforeAll(async () => {
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does, in pretest)');
  }
  work = await mkdtemp(join(tmpdir(), 'im-rate-limit-package-'));
  const [packed, resolved] = await Promise.all([
    mustRun('npm pack', 'npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root),
    nodesToRun(extraNodes, root),
  ]);
  nodes = resolved;
  const [summary] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(work, summary.filename);
  shipped = new Set(summary.files.map((file) => file.path));
  await mustRun('tar', 'tar', ['-xzf', tarball, '-C', work], work);
  unpacked = join(work, 'package');
}, 300_000); // npx downloads a Node the npm cache lacks (some 30 MB)

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

describe('the tarball', () => {
  it('ships the files that package.json points to', async () => {
    const manifest = JSON.parse(await readFile(join(unpacked, 'package.json'), 'utf8')) as Record<string, unknown>;
    const targets: string[] = [];
    const collect = (value: unknown): void => {
      if (typeof value === 'string') targets.push(value);
      else if (Array.isArray(value)) value.forEach(collect);
      else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
    };
    collect([manifest.main, manifest.types, manifest.exports, manifest.typesVersions]);
    const missing = [...new Set(targets)].filter(
      (target) => !target.includes('*') && !shipped.has(posix.normalize(target)),
    );
    expect(missing, 'main, types, exports and typesVersions targets missing from the tarball').toEqual([]);
  });

  it('ships no compiled file of a source that no longer exists (a dist/ left from an older build)', () => {
    const stale = [...shipped].filter((path) => {
      const compiled = /^dist\/(.+)\.(?:js|d\.ts)(?:\.map)?$/.exec(path);
      return compiled !== null && !existsSync(join(root, 'src', `${compiled[1]}.ts`));
    });
    expect(stale, 'files in dist/ whose src/ file is gone: the build must empty dist/ first').toEqual([]);
  });

  it('ships every file the README links to or names', async () => {
    const readme = await readFile(join(root, 'README.md'), 'utf8');
    const isRelative = (href: string) => href !== '' && !/^([a-z][a-z\d+.-]*:|#|\/\/)/i.test(href);
    const links = [
      ...readme.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g), // [text](href "title")
      ...readme.matchAll(/^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm), // [ref]: href
      ...readme.matchAll(/\b(?:href|src)="([^"]+)"/g), // <a href> / <img src>
    ]
      .map((match) => (match[1] as string).replace(/[#?].*$/, ''))
      .filter(isRelative)
      .map((href) => posix.normalize(decodeURI(href)));
    const linked = [...new Set(links)].filter((href) => !shipped.has(href));

    // a file named in a code span (`routes.json`), other than the repository's tests (named as
    // evidence, never shipped); a bare name may be anywhere in the package
    const basenames = new Set([...shipped].map((path) => posix.basename(path)));
    const named = [...readme.matchAll(/`([\w.@/-]+\.(?:json|ts|js|mjs|cjs|md|lua))`/g)]
      .map((match) => posix.normalize(match[1] as string))
      .filter((path) => !path.startsWith('test/') && !links.includes(path));
    const namedNotShipped = [...new Set(named)].filter(
      (path) => !shipped.has(path) && (path.includes('/') || !basenames.has(path)),
    );
    expect(
      { linked, named: namedNotShipped },
      'files README.md links to, or names in `code`, that are not in the tarball',
    ).toEqual({ linked: [], named: [] });
  });

  it('ships no source map whose sources are not in it, and no dangling sourceMappingURL', async () => {
    const unresolved: string[] = [];
    for (const path of shipped) {
      if (path.endsWith('.map')) {
        const map = JSON.parse(await readFile(join(unpacked, path), 'utf8')) as {
          sourceRoot?: string;
          sources?: string[];
        };
        for (const source of map.sources ?? []) {
          const resolved = posix.normalize(posix.join(posix.dirname(path), map.sourceRoot ?? '', source));
          if (!shipped.has(resolved)) unresolved.push(`${path} -> ${source}`);
        }
      } else if (/\.(?:[cm]?js|d\.[cm]?ts)$/.test(path)) {
        const text = await readFile(join(unpacked, path), 'utf8');
        for (const [, url] of text.matchAll(/^\/\/# sourceMappingURL=(\S+)\s*$/gm)) {
          if (url?.startsWith('data:')) continue;
          const resolved = posix.normalize(posix.join(posix.dirname(path), url as string));
          if (!shipped.has(resolved)) unresolved.push(`${path} -> ${url}`);
        }
      }
    }
    expect(unresolved, 'source maps (or sourceMappingURL comments) pointing outside the tarball').toEqual([]);
  });
});

/**
 * A consumer's test, six at once on two cores: up to six compiles (TypeScript 5 takes 6 to 7 s of CPU
 * on a NestJS project) and two runs; 120 s measured beside other suites on a load of 13.
 */
const CONSUMER_TIMEOUT_MS = 300_000;
/** One run of a consumer or of the entry points (a NestJS app starting takes the longest). */
const RUN_TIMEOUT_MS = 60_000;
/** Each Node of `PACKAGE_TEST_NODES` adds a consumer's runs: two at most, seconds each. */
const consumerTimeoutMs = CONSUMER_TIMEOUT_MS + extraNodes.length * RUN_TIMEOUT_MS;

/** require(esm) is unflagged and silent from Node 20.19 and 22.13 (22.12 loads the package, with this warning). */
function expectNoExperimentalWarning(expect: ExpectStatic, ran: Run, what: string): void {
  expect(ran.stderr, `no ExperimentalWarning (require(esm) or otherwise): ${what}`).not.toMatch(/ExperimentalWarning/);
}

describe.concurrent('a consumer project', () => {
  const dirs: Record<InstallDir, string> = { plain: '', express4: '', nest: '', ts7: '' };
  /** A compiler's `tsc`, for the projects of install dir `dir`: its own TypeScript 5, or TypeScript 7. */
  const tscOf = (compiler: (typeof compilers)[number], dir: InstallDir): string =>
    join(dirs[compiler === 'typescript 7' ? 'ts7' : dir], 'node_modules', 'typescript', 'bin', 'tsc');

  beforeAll(async () => {
    const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { version?: string }>;
    };
    const pinned = (dep: string): string => {
      if (dep.lastIndexOf('@') > 0) return dep; // name@version
      const [name, entry = name] = dep.split('=') as [string, string?];
      const version = lock.packages[`node_modules/${entry}`]?.version;
      if (version === undefined) throw new Error(`node_modules/${entry} is not in package-lock.json`);
      return `${name}@${version}`;
    };
    const install = async (name: keyof typeof dirs, deps: readonly string[]): Promise<void> => {
      const dir = join(work, name);
      await mkdir(dir);
      await writeFile(join(dir, 'package.json'), `${JSON.stringify({ name: `consumer-${name}`, private: true })}\n`);
      // --prefer-offline: what the cache holds is used without asking the registry whether it is current
      await mustRun(
        `npm install (${name})`,
        'npm',
        [
          ...['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'],
          ...(name === 'ts7' ? [] : [tarball]), // a compiler alone
          ...deps.map(pinned),
        ],
        dir,
      );
      dirs[name] = dir;
    };
    await Promise.all(Object.entries(installs).map(([name, deps]) => install(name as InstallDir, deps)));
  }, 180_000);

  it('installs the tarball and the Express of each dir, without the optional peers; TypeScript 5 and 7', async ({
    expect,
  }) => {
    const expressMajor = async (dir: string) =>
      (
        JSON.parse(await readFile(join(dir, 'node_modules', 'express', 'package.json'), 'utf8')) as { version: string }
      ).version.split('.')[0];
    expect(await expressMajor(dirs.plain)).toBe('5');
    expect(await expressMajor(dirs.express4)).toBe('4');
    for (const compiler of compilers) {
      const version = await run(process.execPath, [tscOf(compiler, 'plain'), '--version'], dirs.plain);
      expect(version.stdout, compiler).toMatch(new RegExp(`^Version ${compiler.split(' ')[1]}\\.`));
    }
    for (const dir of [dirs.plain, dirs.express4, dirs.nest]) {
      expect(existsSync(join(dir, 'node_modules', 'im-rate-limit', 'package.json'))).toBe(true);
      for (const peer of optionalPeers) expect(existsSync(join(dir, 'node_modules', peer)), peer).toBe(false);
    }
  });

  // in the NestJS dir, so that `im-rate-limit/nestjs` loads; the other optional peers are absent there too
  it(
    `every entry point (., ./catalog, ./store, ./nestjs) from ESM, CommonJS and strict TypeScript 5 and 7${onNodes}`,
    async ({ expect }) => {
      const dir = join(dirs.nest, 'entry-points');
      await cp(join(fixtures, 'entry-points'), dir, { recursive: true });
      for (const compiler of compilers) {
        for (const project of ['tsconfig.json', 'tsconfig.bundler.json', 'tsconfig.node10.json']) {
          const compiled = await run(process.execPath, [tscOf(compiler, 'nest'), '-p', project], dir);
          const what = describeRun(`${compiler}: tsc -p ${project}`, compiled);
          // node10 resolution (typesVersions) is TypeScript 5's alone: 7 refuses the option itself
          if (compiler === 'typescript 7' && project === 'tsconfig.node10.json')
            expect.soft(compiled.stdout, what).toMatch(/TS5108/);
          else expect.soft(compiled.code, what).toBe(0);
        }
      }
      for (const node of nodes) {
        for (const entry of ['esm.mjs', 'cjs.cjs']) {
          const ran = await run(node.path, [entry], dir, RUN_TIMEOUT_MS);
          const what = describeRun(`Node ${node.version}: node ${entry}`, ran);
          expect(ran.code, what).toBe(0);
          expectNoExperimentalWarning(expect, ran, what);
          expect(JSON.parse(ran.stdout.trim().split('\n').at(-1) ?? ''), what).toEqual(entryPointNames);
        }
      }
    },
    consumerTimeoutMs,
  );

  for (const fixture of consumers) {
    it(
      `${fixture.name}: 10 of a burst of 11 admitted, the 11th refused 429${onNodes}`,
      async ({ expect }) => {
        const dir = join(dirs[fixture.install], fixture.name);
        await cp(join(fixtures, fixture.example ?? fixture.name), dir, { recursive: true });
        // JavaScript runs as it is; TypeScript as each compiler emitted it; each on every Node
        for (const compiler of fixture.tsc.length === 0 ? [undefined] : compilers) {
          for (const project of compiler === undefined ? [] : fixture.tsc) {
            const compiled = await run(
              process.execPath,
              [tscOf(compiler as (typeof compilers)[number], fixture.install), '-p', project],
              dir,
            );
            // soft: tsc emits despite type errors, and the run below tells whether the package works at run time too
            expect.soft(compiled.code, describeRun(`${compiler}: tsc -p ${project}`, compiled)).toBe(0);
          }
          for (const node of nodes) {
            const ran = await run(node.path, [fixture.entry], dir, RUN_TIMEOUT_MS);
            const what = describeRun(`${compiler ?? 'JavaScript'}: Node ${node.version}: node ${fixture.entry}`, ran);
            expect(ran.code, what).toBe(0);
            expectNoExperimentalWarning(expect, ran, what);
            const lastLine = ran.stdout.trim().split('\n').at(-1) ?? '';
            const result = JSON.parse(lastLine) as { statuses: number[]; admitted?: unknown; refused?: unknown };
            expect(
              [...result.statuses].sort((a, b) => a - b),
              what,
            ).toEqual([...Array<number>(10).fill(200), 429]);
            expect(result.admitted, what).toEqual(fixture.answer);
            expect(result.refused, what).toMatchObject({ error: 'reach_limit' });
          }
        }
      },
      consumerTimeoutMs,
    );
  }
});
