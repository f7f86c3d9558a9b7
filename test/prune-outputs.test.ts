import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { pruneOutputs } from '../scripts/prune-outputs.mjs';

let project: string;

afterEach(async () => {
  await rm(project, { recursive: true, force: true });
});

/** Every file under `dir`, relative to it, sorted. */
async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

it('deletes the outputs of sources that are gone (tsc -b never does), and keeps the rest and the build info', async () => {
  project = await mkdtemp(join(tmpdir(), 'im-rate-limit-prune-'));
  const config = {
    compilerOptions: {
      rootDir: 'lib',
      outDir: 'out',
      declaration: true,
      sourceMap: true,
      incremental: true,
      tsBuildInfoFile: 'out/.tsbuildinfo',
    },
    include: ['lib'],
  };
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify(config));
  await mkdir(join(project, 'lib', 'store'), { recursive: true });
  await writeFile(join(project, 'lib', 'index.ts'), 'export const a = 1;\n');
  await writeFile(join(project, 'lib', 'store', 'kept.ts'), 'export const b = 1;\n');
  const outputs = (base: string) => [`${base}.d.ts`, `${base}.js`, `${base}.js.map`];
  // what a build made, then two sources deleted (one of them the only file of its directory)
  for (const path of [
    ...outputs('index'),
    ...outputs('store/kept'),
    ...outputs('store/gone'),
    ...outputs('old/removed'),
    '.tsbuildinfo',
  ]) {
    await mkdir(join(project, 'out', path, '..'), { recursive: true });
    await writeFile(join(project, 'out', path), '');
  }

  const pruned = pruneOutputs(join(project, 'tsconfig.json'))
    .map((path) => path.slice(project.length + 1))
    .sort();

  expect(pruned).toEqual([...outputs('out/old/removed'), ...outputs('out/store/gone')].sort());
  expect(await files(join(project, 'out'))).toEqual(
    [...outputs('index'), ...outputs('store/kept'), '.tsbuildinfo'].sort(),
  );
  expect(await readdir(join(project, 'out'))).not.toContain('old'); // emptied, so removed
});

it('prunes nothing where nothing was built', async () => {
  project = await mkdtemp(join(tmpdir(), 'im-rate-limit-prune-'));
  await writeFile(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { outDir: 'out' }, files: [] }));
  expect(pruneOutputs(join(project, 'tsconfig.json'))).toEqual([]);
});
