import { type ChildProcess, fork } from 'node:child_process';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';

const WORKERS = 4;
const REQUESTS_PER_WORKER = 200;
const workerScript = new URL('../support/limiter-worker.mjs', import.meta.url);

interface Topology {
  env: Record<string, string>;
  client: () => Redis | Cluster;
}

const topologies: Record<string, Topology> = {
  'one redis-server': {
    env: { REDIS_PORT: String(inject('redisPort')) },
    client: () => new Redis({ port: inject('redisPort'), host: '127.0.0.1' }),
  },
  'a 3-node Redis Cluster': {
    env: { CLUSTER_PORTS: inject('clusterPorts').join(',') },
    client: () => new Cluster(inject('clusterPorts').map((port) => ({ host: '127.0.0.1', port }))),
  },
};

/** Forks the worker processes (the built package, `npm test` builds it first) and waits for their ports. */
async function startWorkers(
  env: Record<string, string>,
  overrides: object,
): Promise<{ ports: number[]; children: ChildProcess[] }> {
  const children = Array.from({ length: WORKERS }, () =>
    fork(workerScript, {
      // 800 requests at once on 2 cores keep Redis answers queued far past the 50 ms default, and a
      // timed-out call is decided per process (onStoreError 'fallback'): this test is about Redis.
      env: { ...process.env, ...env, OVERRIDES: JSON.stringify(overrides), STORE_TIMEOUT_MS: '5000' },
      stdio: 'inherit',
    }),
  );
  const ports = await Promise.all(
    children.map(
      (child) =>
        new Promise<number>((resolve, reject) => {
          child.once('message', (message) => resolve((message as { port: number }).port));
          child.once('exit', (code) => reject(new Error(`worker exited with ${code}; did 'npm run build' run?`)));
        }),
    ),
  );
  return { ports, children };
}

async function redisNowMs(client: Redis | Cluster): Promise<number> {
  const [seconds, micros] = await (client as Redis).time();
  return Number(seconds) * 1000 + Number(micros) / 1000;
}

describe.each(Object.entries(topologies))(`${WORKERS} processes on %s`, (_, topology) => {
  const client = topology.client();
  afterAll(() => client.quit());

  /** Fires every worker's requests at once; the admitted count and the Redis-clock time it spanned. */
  async function burst(path: string, overrides: object) {
    const { ports, children } = await startWorkers(topology.env, overrides);
    try {
      const startMs = await redisNowMs(client);
      const statuses = await Promise.all(
        ports.flatMap((port) =>
          Array.from(
            { length: REQUESTS_PER_WORKER },
            async () => (await fetch(`http://127.0.0.1:${port}${path}`)).status,
          ),
        ),
      );
      const elapsedMs = (await redisNowMs(client)) - startMs;
      expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
      return { admitted: statuses.filter((s) => s === 200).length, elapsedMs };
    } finally {
      for (const child of children) child.disconnect();
    }
  }

  it('admits exactly the capacity when no token can refill during the burst', async () => {
    const app = `exact${Date.now()}`;
    const overrides = { [`acme#${app}`]: { groups: { ratePerSecond: 1 / 600, burst: 100 } } };
    const { admitted, elapsedMs } = await burst(`/acme/${app}/chatgroups`, overrides);
    expect(elapsedMs).toBeLessThan(600_000);
    expect(admitted).toBe(100);
  });

  it('admits the capacity plus what refilled over the measured time, never one more', async () => {
    const app = `refill${Date.now()}`;
    const { admitted, elapsedMs } = await burst(`/acme/${app}/chatgroups`, {});
    const allowed = 10 + Math.floor(elapsedMs / 100); // community groups: 10 at once, one more every 100 ms
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(allowed);
  });
});
