/**
 * README.md and docs/*.md hold to the code (the convention is in ./snippets.ts): blocks that show a
 * file are that file, TypeScript blocks compile, shell blocks name scripts and files that exist,
 * JSON parses, and docs/options.md lists exactly the options of each interface. A fixture of wrong
 * blocks shows that each check finds what it must. The `<!-- run -->` blocks are run by
 * ./commands.test.ts (another process: an integration test).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fencedBlocks } from './markdown.js';
import {
  blocksOf,
  documentation,
  fileBlockProblems,
  jsonProblems,
  optionTableProblems,
  root,
  shellCommands,
  shellProblems,
  typeProblems,
} from './snippets.js';

const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
  .scripts;

describe('the documentation (README.md, docs/*.md)', () => {
  const docs = documentation();
  const blocks = blocksOf(docs);

  it('has docs/options.md, blocks that show files, and shell blocks', () => {
    expect(docs).toContain('docs/options.md');
    expect(blocks.filter((block) => block.marker?.kind === 'file').length).toBeGreaterThan(0);
    expect(blocks.filter((block) => block.lang === 'sh').length).toBeGreaterThan(0);
  });

  it('shows each file as it is', () => {
    expect(fileBlockProblems(blocks)).toEqual([]);
  });

  it('has TypeScript blocks that compile on their own', () => {
    expect(typeProblems(blocks)).toEqual([]);
  }, 60_000);

  it('runs only scripts and names only files that exist', () => {
    expect(shellProblems(blocks, scripts)).toEqual([]);
  });

  it('has JSON blocks that parse', () => {
    expect(jsonProblems(blocks)).toEqual([]);
  });

  it('lists exactly the options of each interface in docs/options.md', () => {
    expect(optionTableProblems('docs/options.md')).toEqual([]);
  }, 60_000);
});

describe('the checks, on a fixture of blocks right and wrong', () => {
  const doc = 'test/docs/fixtures/snippets.md';
  const blocks = fencedBlocks(doc, readFileSync(join(root, doc), 'utf8'));
  const at = (line: number, problem: string) => `${doc}:${line}: ${problem}`;

  it('reads each block, its language and its marker', () => {
    expect(blocks.map((block) => [block.line, block.lang, block.marker])).toEqual([
      [10, 'ts', { kind: 'file', path: 'test/docs/fixtures/greeting.ts' }],
      [25, 'ts', { kind: 'file', path: 'test/docs/fixtures/greeting.ts', region: 'greeting' }],
      [33, 'ts', { kind: 'file', path: 'test/docs/fixtures/greeting.ts', region: 'greeting' }],
      [41, 'ts', { kind: 'file', path: 'test/docs/fixtures/greeting.ts', region: 'inner' }],
      [45, 'ts', { kind: 'file', path: 'test/docs/fixtures/greeting.ts', region: 'farewell' }],
      [50, 'ts', { kind: 'file', path: 'test/docs/fixtures/missing.ts' }],
      [58, 'ts', undefined],
      [71, 'typescript', undefined],
      [77, 'ts', undefined],
      [83, 'ts', undefined],
      [103, 'sh', undefined],
      [113, 'bash', undefined],
      [120, 'sh', { kind: 'run' }],
      [125, 'sh', { kind: 'run' }],
      [131, 'json', undefined],
      [135, 'json', undefined],
      [139, 'js', undefined],
    ]);
  });

  it('finds a file block that drifted, a region cut short or missing, a file missing', () => {
    expect(fileBlockProblems(blocks)).toEqual([
      at(
        34,
        `differs from test/docs/fixtures/greeting.ts#greeting at its line 1: "const greeting = \`hello, \${name}\`;" there, "const greeting = \`hi, \${name}\`;" here`,
      ),
      at(42, 'differs from test/docs/fixtures/greeting.ts#inner at its line 1: "return greeting;" there, nothing here'),
      at(45, 'test/docs/fixtures/greeting.ts has no region farewell (// #region farewell … // #endregion)'),
      at(50, 'test/docs/fixtures/missing.ts does not exist'),
    ]);
  });

  it('finds a type error and a fragment, at their lines; NestJS blocks compile with its decorators', () => {
    expect(typeProblems(blocks)).toEqual([
      at(74, "TS2322: Type 'string' is not assignable to type 'number'."),
      at(78, "TS2304: Cannot find name 'app'."),
      at(78, "TS2304: Cannot find name 'limiter'."),
    ]);
  }, 60_000);

  it('finds a script that is not there, a script run as an npm command, a path that is not there', () => {
    expect(shellProblems(blocks, scripts)).toEqual([
      at(114, 'npm run lint:all: no such script in package.json'),
      at(115, 'npm bench: not an npm command (the script: npm run bench)'),
      at(116, 'demo/server.js does not exist'),
    ]);
  });

  it('finds JSON that does not parse', () => {
    // the parser's own words follow, and differ between Node versions
    expect(jsonProblems(blocks)).toEqual([
      expect.stringMatching(/^test\/docs\/fixtures\/snippets\.md:135: not JSON: .*position 26\b/),
    ]);
  });

  it('finds every way an option table can be wrong', () => {
    const options = 'test/docs/fixtures/options.md';
    expect(optionTableProblems(options)).toEqual(
      [
        '15: the first cell names no option in backticks',
        '16: logger: a cell per column, with a type and what it does',
        '5: RedisStoreOptions has no timeoutMs',
        '5: RedisStoreOptions has no replicas.count',
        '5: RedisStoreOptions: clock listed twice',
        '20: MemoryStoreOptions: missing logger',
        '28: a second table of MemoryStoreOptions (the first at line 20)',
        '34: columns option | type | default | what it does, not option | type | default | unit | what it does',
        '40: documents no options interface (name it in the heading: ## `RedisStoreOptions`)',
      ]
        .map((problem) => `${options}:${problem}`)
        .concat([`${options}: no table of Options`, `${options}: no table of RateLimiterFlexibleStoreOptions`]),
    );
    expect(optionTableProblems('docs/missing.md')).toEqual([
      'docs/missing.md: missing (the options reference, checked against src/options.ts)',
    ]);
  }, 60_000);
});

describe('shell commands', () => {
  it('are split at operators and line ends, with quotes, continuations, comments and redirections', () => {
    const script = [
      "A=1 npm run build && curl -s 'http://x/a b' \\",
      '  -d "{}" 2>/dev/null | grep x # a comment: not/a/path',
      'echo $(cat src/index.ts) > out/file',
    ].join('\n');
    const words = shellCommands(script).map((command) =>
      command.map((word) => `${word.text}${word.quoted ? "'" : ''}${word.redirected ? '>' : ''}@${word.line}`),
    );
    expect(words).toEqual([
      ['A=1@0', 'npm@0', 'run@0', 'build@0'],
      ['curl@0', '-s@0', "http://x/a b'@0", '-d@1', "{}'@1", '/dev/null>@1'],
      ['grep@1', 'x@1'],
      ['echo@2'],
      ['cat@2', 'src/index.ts@2'],
      ['out/file>@2'],
    ]);
  });
});
