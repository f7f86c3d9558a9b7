import { randomUUID } from 'node:crypto';
import express from 'express';
import fc from 'fast-check';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore, type Options, RedisStore } from '../../src/index.js';
import { RefusalCache } from '../../src/limiter/refusal-cache.js';
import type { BucketCheck, Check, Reading } from '../../src/store/store.js';
import { appWith, FakeClock, serving } from '../helpers.js';
import { singleClient } from '../support/clients.js';

const bucket = (key: string, cost = 1): BucketCheck => ({ type: 'bucket', key, capacity: 10, intervalMs: 100, cost });
const refused = (retryAfterMs: number, remaining = 0): Reading => ({
  allowed: false,
  remaining,
  resetMs: 1000,
  retryAfterMs,
});
const passed: Reading = { allowed: true, remaining: 3, resetMs: 500, retryAfterMs: 0 };

describe('RefusalCache', () => {
  const limits = { maxEntries: 3, maxBytes: 1 << 20, maxMs: 1000 };

  it('refuses the same checks until a token can exist (the store rounds up: 1 ms less), with times moved on', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    const checks = [bucket('a'), bucket('b')];
    cache.remember(checks, [refused(40), passed], clock.now());
    clock.advance(10);
    expect(cache.refused(checks)).toStrictEqual([
      { allowed: false, remaining: 0, resetMs: 990, retryAfterMs: 30 },
      { allowed: true, remaining: 3, resetMs: 490, retryAfterMs: 0 },
    ]);
    clock.advance(28.9);
    expect(cache.refused(checks)).toBeDefined();
    clock.advance(0.1); // 39 ms after the checks were sent: the token may exist
    expect(cache.refused(checks)).toBeUndefined();
  });

  it('then lets one request through for each token that may have come, and refuses the rest', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    const checks = [bucket('a')]; // a token every 100 ms
    cache.remember(checks, [refused(40)], clock.now());
    clock.advance(39);
    const decided = () => (cache.refused(checks) === undefined ? 'store' : 'refused');
    expect([decided(), decided(), decided()]).toStrictEqual(['store', 'refused', 'refused']);
    expect(cache.refused(checks)?.[0]?.retryAfterMs).toBe(101); // the second token, as the store would say
    clock.advance(100);
    expect([decided(), decided()]).toStrictEqual(['store', 'refused']);
    clock.advance(250); // two more tokens at most
    expect([decided(), decided(), decided()]).toStrictEqual(['store', 'store', 'refused']);
    clock.advance(1000 - 389); // maxMs after the checks were sent: forgotten
    expect([decided(), decided()]).toStrictEqual(['store', 'store']);
    expect(cache.size).toBe(0);
  });

  it('counts from when the checks were sent, not from when the answer came', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    const sentAt = clock.now();
    clock.advance(30); // a slow round trip
    cache.remember([bucket('a')], [refused(40)], sentAt);
    clock.advance(9);
    expect(cache.refused([bucket('a')])).toBeUndefined();
  });

  it('remembers only what proves no request passes: a bucket refused at cost 1 with nothing left, or an empty window', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    const now = clock.now();
    cache.remember([bucket('cost2', 2)], [refused(40)], now); // a token may come before a request of 2 passes
    cache.remember([bucket('left')], [refused(40, 1)], now);
    const window = (key: string, cost: number): Check => ({ type: 'window', key, limit: 5, edgesMs: [0, 1e15], cost });
    cache.remember([window('partly', 3)], [refused(40, 2)], now); // a send to fewer recipients may pass
    expect(cache.size).toBe(0);
    cache.remember([window('empty', 3)], [refused(5000)], now);
    expect(cache.refused([window('empty', 1)])).toBeDefined();
    expect(cache.refused([window('empty', 0)])).toBeUndefined(); // takes nothing: the store decides
  });

  it('never stands for other checks, and never past maxMs', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    cache.remember([bucket('a')], [refused(60_000)], clock.now());
    expect(cache.refused([bucket('a'), bucket('b')])).toBeUndefined();
    expect(cache.refused([bucket('b')])).toBeUndefined();
    clock.advance(999);
    expect(cache.refused([bucket('a')])).toBeDefined();
    clock.advance(1);
    expect(cache.refused([bucket('a')])).toBeUndefined();
  });

  it('stands for the figures it was answered under: a bucket made larger or faster asks the store', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    cache.remember([bucket('a')], [refused(500)], clock.now());
    expect(cache.refused([{ ...bucket('a'), capacity: 1000 }])).toBeUndefined();
    expect(cache.refused([{ ...bucket('a'), intervalMs: 1 }])).toBeUndefined();
    expect(cache.refused([bucket('a')])).toBeDefined();
  });

  it('forgets on clear, and never remembers a refusal of checks sent before the clear', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    const sentAt = clock.now();
    cache.remember([bucket('a')], [refused(500)], sentAt);
    clock.advance(1);
    cache.clear(); // a reset, while the store was still answering a refusal sent before it
    expect(cache.refused([bucket('a')])).toBeUndefined();
    cache.remember([bucket('b')], [refused(500)], sentAt);
    expect(cache.refused([bucket('b')])).toBeUndefined();
    cache.remember([bucket('b')], [refused(500)], clock.now());
    expect(cache.refused([bucket('b')])).toBeDefined();
  });

  it('is bounded in entries and in bytes, forgetting the oldest', () => {
    const clock = new FakeClock();
    const cache = new RefusalCache(limits, clock.now);
    for (const key of ['a', 'b', 'c', 'd']) cache.remember([bucket(key)], [refused(500)], clock.now());
    expect(cache.size).toBe(3);
    expect(cache.refused([bucket('a')])).toBeUndefined();
    expect(cache.refused([bucket('d')])).toBeDefined();
    const small = new RefusalCache({ maxEntries: 1000, maxBytes: 2000, maxMs: 1000 }, clock.now);
    for (let i = 0; i < 100; i++) small.remember([bucket(`${i}`.padStart(200, 'k'))], [refused(500)], clock.now());
    expect(small.size).toBe(2); // 320 + 2 × 200 bytes each
  });
});

describe('a limiter that remembers refusals', () => {
  /** Two limiters on their own MemoryStores, one clock: one remembers refusals, the other does not. */
  const twins = (clock: FakeClock) => {
    const app = (options: Options) => {
      const limiter = imRateLimit({
        store: new MemoryStore({ clock: clock.now }),
        // small buckets, so that most runs empty them and wait for tokens at odd times
        overrides: { 'acme#chat': { users: { ratePerSecond: 30, burst: 2 }, files: { ratePerSecond: 3, burst: 1 } } },
        ...options,
      });
      return express().use(express.json(), limiter, (_req, res) => {
        res.json({ ok: true });
      });
    };
    return [app({}), app({ refusalCache: false })] as const;
  };
  const paths = ['/acme/chat/users', '/acme/chat/chatfiles', '/acme/other/users', '/acme/chat/chatgroups'];

  it('decides exactly as one that does not, whatever the timing (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom(...paths),
            fc.oneof(fc.constantFrom(0, 0, 0, 1000 / 30, 1500), fc.double({ min: 0, max: 60, noNaN: true })),
          ),
          {
            minLength: 20,
            maxLength: 80,
          },
        ),
        async (steps) => {
          const clock = new FakeClock();
          await replay(clock, twins(clock), steps, (answer) => ({
            status: answer.status,
            headers: rateHeaders(answer.headers),
          }));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('a limiter that remembers download refusals', () => {
  /** As `twins` above, for downloads: two apps and a ghost the IM server answers 404 (its token goes back). */
  const twins = (clock: FakeClock) => {
    const app = (options: Options) => {
      const limiter = imRateLimit({
        store: new MemoryStore({ clock: clock.now }),
        clusterDownloadsPerSecond: 6,
        overrides: { 'acme#chat': { files: { ratePerSecond: 4, burst: 2 } } },
        ...options,
      });
      return express().use(limiter, (req, res) => {
        res.status(req.path.startsWith('/acme/ghost/') ? 404 : 200).end();
      });
    };
    return [app({}), app({ refusalCache: false })] as const;
  };
  const file = 'chatfiles/8f7c6b2a-1d2e-11ee-9c5b-0242ac120002';
  const paths = [`/acme/chat/${file}`, `/acme/other/${file}`, `/acme/ghost/${file}`, '/acme/chat/chatfiles'];

  it('admits exactly the downloads one that does not admits, given back or not (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom(...paths),
            fc.oneof(fc.constantFrom(0, 0, 0, 1000 / 6, 250, 1500), fc.double({ min: 0, max: 200, noNaN: true })),
          ),
          { minLength: 20, maxLength: 80 },
        ),
        async (steps) => {
          const clock = new FakeClock();
          await replay(clock, twins(clock), steps, (answer) => ({ status: answer.status }));
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('a flood of one app on Redis', () => {
  const client = singleClient();

  it('costs one Redis call per refusal horizon, not one per refused request', async () => {
    const clock = new FakeClock();
    const { app } = appWith({ store: new RedisStore({ client, clock: clock.now }), storeTimeoutMs: 5000 });
    const path = `/acme/${randomUUID()}/users`;
    const server = await serving(app);
    await request(server).get(path); // the app's settings read, and one token
    const before = await scriptCalls(client);
    const statuses: number[] = [];
    for (let i = 0; i < 200; i++) statuses.push((await request(server).get(path)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(9);
    expect(statuses.filter((s) => s === 429)).toHaveLength(191);
    expect((await scriptCalls(client)) - before).toBe(10); // nine admitted, one refused; 190 refused here
    clock.advance(100); // one token's worth: the refusal is over
    expect((await request(server).get(path)).status).toBe(200);
  });
});

describe('a remembered refusal on Redis, when the store holds other settings than assumed', () => {
  const client = singleClient();

  it('counts the request it lets through once, though it is decided twice', async () => {
    const clock = new FakeClock();
    const serverProcess = (options: Options = {}) =>
      appWith({ store: new RedisStore({ client, clock: clock.now }), ...options });
    const { app } = serverProcess({ editionCacheMs: 200 });
    const operator = serverProcess().limiter;
    const org = `o${randomUUID().slice(0, 8)}`;
    const path = `/${org}/chat/users`;
    const server = await serving(app);
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++) statuses.push((await request(server).get(path)).status);
    // a community app's 10 tokens, then a refusal the store proved: remembered until its next token (100 ms)
    expect(statuses).toEqual([...Array(10).fill(200), 429]);
    await operator.setMode(`${org}#chat`, 'enforce'); // the figures stay; the settings differ
    clock.advance(250); // the refusal is over (2.5 tokens since), and the settings are due
    // let through (counted one token), the settings differ, decided again: admitted by the store
    expect((await request(server).get(path)).status).toBe(200);
    // 1.5 tokens left: counted twice, the refusal would stand here until 300 ms
    expect((await request(server).get(path)).status).toBe(200);
  });
});

/**
 * Moves the clock and sends each step's path to both apps, one remembering refusals and one not:
 * what `seen` makes of their answers must be the same at every step.
 */
async function replay(
  clock: FakeClock,
  [remembering, forgetting]: readonly [express.Express, express.Express],
  steps: ReadonlyArray<readonly [string, number]>,
  seen: (answer: request.Response) => unknown,
): Promise<void> {
  const [a, b] = await Promise.all([serving(remembering), serving(forgetting)]);
  for (const [path, advanceMs] of steps) {
    clock.advance(advanceMs);
    const [x, y] = await Promise.all([request(a).get(path), request(b).get(path)]);
    expect({ path, answer: seen(x) }).toStrictEqual({ path, answer: seen(y) });
  }
}

/** The rate-limit headers of a response, which a remembered refusal answers as the store's would. */
const rateHeaders = (headers: Record<string, string>) => ({
  policy: headers['ratelimit-policy'],
  limit: headers.ratelimit,
  retryAfter: headers['retry-after'],
});

/** EVALSHA and EVAL calls Redis has served (INFO commandstats). */
async function scriptCalls(client: Redis): Promise<number> {
  const stats = await client.info('commandstats');
  let calls = 0;
  for (const match of stats.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(match[2]);
  return calls;
}
