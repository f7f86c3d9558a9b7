import type { Server } from 'node:http';
import express, { type Express } from 'express';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { imRateLimit, type Options, RedisStore } from '../../src/index.js';
import { closeServer, listen } from '../support/raw-http.js';
import { type RedisProcess, startRedis } from '../support/redis.js';

/**
 * A redis-server of this file's own (paused, stopped and restarted here), and a client as an
 * application would configure it: it reconnects forever and queues commands meanwhile, so only the
 * limiter's timeout stands between a request and a dead Redis.
 */
let redis: RedisProcess;
let client: Redis;
let admin: Redis;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: null });
  client.on('error', () => {}); // the application's client: reconnect errors are its own to log
  admin = new Redis({ port: redis.port, host: '127.0.0.1' });
  admin.on('error', () => {});
});
afterAll(async () => {
  client.disconnect();
  admin.disconnect();
  await redis.stop();
});

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map(closeServer));
});

/** An IM server with a bucket route, a join and a create behind the limiter, on a real socket. */
async function imServer(options: Options) {
  let created = 0;
  const app: Express = express().use(express.json(), imRateLimit({ store: new RedisStore({ client }), ...options }));
  app.get('/:org/:app/chatgroups', (_req, res) => res.json({ data: [] }));
  app.post('/:org/:app/chatgroups', (_req, res) => res.json({ data: { groupid: `g${++created}` } }));
  app.post('/:org/:app/chatgroups/:group/users/:user', (_req, res) => res.json({ data: { result: true } }));
  const server = await listen(app);
  servers.push(server);
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  /** Status and milliseconds of one request. */
  return async (method: 'GET' | 'POST', path: string, body?: unknown) => {
    const started = performance.now();
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - started };
  };
}

const TIMEOUT_MS = 200;
/**
 * What a loaded machine may add to the timeout, three times over. A request that waited on Redis
 * would wait until it is back: the pause's minute, or the restart after the test.
 */
const MARGIN_MS = 2800;

describe.each([
  // WRITE pauses every script (they all may write) and lets CLIENT UNPAUSE through at once
  ['paused (hung)', () => admin.client('PAUSE', 60_000, 'WRITE'), () => admin.client('UNPAUSE')],
  [
    'stopped',
    () => redis.stop(),
    async () => {
      redis = await startRedis({ port: redis.port });
      await new Promise<void>((resolve) =>
        client.status === 'ready' ? resolve() : client.once('ready', () => resolve()),
      );
    },
  ],
] as const)('with Redis %s', (_, fail, recover) => {
  // a bucket falls back to this process's share; a cap cannot be checked without the shared ledger
  it.each([
    ['fallback', [200, 503, 503]],
    ['allow', [200, 200, 200]],
    ['deny', [503, 503, 503]],
  ] as const)(
    "every route, joins and creates included, answers within the timeout under '%s'",
    async (policy, expected) => {
      const app = `${policy}${Math.random().toString(36).slice(2, 8)}`;
      const call = await imServer({ onStoreError: policy, storeTimeoutMs: TIMEOUT_MS, logger: { warn: () => {} } });
      expect((await call('POST', `/acme/${app}/chatgroups/1/users/warm`)).status).toBe(200); // the scripts are loaded
      await fail();
      try {
        const answers = [];
        for (let i = 0; i < 3; i++) {
          answers.push(await call('GET', `/acme/${app}/chatgroups`));
          answers.push(await call('POST', `/acme/${app}/chatgroups/7/users/u${i}`));
          answers.push(await call('POST', `/acme/${app}/chatgroups`, { owner: `o${i}`, members: ['m1', 'm2'] }));
        }
        expect(answers.map((answer) => answer.status)).toEqual([...expected, ...expected, ...expected]);
        expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(TIMEOUT_MS + MARGIN_MS);
      } finally {
        await recover();
      }
    },
  );
});

describe('the fallback while Redis is down', () => {
  it('gives each process 1/fallbackProcesses of every figure, and refuses joins it cannot check', async () => {
    const [rated, capped] = ['share', 'cap'].map((name) => `${name}${Math.random().toString(36).slice(2, 8)}`);
    const call = await imServer({
      fallbackProcesses: 2,
      storeTimeoutMs: TIMEOUT_MS,
      logger: { warn: () => {} },
      overrides: {
        [`acme#${rated}`]: { groups: { ratePerSecond: 1 / 60, burst: 40 } },
        [`acme#${capped}`]: { groups: { maxJoinedPerUser: 2 } },
      },
    });
    await admin.client('PAUSE', 60_000, 'WRITE'); // lifted below: the minute only bounds a failed test
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 22; i++) statuses.push((await call('GET', `/acme/${rated}/chatgroups`)).status);
      expect(statuses.filter((status) => status === 200)).toHaveLength(20); // half of 40
      const joins: number[] = [];
      for (const group of ['a', 'b', 'c']) {
        joins.push((await call('POST', `/acme/${capped}/chatgroups/${group}/users/bob`)).status);
      }
      expect(joins).toEqual([503, 503, 503]); // one process cannot know who joined elsewhere
    } finally {
      await admin.client('UNPAUSE');
    }
  });
});

describe('Redis restarted empty', () => {
  it('starts every bucket full and forgets every membership: as lenient as a new app, once', async () => {
    const app = `empty${Math.random().toString(36).slice(2, 8)}`;
    const call = await imServer({
      storeTimeoutMs: 2000, // not what this tests: Redis answers throughout, empty after the restart
      refusalCache: false, // a refusal remembered before the restart would stand up to its maxMs after it
      logger: { warn: () => {} },
      overrides: { [`acme#${app}`]: { groups: { ratePerSecond: 1 / 60, burst: 5, maxJoinedPerUser: 1 } } },
    });
    const spend = async (groups: string[]) => {
      const statuses: number[] = [];
      for (const group of groups)
        statuses.push((await call('POST', `/acme/${app}/chatgroups/${group}/users/bob`)).status);
      for (let i = 0; i < 4; i++) statuses.push((await call('GET', `/acme/${app}/chatgroups`)).status);
      return statuses;
    };
    expect(await spend(['a', 'b'])).toEqual([200, 403, 200, 200, 200, 429]);
    await redis.stop();
    redis = await startRedis({ port: redis.port });
    await new Promise<void>((resolve) =>
      client.status === 'ready' ? resolve() : client.once('ready', () => resolve()),
    );
    expect(await client.dbsize()).toBe(0);
    // bob's membership of a is gone: b is his one group now
    expect(await spend(['b', 'a'])).toEqual([200, 403, 200, 200, 200, 429]);
  });
});
