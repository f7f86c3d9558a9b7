import { mustRun } from './run.js';

/**
 * The variable naming the Nodes that run the package test's consumers besides the one running the
 * test: `PACKAGE_TEST_NODES="22 24 26"`. Installing and compiling a consumer does not depend on the
 * Node that runs it, so each other Node costs only the runs.
 */
export const EXTRA_NODES_VARIABLE = 'PACKAGE_TEST_NODES';

/** A Node binary, and the version it reports (`v22.12.0`), which the assertions name. */
export interface NodeBinary {
  readonly path: string;
  readonly version: string;
}

/** This process's Node. */
export const thisNode: NodeBinary = { path: process.execPath, version: process.version };

/**
 * The entries of `PACKAGE_TEST_NODES`, separated by spaces or commas: one with a slash is the path
 * of a Node binary, any other a version of the registry's `node` package (`22`, `22.12`, `22.12.0`).
 */
export function extraNodeEntries(value: string | undefined): string[] {
  const entries = (value ?? '').split(/[\s,]+/).filter((entry) => entry !== '');
  for (const entry of entries) {
    if (!entry.includes('/') && !/^\d+(?:\.\d+){0,2}$/.test(entry)) {
      throw new Error(
        `${EXTRA_NODES_VARIABLE}: '${entry}' is neither a Node version (22, 22.12.0) nor a path (with a slash)`,
      );
    }
  }
  return entries;
}

const printSelf = 'JSON.stringify({ path: process.execPath, version: process.version })';

/**
 * The binary an entry names, asked for its own path and version: a path directly, a version through
 * `npx -y node@<version>` (npm's cache keeps it after the first download).
 */
async function resolveNode(entry: string, cwd: string): Promise<NodeBinary> {
  const [command, args] = entry.includes('/') ? [entry, []] : ['npx', ['-y', `node@${entry}`]];
  const printed = await mustRun(`${EXTRA_NODES_VARIABLE} '${entry}'`, command, [...args, '-p', printSelf], cwd);
  return JSON.parse(printed.stdout.trim()) as NodeBinary;
}

/** This process's Node, then each Node the entries name (resolved at once), each binary once. */
export async function nodesToRun(entries: readonly string[], cwd: string): Promise<NodeBinary[]> {
  const nodes = [thisNode, ...(await Promise.all(entries.map((entry) => resolveNode(entry, cwd))))];
  return nodes.filter((node, index) => nodes.findIndex((other) => other.path === node.path) === index);
}
