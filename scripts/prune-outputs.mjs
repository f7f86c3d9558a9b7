// Deletes what a project's outDir holds beyond the outputs of its current sources: `tsc -b` builds
// only what changed and never deletes the output of a source that is gone, which would then ship.
// Usage: node scripts/prune-outputs.mjs <tsconfig>…
import { readdirSync, rmdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** Every file under `dir`, as absolute paths. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Removes the directories under `dir` (deepest first) that the pruning left empty. */
function removeEmptyDirs(dir) {
  const dirs = readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort((a, b) => b.length - a.length);
  for (const path of dirs) if (readdirSync(path).length === 0) rmdirSync(path);
}

/** The files deleted from the outDir of the project `configPath`. */
export function pruneOutputs(configPath) {
  const config = ts.getParsedCommandLineOfConfigFile(
    resolve(configPath),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  );
  const { outDir } = config.options;
  if (outDir === undefined) throw new Error(`${configPath} names no outDir`);
  const kept = new Set(
    config.fileNames.flatMap((file) => ts.getOutputFileNames(config, file, false)).map((p) => resolve(p)),
  );
  const buildInfo = ts.getTsBuildInfoEmitOutputFilePath(config.options);
  if (buildInfo !== undefined) kept.add(resolve(buildInfo));
  let outputs;
  try {
    outputs = filesUnder(outDir);
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  const stale = outputs.filter((path) => !kept.has(resolve(path)));
  for (const path of stale) rmSync(path);
  removeEmptyDirs(outDir);
  return stale;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const configPath of process.argv.slice(2)) {
    for (const path of pruneOutputs(configPath)) console.log(`pruned ${path}`);
  }
}
