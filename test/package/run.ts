import { execFile } from 'node:child_process';

/** How a child process ended: its exit code (or why it did not exit), and what it wrote. */
export interface Run {
  readonly code: number | string | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of a child: none of the outer npm's `npm_*` settings (npm test runs us) nor NODE_OPTIONS. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) && name !== 'NODE_OPTIONS') env[name] = value;
  }
  return env;
}

/** Runs a command to its end (killed after `timeout` ms); never throws, the caller asserts the outcome. */
export function run(command: string, args: readonly string[], cwd: string, timeout = 150_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(), timeout, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : ((error as { code?: number | string }).code ?? error.message);
        resolve({ code: error?.killed ? `killed after ${timeout} ms` : code, stdout, stderr });
      },
    );
  });
}

export function describeRun(what: string, result: Run): string {
  return `${what} exited ${String(result.code)}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/** Runs a command and returns its result; throws, with its output, unless it exits 0. */
export async function mustRun(what: string, command: string, args: readonly string[], cwd: string): Promise<Run> {
  const result = await run(command, args, cwd);
  if (result.code !== 0) throw new Error(describeRun(what, result));
  return result;
}
