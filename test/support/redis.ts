import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';

/** A real redis-server on loopback, started and stopped by the tests. */
export interface RedisProcess {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

const INSTALL = 'apt-get update && apt-get install -y redis-server';

/** The redis-server and redis-cli binaries; installs them from Debian when root can, or says how. */
export function redisBinaries(): { server: string; cli: string } {
  let server = which('redis-server');
  if (server === undefined && process.getuid?.() === 0 && which('apt-get') !== undefined) {
    console.warn(`redis-server is missing; installing it: ${INSTALL}`);
    const run = spawnSync('sh', ['-c', `${INSTALL} >&2`], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (run.status !== 0) throw new Error(`installing redis-server failed; run as root: ${INSTALL}`);
    server = which('redis-server');
  }
  const cli = which('redis-cli');
  if (server === undefined || cli === undefined) {
    throw new Error(
      `The Redis suites need redis-server and redis-cli (Redis >= 6.2). Install them as root: ${INSTALL}`,
    );
  }
  return { server, cli };
}

function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  return dirs.map((dir) => join(dir, name)).find((path) => existsSync(path));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Starts redis-server on `port` (a free one by default) and resolves once it answers PING. */
/** `args`: more of redis-server's command-line options, such as `['--rename-command', 'CONFIG', '']`. */
export async function startRedis(
  options: { port?: number; cluster?: boolean; args?: readonly string[] } = {},
): Promise<RedisProcess> {
  // a free port can be taken by another process before the server binds it: try fresh ones
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOnce(options);
    } catch (error) {
      if (options.port !== undefined || attempt === 5) throw error;
    }
  }
}

async function startRedisOnce(options: {
  port?: number;
  cluster?: boolean;
  args?: readonly string[];
}): Promise<RedisProcess> {
  const { server } = redisBinaries();
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'imrl-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  if (options.cluster) {
    // the cluster bus port defaults to port + 10000, which may be taken or past 65535: pick a free one
    const busPort = await freePort();
    args.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000');
    args.push('--cluster-port', String(busPort));
  }
  args.push(...(options.args ?? []));
  const child: ChildProcess = spawn(server, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPing(port, child);
  return {
    port,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}`);
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
      await new Promise((resolve) => setTimeout(resolve, 50)); // poll interval while the server boots
    } finally {
      client.disconnect();
    }
  }
}

/** A master and one replica of it, resolved once the replica has made its first sync. */
export async function startReplicated(): Promise<{ master: RedisProcess; replica: RedisProcess }> {
  const master = await startRedis();
  const replica = await startRedis();
  const direct = new Redis({ port: replica.port, host: '127.0.0.1' });
  try {
    await direct.replicaof('127.0.0.1', master.port);
    while (!(await direct.info('replication')).includes('master_link_status:up')) {
      await new Promise((resolve) => setTimeout(resolve, 100)); // polls the first sync
    }
  } finally {
    direct.disconnect();
  }
  return { master, replica };
}

/** Three cluster-enabled masters joined with `redis-cli --cluster create`, ready once every node says `cluster_state:ok`. */
export async function startCluster(): Promise<RedisProcess[]> {
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < 3; i++) nodes.push(await startRedis({ cluster: true }));
    await joinCluster(nodes);
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop())); // nothing left running behind a failed start
    throw error;
  }
  return nodes;
}

async function joinCluster(nodes: readonly RedisProcess[]): Promise<void> {
  const { cli } = redisBinaries();
  execFileSync(
    cli,
    ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
    {
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 20_000;
  for (const node of nodes) {
    const client = new Redis({ port: node.port, host: '127.0.0.1' });
    try {
      while (!(await client.cluster('INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok within 20 s');
        await new Promise((resolve) => setTimeout(resolve, 100)); // poll while the nodes agree on slots
      }
    } finally {
      client.disconnect();
    }
  }
}
