// The build's first step, before `tsc -b` (which builds only what changed): deletes what a project's
// outDir holds beyond the outputs of its current sources, since `tsc -b` never deletes the output
// of a source that is gone (it would ship), and deletes the build info when an output of a source
// it built is missing, since `tsc -b` trusts the build info and would not emit it again.
// Usage: node scripts/prune-outputs.mjs <tsconfig>…
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/** Every file under `dir`, as absolute paths; none when it does not exist. */
function filesUnder(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Removes the directories under `dir` (deepest first) that the pruning left empty. */
function removeEmptyDirs(dir) {
  if (!existsSync(dir)) return;
  const dirs = readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name))
    .sort((a, b) => b.length - a.length);
  for (const path of dirs) if (readdirSync(path).length === 0) rmdirSync(path);
}

/** The files deleted for the project `configPath`: outputs without a source, and the build info if it was stale. */
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
  const outputsOf = new Map(
    config.fileNames.map((file) => [file, ts.getOutputFileNames(config, file, false).map((path) => resolve(path))]),
  );
  const kept = new Set([...outputsOf.values()].flat());
  const buildInfo = ts.getTsBuildInfoEmitOutputFilePath(config.options);
  if (buildInfo !== undefined) kept.add(resolve(buildInfo));

  const deleted = filesUnder(outDir).filter((path) => !kept.has(resolve(path)));
  // a source older than the build info was built then; a newer one, tsc -b builds anyway
  if (buildInfo !== undefined && existsSync(buildInfo)) {
    const builtAt = statSync(buildInfo).mtimeMs;
    const lost = [...outputsOf].some(
      ([source, outputs]) => statSync(source).mtimeMs < builtAt && outputs.some((output) => !existsSync(output)),
    );
    if (lost) deleted.push(resolve(buildInfo));
  }
  for (const path of deleted) rmSync(path);
  removeEmptyDirs(outDir);
  return deleted;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const configPath of process.argv.slice(2)) {
    for (const path of pruneOutputs(configPath)) console.log(`pruned ${path}`);
  }
}
