import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RedisStore, StoreError } from '../../src/index.js';
import { Failover, FailoverStore } from '../../src/store/failover-store.js';
import type { Store } from '../../src/store/index.js';
import type { BucketCheck, Check, Progress } from '../../src/store/store.js';
import { appWith, FakeClock, linesInto } from '../helpers.js';
import { type RedisProcess, startRedis } from '../support/redis.js';

/**
 * What one process does while its Redis is down, counted against a real redis-server: store calls
 * per probe interval (under a fake clock), requests that waited on the store, the codes reported,
 * the lines logged. The client is configured as docs/redis.md says: it reconnects forever, queues
 * commands meanwhile, and has an `error` handler.
 */
let redis: RedisProcess;
let client: Redis;

beforeEach(async () => {
  redis = await startRedis();
  client = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: null });
  client.on('error', () => {}); // as docs/redis.md's clients: the library logs the outage
  await client.ping();
});
afterEach(async () => {
  vi.useRealTimers();
  vi.restoreAllMocks();
  client.disconnect();
  await redis.stop();
});

/** Resolves once the client has lost its connection to the stopped server. */
const disconnected = (redisClient: Redis) =>
  new Promise<void>((resolve) =>
    redisClient.status === 'reconnecting' ? resolve() : redisClient.once('reconnecting', () => resolve()),
  );
const ready = (redisClient: Redis) =>
  new Promise<void>((resolve) =>
    redisClient.status === 'ready' ? resolve() : redisClient.once('ready', () => resolve()),
  );

/** The Redis store, counting the calls that reach it. */
class CountedStore implements Store {
  calls = 0;
  constructor(private readonly inner: RedisStore) {}
  take(checks: readonly Check[], progress?: Progress) {
    this.calls++;
    return this.inner.take(checks, progress);
  }
}

const bucket: BucketCheck = {
  type: 'bucket',
  key: 'imrl:{acme#probe}:groups:rate',
  capacity: 10,
  intervalMs: 100,
  cost: 1,
};

function failoverOn(timeoutMs: number) {
  const clock = new FakeClock(0);
  const warnings: string[] = [];
  const failures: string[] = [];
  const failover = new Failover({
    timeoutMs,
    policy: 'deny',
    logger: linesInto(warnings),
    onFailure: (error) => failures.push(error instanceof StoreError ? error.code : String(error)),
    clock: clock.now,
  });
  const store = new CountedStore(new RedisStore({ client }));
  return { clock, warnings, failures, store, failover: new FailoverStore(store, failover, 1) };
}

describe('while Redis refuses connections', () => {
  // the timeout is long: a call that waited for it would fail this test by its own timeout
  it('one call a second probes it, failing at once with ERR_STORE; every other call is answered at once', async () => {
    await redis.stop();
    await disconnected(client);
    const { clock, warnings, failures, store, failover } = failoverOn(60_000);
    expect(await failover.take([bucket])).toBeUndefined(); // marks it down
    // 100 calls a second for 5 s, none awaited before the next: traffic, not one caller
    const waited: Array<Promise<unknown>> = [];
    for (let ms = 10; ms <= 5000; ms += 10) {
      clock.advance(10);
      const answer = failover.take([bucket]);
      if (answer instanceof Promise) waited.push(answer);
      else expect(answer).toBeUndefined();
    }
    expect(await Promise.all(waited)).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(store.calls).toBe(6); // the first, then one at each of 1000, 2000, … 5000 ms
    expect(failures).toEqual(Array(6).fill('ERR_STORE'));
    expect(warnings).toEqual([
      "im-rate-limit: WRN_STORE_DOWN: the store failed (Redis is not connected: the connection was refused or closed (ioredis status 'reconnecting')); policy 'deny' until it answers again",
    ]);
  });
});

describe('while Redis hangs (connected, paused)', () => {
  const admin = () => new Redis({ port: redis.port, host: '127.0.0.1' });

  it('calls arriving while a probe is in flight go to the policy at once instead of waiting with it', async () => {
    const control = admin();
    const { clock, failures, store, failover } = failoverOn(1000); // the timeout is what marks it down
    await control.client('PAUSE', 20_000, 'WRITE');
    try {
      expect(await failover.take([bucket])).toBeUndefined();
      clock.advance(1000);
      const probe = failover.take([bucket]);
      expect(probe).toBeInstanceOf(Promise);
      let waiting = 0;
      for (let i = 0; i < 49; i++) {
        clock.advance(1);
        if (failover.take([bucket]) instanceof Promise) waiting++;
      }
      expect(waiting).toBe(0);
      expect(store.calls).toBe(2);
      expect(await probe).toBeUndefined();
      expect(failures).toEqual(['ERR_STORE_TIMEOUT', 'ERR_STORE_TIMEOUT']); // connected but slow
    } finally {
      await control.client('UNPAUSE');
      control.disconnect();
    }
  });
});

describe('the wall clock stepping back during an outage', () => {
  it("does not hold the store down for the step: under 'deny', requests are admitted again once Redis is back", {
    timeout: 30_000,
  }, async () => {
    const stray = [vi.spyOn(console, 'error'), vi.spyOn(console, 'warn'), vi.spyOn(console, 'log')];
    const warnings: string[] = [];
    const registry = new Registry();
    const { app } = appWith({
      store: new RedisStore({ client }),
      onStoreError: 'deny',
      storeTimeoutMs: 5000,
      metrics: { registry },
      logger: linesInto(warnings),
    });
    expect((await request(app).get('/acme/step/chatgroups')).status).toBe(200);
    await redis.stop();
    await disconnected(client);
    expect((await request(app).get('/acme/step/chatgroups')).status).toBe(503);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() - 120_000); // NTP, a resumed VM, an operator's `date -s`
    redis = await startRedis({ port: redis.port });
    await ready(client);
    // the probe comes due one monotonic second after the failure; a wall-clock probe would wait 121 s
    const statuses: number[] = [];
    // the probe's second is monotonic, the subject here: wait for it, a request every 100 ms
    await vi.waitFor(
      async () => {
        statuses.push((await request(app).get('/acme/step/chatgroups')).status);
        expect(statuses.at(-1)).toBe(200);
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(statuses.slice(0, -1).every((status) => status === 503)).toBe(true);
    // one line down, one line up, with the cause as it was; nothing else on the console
    expect(warnings).toEqual([
      "im-rate-limit: WRN_STORE_DOWN: the store failed (Redis is not connected: the connection was refused or closed (ioredis status 'reconnecting')); policy 'deny' until it answers again",
      'im-rate-limit: WRN_STORE_BACK: the store answers again; limits are shared again',
    ]);
    const failures = (await registry.getSingleMetric('im_rate_limit_store_failures_total')?.get())?.values ?? [];
    expect(failures.filter((value) => value.value > 0).map((value) => value.labels.code)).toEqual(['ERR_STORE']);
    for (const spy of stray) expect(spy).not.toHaveBeenCalled();
  });
});
