// What the benchmark scripts share: a redis-server of their own, the servers under test, the load.
import { fork, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import autocannon from 'autocannon';

export const CONNECTIONS = 50;

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** A redis-server on a free loopback port, ready to use. */
export async function startRedis() {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise((resolve, reject) => {
    child.once('error', () => reject(new Error('the benchmarks need redis-server: apt-get install -y redis-server')));
    child.stdout.on('data', (chunk) => chunk.toString().includes('Ready to accept connections') && resolve());
  });
  return { port, stop: () => child.kill() };
}

/** One server of bench/server.mjs in its own process. */
export function startServer(variant, mode, redisPort, execArgv = []) {
  const child = fork(new URL('./server.mjs', import.meta.url), [variant, mode, String(redisPort)], {
    stdio: 'inherit',
    execArgv,
  });
  return new Promise((resolve) => child.once('message', ({ port }) => resolve({ variant, port, child })));
}

/** autocannon against the benchmark route: a plain call, `GET /acme/chat/users`, as an IM client lists users. */
export const load = (port, seconds) =>
  autocannon({
    url: `http://127.0.0.1:${port}/acme/chat/users`,
    connections: CONNECTIONS,
    duration: seconds,
  });

/** The machine's 1-minute load average, as the tables print it beside each run. */
export const loadAverage = () => loadavg()[0].toFixed(1);

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** [min, max] of the rounds' values. */
export const range = (values) => [Math.min(...values), Math.max(...values)];

/**
 * What a row's lead (or gap) over another row is worth: when the spread between its own rounds is
 * wider than the gap between the two medians, the rounds do not settle which is ahead, and the row says so.
 */
export function spreadNote(value, [low, high], other, otherName, rounds, otherRounds) {
  const gap = value - other;
  const spread = high - low;
  const verdict =
    gap >= 0 ? `ahead of ${otherName} by ${gap.toFixed(2)}` : `behind ${otherName} by ${(-gap).toFixed(2)}`;
  // the rounds are paired (both servers measured in each): in how many was this one ahead
  const ahead =
    rounds === undefined
      ? ''
      : `; ahead in ${rounds.filter((r, i) => r > otherRounds[i]).length} of ${rounds.length} rounds`;
  return spread > Math.abs(gap)
    ? `${verdict}; spread ${spread.toFixed(2)} is wider: not settled${ahead}`
    : `${verdict}; spread ${spread.toFixed(2)}${ahead}`;
}
