import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit, type Options, type Overrides } from '../../src/index.js';
import { STORE_TIMEOUT_MS } from '../helpers.js';
import { bothStores } from '../support/stores.js';

const recipients = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `user${from + i}`);

describe.each(bothStores())('the daily push quota on %s', (_, setup) => {
  /** A limiter on a fresh app of the store under test; `options` may depend on the app's key. */
  const appOn = (options: Options | ((appKey: string) => Options) = {}) => {
    const under = setup();
    const appKey = `acme#${under.app}`;
    const own = typeof options === 'function' ? options(appKey) : options;
    // Sends of up to 20,000 recipients keep these tests short; the default is 600 a send.
    const ownOverrides = (own.overrides ?? {}) as Record<string, Overrides>;
    const messages = { recipientsPerRequestMax: 20_000, ...ownOverrides[appKey]?.messages };
    const overrides = { ...ownOverrides, [appKey]: { ...ownOverrides[appKey], messages } };
    const limiter = imRateLimit({ store: under.store, storeTimeoutMs: STORE_TIMEOUT_MS, ...own, overrides });
    const app = express().use(express.json({ limit: '2mb' }), limiter, (_req, res) => {
      res.json({ ok: true });
    });
    const send = (to: string[]) =>
      request(app)
        .post(`/acme/${under.app}/messages/users`)
        .send({ to, type: 'txt', body: { msg: 'hi' } });
    return { ...under, send };
  };

  it('admits the 20,000th recipient of the day, refuses the next, and admits again after midnight', async () => {
    const { clock, send } = appOn();
    clock.nowMs = Date.UTC(2026, 10, 28, 20, 0, 0);
    for (let i = 0; i < 19; i++) {
      expect((await send(recipients(1000, i * 1000))).status).toBe(200);
      clock.advance(1000); // keep clear of the 10/s rate
    }
    const almost = await send(recipients(999, 19_000));
    expect(almost.status).toBe(200);
    expect(almost.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=1;t=14381');
    clock.advance(1000);
    expect((await send(['user19999'])).status).toBe(200); // the 20,000th
    clock.advance(1000);
    const refused = await send(['user20000']);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('14379'); // until midnight UTC
    expect(refused.body).toMatchObject({
      error: 'resource_limited',
      exception: 'ResourceLimitedException',
      duration: 0,
      error_description:
        'You have exceeded the limit of the community edition, please upgrade to the enterprise edition',
    });
    clock.nowMs = Date.UTC(2026, 10, 29, 0, 0, 0);
    const nextDay = await send(['user20000']);
    expect(nextDay.status).toBe(200);
    expect(nextDay.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=86400');
  });

  it('takes no rate token when the daily quota refuses, and no quota when the rate refuses', async () => {
    const { send, clock } = appOn();
    expect((await send(recipients(19_980))).status).toBe(200);
    clock.advance(1000); // the bucket is full again; 20 recipients left today
    const refusedByDay = await send(recipients(21));
    expect(refusedByDay.status).toBe(429);
    expect(refusedByDay.body.error).toBe('resource_limited');
    expect(refusedByDay.headers.ratelimit).toBe('"messages";r=10;t=0, "messages-daily";r=20;t=43199');
    for (let i = 0; i < 10; i++) expect((await send(['b'])).status).toBe(200);
    const refusedByRate = await send(['c']);
    expect(refusedByRate.status).toBe(429);
    expect(refusedByRate.body.error).toBe('reach_limit');
    expect(refusedByRate.headers.ratelimit).toBe('"messages";r=0;t=1, "messages-daily";r=10;t=43199');
  });

  it('counts calls instead of recipients with countBy: call', async () => {
    const { send } = appOn({ dailyQuota: { countBy: 'call' } });
    const response = await send(recipients(50));
    expect(response.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=43200');
  });

  it('starts the day at midnight of the configured time zone', async () => {
    const { clock, send } = appOn({ dailyQuota: { timeZone: 'Asia/Shanghai' } });
    clock.nowMs = Date.UTC(2026, 10, 28, 15, 0, 0); // 23:00 in Shanghai
    expect((await send(['a'])).headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=3600');
  });

  /** A refusal by the daily quota alone (the rate bucket is full), until the local day ends. */
  const refusedFor = (response: request.Response, seconds: number) => {
    expect(response.status).toBe(429);
    expect(response.body.error).toBe('resource_limited');
    expect(response.headers['retry-after']).toBe(String(seconds));
    expect(response.headers.ratelimit).toBe(`"messages";r=10;t=0, "messages-daily";r=0;t=${seconds}`);
  };
  const at = (iso: string) => Date.parse(iso);

  it('spans the 23-hour day of the change to summer time in Europe/Berlin (2025-03-30)', async () => {
    const { clock, send } = appOn({ dailyQuota: { timeZone: 'Europe/Berlin' } });
    clock.nowMs = at('2025-03-29T22:59:59Z'); // 23:59:59 CET on the 29th
    expect((await send(recipients(20_000))).headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=0;t=1');
    clock.nowMs = at('2025-03-30T00:30:00Z'); // the 30th began at 23:00 UTC; it ends at 22:00 UTC
    const spent = await send(recipients(20_000));
    expect(spent.status).toBe(200);
    expect(spent.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=0;t=77400');
    clock.nowMs = at('2025-03-30T00:40:00Z');
    refusedFor(await send(['one-more']), 76_800);
    clock.nowMs = at('2025-03-30T01:30:00Z'); // past the change at 01:00 UTC: still the same day
    refusedFor(await send(['one-more']), 73_800);
    clock.nowMs = at('2025-03-30T21:59:59Z');
    refusedFor(await send(['one-more']), 1);
    clock.nowMs = at('2025-03-30T22:00:00Z'); // midnight CEST: the 31st, 24 h long
    const nextDay = await send(['one-more']);
    expect(nextDay.status).toBe(200);
    expect(nextDay.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=86400');
  });

  it('spans the 25-hour day of the change back to winter time in Europe/Berlin (2025-10-26)', async () => {
    const { clock, send } = appOn({ dailyQuota: { timeZone: 'Europe/Berlin' } });
    clock.nowMs = at('2025-10-25T22:00:00Z'); // midnight CEST: the 26th, until 23:00 UTC on the 26th
    const spent = await send(recipients(20_000));
    expect(spent.status).toBe(200);
    expect(spent.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=0;t=90000');
    clock.nowMs = at('2025-10-26T00:30:00Z');
    refusedFor(await send(['one-more']), 81_000);
    clock.nowMs = at('2025-10-26T01:30:00Z'); // past the change at 01:00 UTC
    refusedFor(await send(['one-more']), 77_400);
    clock.nowMs = at('2025-10-26T22:00:00Z'); // 23:00 CET: an hour of the 26th still to go
    refusedFor(await send(['one-more']), 3600);
    clock.nowMs = at('2025-10-26T22:59:59Z');
    refusedFor(await send(['one-more']), 1);
    clock.nowMs = at('2025-10-26T23:00:00Z'); // midnight CET: the 27th
    const nextDay = await send(['one-more']);
    expect(nextDay.status).toBe(200);
    expect(nextDay.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=86400');
  });

  it('starts a day whose midnight was skipped at the end of the gap (America/Santiago, 2025-09-07)', async () => {
    const { clock, send } = appOn({ dailyQuota: { timeZone: 'America/Santiago' } });
    clock.nowMs = at('2025-09-07T03:59:59Z'); // 23:59:59 −04 on the 6th; the next second is 01:00 −03
    expect((await send(recipients(20_000))).headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=0;t=1');
    clock.nowMs = at('2025-09-07T04:00:00Z'); // the 7th: 23 h, to midnight −03
    const spent = await send(recipients(20_000));
    expect(spent.status).toBe(200);
    expect(spent.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=0;t=82800');
    clock.nowMs = at('2025-09-08T02:59:59Z');
    refusedFor(await send(['one-more']), 1);
    clock.nowMs = at('2025-09-08T03:00:00Z');
    const nextDay = await send(['one-more']);
    expect(nextDay.status).toBe(200);
    expect(nextDay.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19999;t=86400');
  });

  it('has no daily quota in the enterprise edition unless one is configured', async () => {
    const { send } = appOn({ edition: 'enterprise' });
    const response = await send(recipients(20_000));
    expect(response.status).toBe(200);
    expect(response.headers['ratelimit-policy']).toBe('"messages";q=30;w=1');
    const configured = appOn((appKey) => ({
      edition: 'enterprise',
      overrides: { [appKey]: { messages: { dailyPushQuota: 100 } } },
    }));
    expect((await configured.send(recipients(100))).status).toBe(200);
    const refused = await configured.send(['one-more']);
    expect(refused.status).toBe(429);
    expect(refused.headers['ratelimit-policy']).toBe('"messages";q=30;w=1, "messages-daily";q=100;w=86400');
  });
});

describe.each(bothStores())('a send that can never fit the daily quota, on %s', (_, setup) => {
  it('is answered 400 without Retry-After and takes nothing: 200 groups × 200 users against 20,000', async () => {
    const { store, clock, app } = setup();
    clock.nowMs = Date.UTC(2026, 10, 28, 23, 15, 34); // 2,666 s before midnight UTC
    const limiter = imRateLimit({ store, storeTimeoutMs: 10_000 });
    const server = express().use(express.json({ limit: '2mb' }), limiter, (_req, res) => {
      res.json({ ok: true });
    });
    const sendToMembers = (groups: number, users: number) =>
      request(server)
        .post(`/acme/${app}/messages/chatgroups/users`)
        .send({ to: recipients(groups), users: recipients(users), type: 'txt', body: { msg: 'hi' } });

    const never = await sendToMembers(200, 200);
    expect(never.status).toBe(400);
    expect(never.headers['retry-after']).toBeUndefined();
    expect(never.body).toEqual({
      error: 'illegal_argument',
      exception: 'IllegalArgumentException',
      timestamp: expect.any(Number),
      duration: 0,
      error_description: 'this send counts 40000 pushes, more than the whole daily push quota of 20000: split it',
    });
    // nothing was taken: neither the rate token nor a push of the day
    const whole = await sendToMembers(100, 200);
    expect(whole.status).toBe(200);
    expect(whole.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=0;t=2666');
    // the day's quota spent: one more push waits for midnight, a 429 with Retry-After
    const tomorrow = await sendToMembers(1, 1);
    expect(tomorrow.status).toBe(429);
    expect(tomorrow.body.error).toBe('resource_limited');
    expect(tomorrow.headers['retry-after']).toBe('2666');
  });
});
