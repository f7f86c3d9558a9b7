import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit, type Options } from '../../src/index.js';
import { bothStores } from '../support/stores.js';

const recipients = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `user${from + i}`);

describe.each(bothStores())('the daily push quota on %s', (_, setup) => {
  /** A limiter on a fresh app of the store under test; `options` may depend on the app's key. */
  const appOn = (options: Options | ((appKey: string) => Options) = {}) => {
    const under = setup();
    const own = typeof options === 'function' ? options(`acme#${under.app}`) : options;
    const app = express().use(imRateLimit({ store: under.store, ...own }), (_req, res) => {
      res.json({ ok: true });
    });
    const send = (to: string[]) =>
      request(app)
        .post(`/acme/${under.app}/messages/users`)
        .send({ to, msg: { type: 'txt', msg: 'hi' } });
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

  it('has no daily quota in the enterprise edition unless one is configured', async () => {
    const { send } = appOn({ edition: 'enterprise' });
    const response = await send(recipients(30_000));
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
