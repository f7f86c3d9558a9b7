/**
 * The shell blocks of README.md and docs/*.md marked `<!-- run -->` run and succeed: each in bash
 * (`set -euo pipefail`) from the repository root, within a minute. Such blocks must be safe and fast
 * (`npx tsc --version`, a file listing); a command that starts a server or needs Redis is shown,
 * not run. An integration test, since it starts processes; ./snippets.test.ts checks the rest.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Block, fencedBlocks } from './markdown.js';
import { blocksOf, documentation, root } from './snippets.js';

const TIMEOUT_MS = 60_000;

const runBlocks = (blocks: readonly Block[]): Block[] =>
  blocks.filter((block) => block.marker?.kind === 'run' && ['sh', 'bash', 'shell'].includes(block.lang));

/** Runs a block; its problem as `file:line: …`, or undefined when it succeeded. */
function run(block: Block): Promise<string | undefined> {
  return new Promise((resolve) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
    execFile(
      'bash',
      ['-c', `set -euo pipefail\n${block.body}`],
      { cwd: root, env, timeout: TIMEOUT_MS, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) resolve(undefined);
        else {
          const how = error.killed ? `killed after ${TIMEOUT_MS} ms` : `exited ${String(error.code)}`;
          resolve(`${block.doc}:${block.line}: ${how}\n--- stdout\n${stdout}--- stderr\n${stderr}`);
        }
      },
    );
  });
}

describe('the <!-- run --> blocks', () => {
  it('of README.md and docs/*.md succeed', async () => {
    const problems = await Promise.all(runBlocks(blocksOf(documentation())).map(run));
    expect(problems.filter((problem) => problem !== undefined)).toEqual([]);
  }, 120_000);

  it('are run, and one that fails is reported (a fixture)', async () => {
    const doc = 'test/docs/fixtures/snippets.md';
    const blocks = runBlocks(fencedBlocks(doc, readFileSync(join(root, doc), 'utf8')));
    expect(blocks.map((block) => block.line)).toEqual([120, 125]);
    expect(await Promise.all(blocks.map(run))).toEqual([undefined, `${doc}:125: exited 3\n--- stdout\n--- stderr\n`]);
  });
});
