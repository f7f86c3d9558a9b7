import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Category } from '../../src/index.js';
import { clockedApp, linesInto, serving } from '../helpers.js';
import { expressVersions } from '../support/express.js';

/** One catalog route per category, and what it sends. */
const sample: Record<Category, { method: 'get' | 'post'; path: (app: string) => string; body?: object }> = {
  users: { method: 'get', path: (app) => `/acme/${app}/users/alice` },
  contacts: { method: 'get', path: (app) => `/acme/${app}/users/alice/contacts/users` },
  blocks: { method: 'get', path: (app) => `/acme/${app}/users/alice/blocks/users` },
  bans: { method: 'post', path: (app) => `/acme/${app}/users/alice/deactivate` },
  offline: { method: 'get', path: (app) => `/acme/${app}/users/alice/offline_msg_count` },
  history: { method: 'get', path: (app) => `/acme/${app}/chatmessages/2026112812` },
  files: { method: 'post', path: (app) => `/acme/${app}/chatfiles` },
  messages: {
    method: 'post',
    path: (app) => `/acme/${app}/messages/users`,
    body: { to: ['bob'], type: 'txt', body: { msg: 'hi' } },
  },
  groups: { method: 'get', path: (app) => `/acme/${app}/chatgroups` },
  chatrooms: { method: 'get', path: (app) => `/acme/${app}/chatrooms/42` },
};

const rates = { community: 10, enterprise: 30 } as const;

describe.each(expressVersions)('$name', ({ express }) => {
  describe('per-app, per-category rates', () => {
    for (const edition of ['community', 'enterprise'] as const) {
      for (const [category, route] of Object.entries(sample) as Array<[Category, (typeof sample)[Category]]>) {
        const perSecond = category === 'history' ? 1 : rates[edition];
        const refillMs = category === 'history' ? 60_000 : 1000;

        it(`${edition} ${category}: a burst of 3×${perSecond} admits ${perSecond}, other apps untouched, refills at the rate`, async () => {
          const { app, clock } = clockedApp({ express, edition });
          const server = await serving(app);
          const send = async (appName: string): Promise<number> => {
            const call = request(server)[route.method](route.path(appName));
            return (await (route.body ? call.send(route.body) : call)).status;
          };
          const burst = async (times: number, appName = 'chat'): Promise<number> => {
            let admitted = 0;
            for (let i = 0; i < times; i++) {
              const status = await send(appName);
              expect([200, 429]).toContain(status);
              if (status === 200) admitted++;
            }
            return admitted;
          };

          expect(await burst(3 * perSecond)).toBe(perSecond);
          expect(await burst(3 * perSecond, 'other')).toBe(perSecond);
          clock.advance(refillMs - 1);
          expect(await burst(perSecond)).toBe(perSecond - 1); // one token short of full
          clock.advance(1 + refillMs);
          expect(await burst(3 * perSecond)).toBe(perSecond);
          clock.advance(refillMs / perSecond); // one token's worth
          expect(await burst(3)).toBe(1);
        });
      }
    }
  });

  describe("responses: the IM error body and the rate headers (ARCHITECTURE.md → One request's path, step 12)", () => {
    beforeEach(() => {
      vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2026, 10, 28, 1, 0, 0) });
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('answers the 11th call of a second with the exact 429', async () => {
      const { app } = clockedApp({ express });
      for (let i = 0; i < 10; i++) {
        const ok = await request(app).get('/acme/chat/users/alice');
        expect(ok.status).toBe(200);
        expect(ok.headers['ratelimit-policy']).toBe('"users";q=10;w=1');
        expect(ok.headers.ratelimit).toBe(`"users";r=${9 - i};t=1`);
      }
      const refused = await request(app).get('/acme/chat/users/alice');
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['ratelimit-policy']).toBe('"users";q=10;w=1');
      expect(refused.headers.ratelimit).toBe('"users";r=0;t=1');
      expect(refused.text).toBe(
        '{"error":"reach_limit","exception":"ReachLimitException","timestamp":1795827600000,"duration":0,"error_description":"This request has reached api limit"}',
      );
    });

    it('lists both policies of a community send, and says 60 s for history', async () => {
      const { app } = clockedApp({ express });
      const sent = await request(app)
        .post('/acme/chat/messages/users')
        .send({ to: ['a', 'b'], type: 'txt', body: { msg: 'hi' } });
      expect(sent.headers['ratelimit-policy']).toBe('"messages";q=10;w=1, "messages-daily";q=20000;w=86400');
      expect(sent.headers.ratelimit).toBe('"messages";r=9;t=1, "messages-daily";r=19998;t=43200');
      await request(app).get('/acme/chat/chatmessages');
      const refused = await request(app).get('/acme/chat/chatmessages');
      expect(refused.status).toBe(429);
      expect(refused.headers['retry-after']).toBe('60');
      expect(refused.headers['ratelimit-policy']).toBe('"history";q=1;w=60');
    });

    it("writes X-RateLimit-* with headers: 'legacy', and none with headers: false", async () => {
      const legacy = clockedApp({ express, headers: 'legacy' }).app;
      const ok = await request(legacy).get('/acme/chat/users/alice');
      expect(ok.headers).toMatchObject({
        'x-ratelimit-limit': '10',
        'x-ratelimit-remaining': '9',
        'x-ratelimit-reset': '1',
      });
      expect(ok.headers.ratelimit).toBeUndefined();
      const none = clockedApp({ express, headers: false }).app;
      const bare = await request(none).get('/acme/chat/users/alice');
      expect(Object.keys(bare.headers).filter((name) => name.includes('ratelimit'))).toEqual([]);
    });

    it('lets routes outside the catalog through untouched', async () => {
      const { app } = clockedApp({ express });
      for (let i = 0; i < 30; i++) {
        const response = await request(app).post('/acme/chat/token').send({ grant_type: 'client_credentials' });
        expect(response.status).toBe(200);
        expect(response.headers.ratelimit).toBeUndefined();
      }
    });
  });
});

// The edition directory is the same whichever Express asks it: Express 5 only.
describe('editions', () => {
  it('switches an app at run time, without a restart', async () => {
    const { app, limiter, clock } = clockedApp();
    const admitted = async (n: number) => {
      let ok = 0;
      for (let i = 0; i < n; i++) if ((await request(app).get('/acme/chat/chatgroups')).status === 200) ok++;
      return ok;
    };
    expect(await admitted(12)).toBe(10);
    limiter.setEdition('acme#chat', 'enterprise');
    expect(limiter.rules('acme#chat').groups.ratePerSecond).toBe(30);
    // the time the app owes carries over: a full second of debt is a full bucket at any rate
    expect(await admitted(5)).toBe(0);
    clock.advance(1000);
    expect(await admitted(40)).toBe(30);
    limiter.setEdition('acme#chat', 'community');
    clock.advance(1000);
    expect(await admitted(40)).toBe(10);
  });

  it('asks a resolver once per app per cache period, sync or async', async () => {
    const asked: string[] = [];
    const { app } = clockedApp({
      edition: async (appKey) => {
        asked.push(appKey);
        return appKey === 'big#co' ? 'enterprise' : 'community';
      },
      editionCacheMs: 60_000,
    });
    const admitted = async (path: string, n: number) => {
      let ok = 0;
      for (let i = 0; i < n; i++) if ((await request(app).get(path)).status === 200) ok++;
      return ok;
    };
    expect(await admitted('/big/co/chatrooms', 40)).toBe(30);
    expect(await admitted('/small/co/chatrooms', 40)).toBe(10);
    expect(asked).toEqual(['big#co', 'small#co']);
  });

  it('falls back to the first edition, with a warning, when the resolver fails', async () => {
    const warnings: string[] = [];
    const { app } = clockedApp({
      edition: () => {
        throw new Error('billing is down');
      },
      logger: linesInto(warnings),
    });
    let ok = 0;
    for (let i = 0; i < 12; i++) if ((await request(app).get('/acme/chat/chatrooms')).status === 200) ok++;
    expect(ok).toBe(10);
    expect(warnings).toEqual([
      'im-rate-limit: WRN_RESOLVER_FAILED: the edition resolver failed for "acme#chat" (billing is down); using community',
    ]);
  });

  it('treats a resolver that hangs as failed after resolverTimeoutMs, and asks again later', async () => {
    const warnings: string[] = [];
    let asked = 0;
    const { app } = clockedApp({
      edition: () => {
        asked++;
        return new Promise<string>(() => {}); // never answers
      },
      resolverTimeoutMs: 50,
      logger: linesInto(warnings),
    });
    const response = await request(app).get('/acme/chat/chatrooms');
    expect(response.status).toBe(200);
    expect(response.headers['ratelimit-policy']).toBe('"chatrooms";q=10;w=1');
    expect(warnings).toEqual([
      'im-rate-limit: WRN_RESOLVER_FAILED: the edition resolver failed for "acme#chat" (it did not answer within 50 ms); using community',
    ]);
    expect(asked).toBe(1);
  });

  it('applies per-app overrides', async () => {
    const { app } = clockedApp({ overrides: { 'acme#chat': { groups: { ratePerSecond: 3 } } } });
    let ok = 0;
    for (let i = 0; i < 6; i++) if ((await request(app).get('/acme/chat/chatgroups')).status === 200) ok++;
    expect(ok).toBe(3);
    expect((await request(app).get('/acme/chat/chatgroups')).headers['ratelimit-policy']).toBe('"groups";q=3;w=1');
  });
});
