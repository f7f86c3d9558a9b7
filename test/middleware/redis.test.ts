import type { Server } from 'node:http';
import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imRateLimit, type Options, RedisStore } from '../../src/index.js';
import { FakeClock, linesInto } from '../helpers.js';
import { type RedisProcess, startRedis } from '../support/redis.js';
import { timedClient } from '../support/timed-client.js';

/** A redis-server of this file's own, so that its command counts and its outage touch no other suite. */
let server: RedisProcess;
let client: Redis;
let admin: Redis;

beforeAll(async () => {
  server = await startRedis();
  client = new Redis({ port: server.port, host: '127.0.0.1' });
  admin = new Redis({ port: server.port, host: '127.0.0.1' });
  await client.ping();
});
afterAll(async () => {
  client.disconnect();
  admin.disconnect();
  await server.stop();
});

function appOn(options: Options = {}) {
  const app = express();
  app.use(express.json(), imRateLimit({ store: new RedisStore({ client }), ...options }), (_req, res) => {
    res.json({ ok: true });
  });
  return app;
}

async function commandCounts(): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  return Object.fromEntries(
    [...info.matchAll(/cmdstat_([\w|]+):calls=(\d+)/g)].map(([, name, calls]) => [name, Number(calls)]),
  );
}

describe('RedisStore behind the middleware', () => {
  it("makes exactly one script call per request, the app's settings checked in its first, and no other command", async () => {
    // 30 tokens that refill once a minute: the count below cannot depend on how fast this machine is
    // every refusal from the store: remembered ones cost no call (test/limiter/refusal-cache.test.ts)
    const app = appOn({
      overrides: { 'acme#chat': { groups: { ratePerSecond: 1 / 60, burst: 30 } } },
      refusalCache: false,
    });
    await request(app).get('/warm/up/chatgroups'); // the script is loaded (EVALSHA, NOSCRIPT, EVAL) once
    await admin.config('RESETSTAT');
    const requests = 40;
    const statuses: number[] = [];
    for (let i = 0; i < requests; i++) statuses.push((await request(app).get('/acme/chat/chatgroups')).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    const counts = await commandCounts();
    const stats = counts['config|resetstat'];
    // EVALSHA is the one round trip; TIME, MGET and SET (admitted only) are the script's own calls inside it;
    // the app's run-time settings are checked (HMGET) in the script of its first request of the `editionCacheMs`
    expect({ ...counts, 'config|resetstat': undefined, info: undefined }).toEqual({
      evalsha: requests,
      hmget: 1,
      time: requests,
      mget: requests,
      set: 30,
      'config|resetstat': undefined,
      info: undefined,
    });
    expect(stats).toBe(1);
  });

  it('keeps every key of an app in its hash tag, with a TTL', async () => {
    const app = appOn();
    await request(app)
      .post('/tagged/app/messages/users')
      .send({ to: ['a', 'b'], type: 'txt', body: { msg: 'hi' } });
    const keys = (await admin.keys('imrl:{tagged#app}:*')).sort();
    expect(keys).toEqual(['imrl:{tagged#app}:messages:daily', 'imrl:{tagged#app}:messages:rate']);
    for (const key of keys) expect(await admin.pttl(key)).toBeGreaterThan(0);
  });
});

describe('when Redis fails (onStoreError)', () => {
  /** Pauses every client of the real server for `ms`: a slow Redis, no fake. */
  const pause = (ms: number) => admin.client('PAUSE', ms, 'ALL');

  it("'deny' answers 503 in the IM error shape", async () => {
    const warnings: string[] = [];
    const app = appOn({
      onStoreError: 'deny',
      storeTimeoutMs: 30,
      logger: linesInto(warnings),
    });
    await pause(300);
    const response = await request(app).get('/deny/app/chatgroups');
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({
      error: 'service_unavailable',
      exception: 'ServiceUnavailableException',
      error_description: 'rate limit store unavailable',
    });
    expect(response.text).not.toMatch(/at |stack/);
    expect(warnings).toEqual([
      "im-rate-limit: WRN_STORE_DOWN: the store failed (the store did not answer within 30 ms); policy 'deny' until it answers again",
      'im-rate-limit: WRN_SETTINGS_UNREAD: reading the run-time settings of "deny#app" failed (the store did not answer); using the configured edition and overrides until it answers',
    ]);
  });

  it("'allow' lets the request through without headers", async () => {
    const app = appOn({ onStoreError: 'allow', storeTimeoutMs: 30, logger: { warn: () => {} } });
    await pause(300);
    const response = await request(app).get('/allow/app/chatgroups');
    expect(response.status).toBe(200);
    expect(response.headers.ratelimit).toBeUndefined();
  });

  it("'fallback' limits with per-process buckets of the same figures, warning once per outage", async () => {
    const warnings: string[] = [];
    const app = appOn({
      // the store's clock stands still, so the failover's one-second probe never comes due here, and
      // the bucket refills once a minute: however slow the machine, no token returns during the test
      store: new RedisStore({ client, clock: new FakeClock().now }),
      overrides: { 'fallback#app': { groups: { ratePerSecond: 1 / 60, burst: 10 } } },
      storeTimeoutMs: 30,
      logger: linesInto(warnings),
    });
    await pause(500);
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await request(app).get('/fallback/app/chatgroups')).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.slice(10)).toEqual([429, 429]);
    expect(warnings).toEqual([
      "im-rate-limit: WRN_STORE_DOWN: the store failed (the store did not answer within 30 ms); policy 'fallback' until it answers again",
      'im-rate-limit: WRN_SETTINGS_UNREAD: reading the run-time settings of "fallback#app" failed (the store did not answer); using the configured edition and overrides until it answers',
    ]);
  });
});

describe('Redis stopped mid-traffic and started again', () => {
  it('never waits past the timeout, never crashes, and goes back to Redis', async () => {
    const servers = [await startRedis()];
    const port = (servers[0] as RedisProcess).port;
    const ownClient = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: null });
    ownClient.on('error', () => {}); // the application's client: reconnect errors are its own to log
    const warnings: string[] = [];
    // the store's clock, which the failover's one-second probe follows: the test moves it, not waits for it
    const clock = new FakeClock();
    const limiter = imRateLimit({
      store: new RedisStore({ client: ownClient, clock: clock.now }),
      // a bucket no loop here can empty, refilled at 1/s: its key lives long enough to be seen in Redis
      overrides: { 'outage#app': { chatrooms: { ratePerSecond: 1, burst: 100_000 } } },
      storeTimeoutMs: 50,
      logger: linesInto(warnings),
    });
    const app = express().use(limiter, (_req, res) => {
      res.json({ ok: true });
    });
    const http: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/outage/app/chatrooms`;
    const bucketKey = 'imrl:{outage#app}:chatrooms:rate';
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const traffic = timedClient(url);
    const call = traffic.get;
    try {
      for (let i = 0; i < 20; i++) expect(await call()).toBe(200);
      expect(await ownClient.exists(bucketKey)).toBe(1);

      await (servers[0] as RedisProcess).stop();
      traffic.slowestMs = 0;
      for (let i = 0; i < 50; i++) expect(await call()).toBe(200);
      // The timeout is 50 ms; the 3 s bound holds on a machine three times slower than a loaded CI
      // runner. A request that waited on Redis would wait until it is back: it is not, yet.
      expect(traffic.slowestMs).toBeLessThan(3000);

      servers.push(await startRedis({ port })); // empty: whatever Redis held is gone
      await new Promise<void>((resolve) =>
        ownClient.status === 'ready' ? resolve() : ownClient.once('ready', () => resolve()),
      );
      // one request a second probes Redis while it is down: the next one, a second later
      clock.advance(1000);
      expect(await call()).toBe(200);
      // (calls that timed out during the outage were queued by ioredis and may have run since: start clean)
      await ownClient.del(bucketKey);
      expect(await call()).toBe(200);
      expect(await ownClient.exists(bucketKey)).toBe(1);
      expect(warnings).toEqual([
        expect.stringMatching(
          /^im-rate-limit: WRN_STORE_DOWN: the store failed \(.+\); policy 'fallback' until it answers again$/,
        ),
        'im-rate-limit: WRN_STORE_BACK: the store answers again; limits are shared again',
      ]);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      http.close();
      ownClient.disconnect();
      for (const server of servers) await server.stop();
    }
  });
});
