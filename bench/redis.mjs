// A redis-server and a 3-master Redis Cluster of the benchmarks' own, on loopback free ports, stopped by
// pid. The plain-JS twin of test/support/redis.ts (TypeScript, which Node 20 cannot import).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/** Every server started here and not yet stopped: killed on exit, whatever ends the process. */
const running = new Set();
process.once('exit', () => {
  for (const server of running) server.child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(130)); // runs the 'exit' hook above
}

export const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** A redis-server on a free loopback port, answering PING: `{ port, pid, stop() }`. */
export async function startRedis({ cluster = false } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(cluster);
    } catch (error) {
      if (attempt === 3) throw error; // a free port can be taken before the server binds it
    }
  }
}

async function startOnce(cluster) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'imrl-bench-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  if (cluster) {
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000');
    args.push('--cluster-port', String(await freePort()));
  }
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let log = ''; // its last words, for the error when it exits at start
  child.stdout.on('data', (chunk) => {
    log = (log + chunk).slice(-2000);
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const server = {
    port,
    pid: child.pid,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      running.delete(server);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(server);
  try {
    await new Promise((resolve, reject) => {
      child.once('error', () => reject(new Error('the benchmarks need redis-server: apt-get install -y redis-server')));
      waitForPing(port, child, () => log).then(resolve, reject);
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

async function waitForPing(port, child, log) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`redis-server on port ${port} exited with ${child.exitCode}: ${log()}`);
    const client = new Redis({
      port,
      host: '127.0.0.1',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      client.disconnect();
    }
  }
}

/** Three cluster-enabled masters, no replicas, joined with `redis-cli --cluster create`; ready at `cluster_state:ok`. */
export async function startCluster() {
  const nodes = [];
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startRedis({ cluster: true }));
    const addresses = nodes.map((node) => `127.0.0.1:${node.port}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 20_000;
    for (const node of nodes) {
      const client = new Redis({ port: node.port, host: '127.0.0.1' });
      try {
        while (!(await client.cluster('INFO')).includes('cluster_state:ok')) {
          if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok within 20 s');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        client.disconnect();
      }
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return nodes;
}
