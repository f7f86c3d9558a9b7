import type { Express } from 'express';
import { parseRateLimit } from 'ratelimit-header-parser';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeaderStyle } from '../../src/index.js';
import { clockedApp } from '../helpers.js';
import { type ExpressFactory, expressVersions } from '../support/express.js';

const NOW = Date.UTC(2026, 10, 28, 12, 0, 0); // the FakeClock's start: noon, 43,200 s before the day ends
const send = { type: 'txt', body: { msg: 'hi' } };

/** The policy a single-policy form reports, and the draft-8 text that lists them all. */
interface Expected {
  readonly status: number;
  readonly limit: number;
  readonly remaining: number;
  readonly resetSeconds: number;
  readonly windowSeconds: number;
  readonly draft8: { readonly policy: string; readonly rateLimit: string };
}

/** Real responses: a bucket route and a community send (bucket and daily window), admitted and refused. */
const scenarios: Array<{ name: string; respond: (app: Express) => Promise<request.Response>; expected: Expected }> = [
  {
    name: 'a bucket route, admitted',
    respond: (app) => request(app).get('/acme/chat/users/alice'),
    expected: {
      status: 200,
      limit: 10,
      remaining: 9,
      resetSeconds: 1,
      windowSeconds: 1,
      draft8: { policy: '"users";q=10;w=1', rateLimit: '"users";r=9;t=1' },
    },
  },
  {
    name: 'a bucket route, refused',
    respond: async (app) => {
      for (let i = 0; i < 10; i++) await request(app).get('/acme/chat/users/alice');
      return request(app).get('/acme/chat/users/alice');
    },
    expected: {
      status: 429,
      limit: 10,
      remaining: 0,
      resetSeconds: 1,
      windowSeconds: 1,
      draft8: { policy: '"users";q=10;w=1', rateLimit: '"users";r=0;t=1' },
    },
  },
  {
    name: 'a community send, admitted: the daily window is the tightest',
    respond: (app) =>
      request(app)
        .post('/acme/chat/messages/users')
        .send({ to: ['a', 'b'], ...send }),
    expected: {
      status: 200,
      limit: 3,
      remaining: 1,
      resetSeconds: 43_200,
      windowSeconds: 86_400,
      draft8: {
        policy: '"messages";q=10;w=1, "messages-daily";q=3;w=86400',
        rateLimit: '"messages";r=9;t=1, "messages-daily";r=1;t=43200',
      },
    },
  },
  {
    name: 'a community send, refused by the daily window',
    respond: async (app) => {
      await request(app)
        .post('/acme/chat/messages/users')
        .send({ to: ['a', 'b', 'c'], ...send });
      return request(app)
        .post('/acme/chat/messages/users')
        .send({ to: ['a'], ...send });
    },
    expected: {
      status: 429,
      limit: 3,
      remaining: 0,
      resetSeconds: 43_200,
      windowSeconds: 86_400,
      draft8: {
        policy: '"messages";q=10;w=1, "messages-daily";q=3;w=86400',
        rateLimit: '"messages";r=9;t=1, "messages-daily";r=0;t=43200',
      },
    },
  },
  {
    name: 'a community send, refused by the bucket: the bucket is the tightest',
    respond: async (app) => {
      for (let i = 0; i < 10; i++)
        await request(app)
          .post('/acme/chat/messages/users')
          .send({ to: ['a'], ...send });
      return request(app)
        .post('/acme/chat/messages/users')
        .send({ to: ['a'], ...send });
    },
    expected: {
      status: 429,
      limit: 10,
      remaining: 0,
      resetSeconds: 1,
      windowSeconds: 1,
      draft8: {
        policy: '"messages";q=10;w=1, "messages-daily";q=20;w=86400',
        rateLimit: '"messages";r=0;t=1, "messages-daily";r=10;t=43200',
      },
    },
  },
];

/** The last scenario sends 11: it needs a daily quota above that, the others one of 3. */
const quotaFor = (name: string): number => (name.includes('refused by the bucket') ? 20 : 3);

async function respond(
  express: ExpressFactory,
  style: HeaderStyle,
  scenario: (typeof scenarios)[number],
): Promise<request.Response> {
  const overrides = { 'acme#chat': { messages: { dailyPushQuota: quotaFor(scenario.name) } } };
  const response = await scenario.respond(clockedApp({ express, headers: style, overrides }).app);
  expect(response.status).toBe(scenario.expected.status);
  if (response.status === 429) expect(response.headers['retry-after']).toBeDefined();
  return response;
}

const rateHeaders = (response: request.Response): string[] =>
  Object.keys(response.headers)
    .filter((name) => name.includes('ratelimit'))
    .sort();

describe.each(expressVersions)('$name', ({ express }) => {
  describe('rate-limit headers, read by ratelimit-header-parser', () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'], now: NOW }); // the parser dates a reset from its own now
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    for (const scenario of scenarios) {
      const { expected } = scenario;
      const reset = new Date(NOW + expected.resetSeconds * 1000);

      describe(scenario.name, () => {
        it('draft-7: RateLimit: limit=…, remaining=…, reset=… and RateLimit-Policy: 10;w=1', async () => {
          const response = await respond(express, 'draft-7', scenario);
          expect(parseRateLimit(response.headers)).toEqual({
            limit: expected.limit,
            used: expected.limit - expected.remaining,
            remaining: expected.remaining,
            reset,
          });
          expect(response.headers.ratelimit).toBe(
            `limit=${expected.limit}, remaining=${expected.remaining}, reset=${expected.resetSeconds}`,
          );
          expect(response.headers['ratelimit-policy']).toBe(`${expected.limit};w=${expected.windowSeconds}`);
          expect(rateHeaders(response)).toEqual(['ratelimit', 'ratelimit-policy']);
        });

        it('draft-6: RateLimit-Limit, -Remaining, -Reset and RateLimit-Policy', async () => {
          const response = await respond(express, 'draft-6', scenario);
          expect(parseRateLimit(response.headers)).toEqual({
            limit: expected.limit,
            used: expected.limit - expected.remaining,
            remaining: expected.remaining,
            reset,
          });
          expect(response.headers['ratelimit-policy']).toBe(`${expected.limit};w=${expected.windowSeconds}`);
          expect(rateHeaders(response)).toEqual([
            'ratelimit-limit',
            'ratelimit-policy',
            'ratelimit-remaining',
            'ratelimit-reset',
          ]);
        });

        it('legacy: X-RateLimit-Limit, -Remaining, -Reset (seconds from now)', async () => {
          const response = await respond(express, 'legacy', scenario);
          expect(parseRateLimit(response.headers)).toEqual({
            limit: expected.limit,
            used: expected.limit - expected.remaining,
            remaining: expected.remaining,
            reset,
          });
          expect(rateHeaders(response)).toEqual(['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']);
        });

        // ratelimit-header-parser 0.1 predates draft 8: it reads `RateLimit` only as draft 7's
        // `limit=…, remaining=…, reset=…`, and finds none of those keys in a structured-field list of
        // named policies (`"users";r=9;t=1`). So our exact text is asserted instead.
        for (const style of ['draft-8', 'draft'] as const) {
          it(`${style}: RateLimit and RateLimit-Policy list every policy`, async () => {
            const response = await respond(express, style, scenario);
            expect(response.headers['ratelimit-policy']).toBe(expected.draft8.policy);
            expect(response.headers.ratelimit).toBe(expected.draft8.rateLimit);
            expect(rateHeaders(response)).toEqual(['ratelimit', 'ratelimit-policy']);
          });
        }

        it('false: none', async () => {
          expect(rateHeaders(await respond(express, false, scenario))).toEqual([]);
        });
      });
    }

    it('reports a download by its app bucket, not the cluster-wide one', async () => {
      const response = await request(clockedApp({ express, headers: 'draft-6' }).app).get('/acme/chat/chatfiles/f-1');
      expect(response.status).toBe(200);
      expect(parseRateLimit(response.headers)).toMatchObject({ limit: 10, remaining: 9 });
      expect(response.headers['ratelimit-policy']).toBe('10;w=1');
    });
  });
});
