import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RedisStore } from '../../src/index.js';
import type { LogFields } from '../../src/log.js';
import { checkEviction } from '../../src/store/eviction-check.js';
import { linesInto } from '../helpers.js';
import { type RedisProcess, startCluster, startRedis } from '../support/redis.js';

const ADVICE =
  'Set maxmemory-policy noeviction: a full Redis then refuses writes, which onStoreError handles, ' +
  'and no count is lost (docs/redis.md → maxmemory-policy noeviction)';

/** Servers of this file's own: their policy is changed here. */
let server: RedisProcess;
let admin: Redis;
const clients: Array<Redis | Cluster> = [];
beforeAll(async () => {
  server = await startRedis();
  admin = new Redis({ port: server.port, host: '127.0.0.1' });
});
afterAll(async () => {
  for (const client of clients) client.disconnect();
  admin.disconnect();
  await server.stop();
});

function clientOf(port: number, lazyConnect = false): Redis {
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect });
  clients.push(client);
  return client;
}

async function linesFor(client: Redis | Cluster): Promise<{ lines: string[]; records: LogFields[] }> {
  const lines: string[] = [];
  const records: LogFields[] = [];
  await checkEviction(client, linesInto(lines, records));
  return { lines, records };
}

describe("the Redis eviction check, at the store's start", () => {
  it('warns under an allkeys policy: any key may go, and what each loss costs', async () => {
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const node = `127.0.0.1:${server.port}`;
    expect(await linesFor(clientOf(server.port))).toEqual({
      lines: [
        `im-rate-limit: WRN_REDIS_EVICTION: Redis ${node} runs maxmemory-policy allkeys-lru, which evicts any key: ` +
          "buckets (a burst admitted again), daily windows (a day's quota granted again), memberships (a user joins " +
          'past the cap) and run-time settings (an app back on its configured edition) once it reaches maxmemory. ' +
          ADVICE,
      ],
      records: [{ code: 'WRN_REDIS_EVICTION', nodes: [node], policy: 'allkeys-lru' }],
    });
  });

  it('warns under a volatile policy: the keys with a TTL, buckets and daily windows', async () => {
    await admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    expect((await linesFor(clientOf(server.port))).lines).toEqual([
      `im-rate-limit: WRN_REDIS_EVICTION: Redis 127.0.0.1:${server.port} runs maxmemory-policy volatile-lru, which ` +
        "evicts keys with a TTL: buckets (a burst admitted again) and daily windows (a day's quota granted again) " +
        `once it reaches maxmemory. ${ADVICE}`,
    ]);
  });

  it('says nothing under noeviction', async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    expect((await linesFor(clientOf(server.port))).lines).toEqual([]);
  });

  it('waits for a client not yet connected, and checks when it first connects', async () => {
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lfu');
    const client = clientOf(server.port, true);
    const lines: string[] = [];
    const checked = checkEviction(client, linesInto(lines));
    expect(client.status).toBe('wait');
    expect(lines).toEqual([]);
    await client.connect();
    await checked;
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('runs maxmemory-policy allkeys-lfu');
  });

  it('runs from the RedisStore constructor, to the logger it is given', async () => {
    await admin.config('SET', 'maxmemory-policy', 'volatile-ttl');
    const client = clientOf(server.port);
    await client.ping();
    const lines: string[] = [];
    new RedisStore({ client, logger: linesInto(lines) });
    await vi.waitFor(() => expect(lines).toHaveLength(1));
    expect(lines[0]).toContain('runs maxmemory-policy volatile-ttl');
  });

  it('says it could not check where CONFIG is renamed away, as managed Redis does', async () => {
    const managed = await startRedis({ args: ['--rename-command', 'CONFIG', ''] });
    const client = new Redis({ port: managed.port, host: '127.0.0.1' });
    try {
      const node = `127.0.0.1:${managed.port}`;
      const { lines, records } = await linesFor(client);
      expect(records).toEqual([{ code: 'WRN_REDIS_EVICTION_UNCHECKED', nodes: [node] }]);
      expect(lines).toEqual([
        expect.stringMatching(
          new RegExp(
            `^im-rate-limit: WRN_REDIS_EVICTION_UNCHECKED: could not read maxmemory-policy on Redis ${node} ` +
              `\\(ERR unknown command 'CONFIG'.*\\): make sure it is noeviction, or the limiter's keys may be ` +
              'evicted and their counts forgotten \\(docs/redis.md → maxmemory-policy noeviction\\)$',
          ),
        ),
      ]);
    } finally {
      client.disconnect();
      await managed.stop();
    }
  });
});

describe('on a Redis Cluster', () => {
  let nodes: RedisProcess[] = [];
  const ofCluster: Array<Redis | Cluster> = [];
  beforeAll(async () => {
    nodes = await startCluster();
  }, 60_000);
  afterAll(async () => {
    for (const client of ofCluster) client.disconnect(); // before their servers go
    await Promise.all(nodes.map((node) => node.stop()));
  });

  it('checks each master, naming the one that evicts', async () => {
    const [first, evicting] = nodes as [RedisProcess, RedisProcess];
    const nodeAdmin = new Redis({ port: evicting.port, host: '127.0.0.1' });
    ofCluster.push(nodeAdmin);
    await nodeAdmin.config('SET', 'maxmemory-policy', 'volatile-lfu');
    const cluster = new Cluster([{ host: '127.0.0.1', port: first.port }]);
    ofCluster.push(cluster);
    const { records } = await linesFor(cluster);
    expect(records).toEqual([
      { code: 'WRN_REDIS_EVICTION', nodes: [`127.0.0.1:${evicting.port}`], policy: 'volatile-lfu' },
    ]);
  });
});
