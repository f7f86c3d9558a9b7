import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Options, RedisStore } from '../../src/index.js';
import { MemoryLedger } from '../../src/membership/memory-ledger.js';
import { appWith } from '../helpers.js';
import { freePort } from '../support/redis.js';

/**
 * Only `Date` is faked, and stands still until a test steps it: `performance.now()`, which the
 * monotonic clock reads, runs on. A step of two minutes either way, as NTP or a resumed VM makes.
 */
const STEP_MS = 120_000;
const NOON = Date.UTC(2026, 10, 28, 12, 0, 0);
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'], now: NOON });
});
afterEach(() => {
  vi.useRealTimers();
});
const step = (ms: number) => vi.setSystemTime(Date.now() + ms);

/** Three groups calls, then one a minute: no count below depends on how fast this machine is. */
const overrides = { 'acme#chat': { groups: { ratePerSecond: 1 / 60, burst: 3 } } };

/** A Redis client with no server behind it: every call fails at once, so the fallback buckets decide. */
const nobody = new Redis({
  port: await freePort(),
  host: '127.0.0.1',
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
});
nobody.on('error', () => {});
afterAll(() => nobody.disconnect());

describe.each<[string, () => Options]>([
  ['the MemoryStore', () => ({})],
  ['the fallback buckets', () => ({ store: new RedisStore({ client: nobody }), logger: { warn() {} } })],
])('a wall-clock step on %s', (_, options) => {
  const limiter = () => {
    const { app } = appWith({ ...options(), overrides });
    return async (n: number) => {
      const answers = [];
      for (let i = 0; i < n; i++) answers.push(await request(app).get('/acme/chat/chatgroups'));
      return answers;
    };
  };
  const statuses = (answers: ReadonlyArray<{ status: number }>) => answers.map((answer) => answer.status);

  it('back refuses nothing the bucket holds, nor tells a client to wait for the step', async () => {
    const send = limiter();
    expect(statuses(await send(2))).toEqual([200, 200]);
    step(-STEP_MS);
    const after = await send(2);
    expect(statuses(after)).toEqual([200, 429]); // the third token, then the minute's refill to wait for
    const retryAfter = Number(after[1]?.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(50);
    expect(retryAfter).toBeLessThanOrEqual(60);
  });

  it('forward refills nothing', async () => {
    const send = limiter();
    expect(statuses(await send(4))).toEqual([200, 200, 200, 429]);
    step(STEP_MS);
    expect(statuses(await send(3))).toEqual([429, 429, 429]);
  });
});

describe('a wall-clock step on the daily push quota', () => {
  it('moves the day with the calendar: a step past midnight begins the next day, at once', async () => {
    const { app } = appWith({
      overrides: { 'acme#chat': { messages: { ratePerSecond: 1 / 60, burst: 100, dailyPushQuota: 2 } } },
    });
    const sends = async (n: number) => {
      const answers = [];
      for (let i = 0; i < n; i++)
        answers.push(
          (
            await request(app)
              .post('/acme/chat/messages/users')
              .send({ to: ['a'], type: 'txt', body: { msg: 'hi' } })
          ).status,
        );
      return answers;
    };
    vi.setSystemTime(Date.UTC(2026, 10, 28, 23, 59, 0));
    expect(await sends(3)).toEqual([200, 200, 429]);
    step(STEP_MS); // 00:01 the next day
    expect(await sends(3)).toEqual([200, 200, 429]);
  });
});

describe('a wall-clock step on the membership ledger', () => {
  it("forward lapses no join's hold: the user's place stays held", () => {
    const ledger = new MemoryLedger();
    expect(ledger.reserve('acme#chat', 'groups', 'g1', ['alice'], 1, 60_000)).toMatchObject({ added: ['alice'] });
    step(STEP_MS);
    expect(ledger.reserve('acme#chat', 'groups', 'g2', ['alice'], 1, 60_000)).toEqual({ refused: 'alice' });
  });
});
