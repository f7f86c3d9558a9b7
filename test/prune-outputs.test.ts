import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { pruneOutputs } from '../scripts/prune-outputs.mjs';

let project: string;
const config = () => join(project, 'tsconfig.json');
const outputs = (base: string) => [`${base}.d.ts`, `${base}.js`, `${base}.js.map`];

/** Every file under `dir`, relative to it, sorted. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

/** Writes `paths` under the project, each touched at `atMs` (a fixed time: the order of times is the subject). */
async function write(paths: readonly string[], atMs: number): Promise<void> {
  for (const path of paths) {
    await mkdir(join(project, path, '..'), { recursive: true });
    await writeFile(join(project, path), '');
    await utimes(join(project, path), atMs / 1000, atMs / 1000);
  }
}

const pruned = () =>
  pruneOutputs(config())
    .map((path) => path.slice(project.length + 1))
    .sort();

const built = Date.UTC(2026, 11, 1);

beforeEach(async () => {
  project = await mkdtemp(join(tmpdir(), 'im-rate-limit-prune-'));
  const compilerOptions = {
    ...{ rootDir: 'lib', outDir: 'out', declaration: true, sourceMap: true },
    ...{ incremental: true, tsBuildInfoFile: 'out/.tsbuildinfo' },
  };
  await writeFile(config(), JSON.stringify({ compilerOptions, include: ['lib'] }));
  await write(['lib/index.ts', 'lib/store/kept.ts'], built - 60_000);
});

afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

it('deletes the outputs of sources that are gone (tsc -b never does), and keeps the rest and the build info', async () => {
  // what a build made, then two sources deleted (one of them the only file of its directory)
  const outs = [...outputs('index'), ...outputs('store/kept'), ...outputs('store/gone'), ...outputs('old/removed')];
  await write([...outs.map((path) => `out/${path}`), 'out/.tsbuildinfo'], built);

  expect(pruned()).toEqual([...outputs('out/old/removed'), ...outputs('out/store/gone')].sort());
  expect(await files(join(project, 'out'))).toEqual(
    [...outputs('index'), ...outputs('store/kept'), '.tsbuildinfo'].sort(),
  );
  expect(await readdir(join(project, 'out'))).not.toContain('old'); // emptied, so removed
});

it('deletes the build info when an output of a source it built is gone, so that tsc -b emits it again', async () => {
  await write([...outputs('out/index'), 'out/store/kept.js', 'out/.tsbuildinfo'], built); // kept.d.ts lost
  expect(pruned()).toEqual(['out/.tsbuildinfo']);
});

it('keeps the build info when the source without outputs is newer than it: tsc -b builds that one anyway', async () => {
  await write([...outputs('out/index'), ...outputs('out/store/kept'), 'out/.tsbuildinfo'], built);
  await write(['lib/added.ts'], built + 60_000);
  expect(pruned()).toEqual([]);
});

it('prunes nothing where nothing was built', async () => {
  expect(pruned()).toEqual([]);
});
