import express from 'express';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type FlexiblePolicy, imRateLimit, RateLimiterFlexibleStore, StoreError } from '../../src/index.js';
import { dayEdgesMs } from '../../src/limits/calendar.js';
import type { Check } from '../../src/store/index.js';
import { singleClient } from '../support/clients.js';
import { freePort } from '../support/redis.js';

const redis = singleClient();

const backends = {
  RateLimiterMemory: () => new RateLimiterFlexibleStore({ create: (policy) => new RateLimiterMemory(policy) }),
  'RateLimiterRedis on a real redis-server': () =>
    new RateLimiterFlexibleStore({
      create: (policy) =>
        new RateLimiterRedis({ storeClient: redis, ...policy, keyPrefix: `${policy.keyPrefix}-${Date.now()}` }),
    }),
};

describe.each(Object.entries(backends))('RateLimiterFlexibleStore over %s', (_, makeStore) => {
  const bucket = (key: string, cost = 1): Check => ({ type: 'bucket', key, capacity: 10, intervalMs: 100, cost });
  const day = (key: string, cost = 1): Check => ({
    type: 'window',
    key,
    limit: 3,
    edgesMs: dayEdgesMs('UTC', Date.now()),
    cost,
  });

  it('reads without taking at cost 0, and reset fills the bucket and the window again', async () => {
    const store = makeStore();
    await store.take([bucket('r'), day('r-day')]);
    await store.take([bucket('r'), day('r-day')]);
    const read = async () => (await store.take([bucket('r', 0), day('r-day', 0)])).map((r) => r.remaining);
    expect(await read()).toEqual([8, 1]);
    expect(await read()).toEqual([8, 1]);
    await store.reset(['r', 'r-day']);
    expect(await read()).toEqual([10, 3]);
  });

  it('admits the capacity of a bucket within its period, then refuses', async () => {
    const store = makeStore();
    const readings = [];
    for (let i = 0; i < 12; i++) readings.push((await store.take([bucket('a')]))[0]);
    expect(readings.filter((r) => r?.allowed)).toHaveLength(10);
    expect(readings[9]).toMatchObject({ allowed: true, remaining: 0 });
    expect(readings[10]).toMatchObject({ allowed: false, remaining: 0 });
    expect(readings[10]?.retryAfterMs).toBeGreaterThan(0);
    expect(readings[10]?.retryAfterMs).toBeLessThanOrEqual(1000);
  });

  it('gives back what earlier checks took when a later one refuses', async () => {
    const store = makeStore();
    for (let i = 0; i < 3; i++)
      expect((await store.take([bucket('b'), day('d')])).map((r) => r.allowed)).toEqual([true, true]);
    expect((await store.take([bucket('b'), day('d')])).map((r) => r.allowed)).toEqual([true, false]);
    expect((await store.take([bucket('b')]))[0]).toMatchObject({ allowed: true, remaining: 6 });
    expect((await store.take([day('d2', 2), day('d2', 2)])).map((r) => r.allowed)).toEqual([true, false]);
    expect((await store.take([day('d2', 3)]))[0]).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('limits through the middleware', async () => {
    const app = express();
    app.use(imRateLimit({ store: makeStore() }), (_req, res) => {
      res.json({ ok: true });
    });
    const path = `/rlf-${Date.now()}/chat/chatgroups`;
    let admitted = 0;
    for (let i = 0; i < 15; i++) if ((await request(app).get(path)).status === 200) admitted++;
    expect(admitted).toBeGreaterThanOrEqual(10);
    expect(admitted).toBeLessThanOrEqual(11); // a fixed window may reset once within the burst
  });
});

it('turns a backend failure into a StoreError', async () => {
  // a real client of a port where nothing listens, failing at once instead of queueing
  const down = new Redis({ port: await freePort(), host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false });
  const store = new RateLimiterFlexibleStore({
    create: (policy) => new RateLimiterRedis({ storeClient: down, ...policy }),
  });
  await expect(
    store.take([{ type: 'bucket', key: 'k', capacity: 1, intervalMs: 1000, cost: 1 }]),
  ).rejects.toBeInstanceOf(StoreError);
  down.disconnect();
});

it("takes a calendar window as a fixed one of the current window's length: a 23-hour day is 82,800 s", async () => {
  const policies: FlexiblePolicy[] = [];
  const store = new RateLimiterFlexibleStore({
    create: (policy) => {
      policies.push(policy);
      return new RateLimiterMemory(policy);
    },
  });
  const hour = 3_600_000;
  const now = Date.now();
  const edgesMs = [now - 25 * hour, now - hour, now + 22 * hour, now + 47 * hour];
  const day: Check = { type: 'window', key: 'short-day', limit: 3, edgesMs, cost: 2 };
  expect((await store.take([day]))[0]).toMatchObject({ allowed: true, remaining: 1 });
  expect((await store.take([day]))[0]).toMatchObject({ allowed: false, remaining: 1 });
  expect(policies.map(({ points, duration }) => [points, duration])).toEqual([[3, 82_800]]);
});
