// What the benchmark scripts share: a redis-server of their own, the servers under test, the load.
import { fork, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import autocannon from 'autocannon';

export const CONNECTIONS = 50;
const body = JSON.stringify({ from: 'admin', to: ['alice'], type: 'txt', body: { msg: 'hello' } });

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

/** autocannon against the benchmark route: a valid send of one text message. */
export const load = (port, seconds) =>
  autocannon({
    url: `http://127.0.0.1:${port}/acme/chat/messages/users`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    duration: seconds,
  });
