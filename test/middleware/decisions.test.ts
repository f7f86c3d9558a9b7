import type { Request, Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type DecisionEvent, imRateLimit, MemoryStore, type Options, type Refusal } from '../../src/index.js';
import { FakeClock, linesInto, STORE_TIMEOUT_MS } from '../helpers.js';
import { expressVersions } from '../support/express.js';
import { bothStores } from '../support/stores.js';

/** A send the community edition counts one push for. */
const send = { to: ['bob'], type: 'txt', body: { msg: 'hi' } };

const stores = bothStores();

describe.each(expressVersions)('$name', ({ express }) => {
  describe.each(stores)('decisions as operators see them (%s)', (_, setup) => {
    /** An IM server behind the limiter; every event and every `res.locals.rateLimit` is recorded. */
    const serve = (options: Options = {}) => {
      const under = setup();
      const events: DecisionEvent[] = [];
      const locals: unknown[] = [];
      const json = express.json();
      const server = express().use(
        imRateLimit({
          store: under.store,
          storeTimeoutMs: STORE_TIMEOUT_MS,
          bodyParser: json,
          onDecision: (event) => events.push(event),
          ...options,
        }),
        json,
        (_req: Request, res: Response) => {
          locals.push(res.locals.rateLimit);
          res.json({ ok: true });
        },
      );
      return { name: under.app, server, events, locals };
    };

    it('reports every classified request once: admitted, refused with its reason, and nothing for the rest', async () => {
      const { name, server, events, locals } = serve();
      for (let i = 0; i < 11; i++) await request(server).post(`/acme/${name}/messages/users`).send(send);
      await request(server)
        .post(`/acme/${name}/chatgroups/1/users`)
        .send({ usernames: Array.from({ length: 61 }, (_, i) => `u${i}`) });
      await request(server).post(`/acme/${name}/token`); // not limited: no event
      expect(events).toHaveLength(12);
      expect(events[0]).toEqual({
        appKey: `acme#${name}`,
        category: 'messages',
        edition: 'community',
        outcome: 'admitted',
        limit: 10,
        remaining: 9,
        retryAfterMs: 0,
        storeMs: expect.any(Number),
        degraded: false,
      });
      expect(events[10]).toMatchObject({ outcome: 'refused', reason: 'rate', limit: 10, remaining: 0 });
      expect(events[10]?.retryAfterMs).toBeGreaterThan(0);
      expect(events[11]).toMatchObject({ outcome: 'refused', reason: 'payload', category: 'groups' });
      expect(locals).toHaveLength(11); // ten sends and the token route
      expect(locals[0]).toEqual({
        appKey: `acme#${name}`,
        category: 'messages',
        edition: 'community',
        limit: 10,
        remaining: 9,
        resetMs: 100,
      });
      expect(locals[10]).toBeUndefined(); // the token route is not classified
    });

    it('in report mode decides and counts exactly as enforce does, and refuses nothing', async () => {
      const traffic = async (mode: Options['mode']) => {
        const { name, server, events } = serve({ mode });
        const statuses: number[] = [];
        for (let i = 0; i < 15; i++) statuses.push((await request(server).get(`/acme/${name}/chatgroups`)).status);
        for (let i = 0; i < 3; i++) {
          statuses.push((await request(server).post(`/acme/${name}/messages/users`).send({ to: 'x' })).status);
        }
        return { statuses, events };
      };
      const enforced = await traffic('enforce');
      const reported = await traffic('report');
      const count = (events: DecisionEvent[], outcome: DecisionEvent['outcome']) =>
        events.filter((event) => event.outcome === outcome).length;
      expect(count(enforced.events, 'refused')).toBe(8); // 5 over the rate, 3 payloads
      expect(count(reported.events, 'reported')).toBe(count(enforced.events, 'refused'));
      expect(count(reported.events, 'admitted')).toBe(count(enforced.events, 'admitted'));
      expect(reported.events.map((event) => event.reason)).toEqual(enforced.events.map((event) => event.reason));
      expect(reported.statuses).toEqual(reported.statuses.map(() => 200));
      expect(enforced.statuses.filter((status) => status !== 200)).toHaveLength(8);
    });

    it('lets a mode function report one app while enforcing another', async () => {
      const { name, server } = serve({ mode: (appKey) => (appKey.startsWith('trial') ? 'report' : 'enforce') });
      const statuses = async (org: string) => {
        const all: number[] = [];
        for (let i = 0; i < 12; i++) all.push((await request(server).get(`/${org}/${name}/chatgroups`)).status);
        return all.filter((status) => status === 429).length;
      };
      expect(await statuses('trial')).toBe(0);
      expect(await statuses('paid')).toBe(2);
    });
  });

  describe('the small controls', () => {
    const clockedStore = () => new MemoryStore({ clock: new FakeClock().now });

    it('skip: a request it returns true for is neither classified nor counted', async () => {
      const events: DecisionEvent[] = [];
      const limiter = imRateLimit({
        store: clockedStore(),
        skip: (req) => req.get('x-internal') === 'yes',
        onDecision: (event) => events.push(event),
      });
      const app = express().use(limiter, (_req, res) => res.json({ ok: true }));
      for (let i = 0; i < 20; i++) {
        expect((await request(app).get('/acme/chat/chatgroups').set('x-internal', 'yes')).status).toBe(200);
      }
      expect(events).toEqual([]);
      const counted = await request(app).get('/acme/chat/chatgroups');
      expect(counted.headers.ratelimit).toBe('"groups";r=9;t=1');
    });

    it('onRefused answers a refusal instead of the IM body, with everything the refusal carries', async () => {
      const refusals: Refusal[] = [];
      const limiter = imRateLimit({
        store: clockedStore(),
        onRefused: (_req, res, refusal) => {
          refusals.push(refusal);
          res.status(refusal.status).json({ custom: refusal.error });
        },
      });
      const app = express().use(limiter, (_req, res) => res.json({ ok: true }));
      for (let i = 0; i < 10; i++) await request(app).get('/acme/chat/chatgroups');
      const refused = await request(app).get('/acme/chat/chatgroups');
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ custom: 'reach_limit' });
      expect(refused.headers.ratelimit).toBe('"groups";r=0;t=1'); // rate headers are still the limiter's
      expect(refusals).toEqual([
        {
          status: 429,
          error: 'reach_limit',
          description: 'This request has reached api limit',
          reason: 'rate',
          retryAfterMs: 100,
        },
      ]);
    });

    it('an onRefused that rejects ends in next(err); an onDecision that throws is logged once and ignored', async () => {
      const warnings: string[] = [];
      const errors: unknown[] = [];
      const limiter = imRateLimit({
        store: clockedStore(),
        logger: linesInto(warnings),
        onDecision: () => {
          throw new Error('broken sink');
        },
        onRefused: async () => {
          throw new Error('broken answer');
        },
      });
      const app = express().use(limiter, (_req, res) => res.json({ ok: true }));
      app.use((error: Error, _req: Request, res: Response, _next: unknown) => {
        errors.push(error.message);
        res.status(500).end();
      });
      const statuses: number[] = [];
      for (let i = 0; i < 11; i++) statuses.push((await request(app).get('/acme/chat/chatgroups')).status);
      expect(statuses).toEqual([...Array(10).fill(200), 500]);
      expect(errors).toEqual(['broken answer']);
      expect(warnings).toEqual(['im-rate-limit: WRN_HOOK_THREW: onDecision threw (Error: broken sink); ignored']);
    });

    it('user hooks that reject, throw or answer a promise never break a request, and are logged once each', async () => {
      const warnings: string[] = [];
      const unhandled: unknown[] = [];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      process.on('unhandledRejection', onUnhandled);
      try {
        const limiter = imRateLimit({
          store: clockedStore(),
          logger: linesInto(warnings),
          onDecision: async () => {
            throw new Error('sink down');
          },
          skip: (async () => true) as unknown as (req: Request) => boolean, // a promise is not `true`: counted
          mode: () => {
            throw new Error('flags down');
          },
        });
        const app = express().use(limiter, (_req, res) => res.json({ ok: true }));
        const statuses: number[] = [];
        for (let i = 0; i < 12; i++) statuses.push((await request(app).get('/acme/chat/chatgroups')).status);
        await new Promise((resolve) => setImmediate(resolve)); // rejections are reported once the microtasks drain
        expect(statuses).toEqual([...Array(10).fill(200), 429, 429]); // enforced: the mode function failed
        expect(unhandled).toEqual([]);
        expect(warnings.sort()).toEqual([
          'im-rate-limit: WRN_HOOK_THREW: mode threw (Error: flags down); ignored',
          'im-rate-limit: WRN_HOOK_THREW: onDecision threw (Error: sink down); ignored',
        ]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
      }
    });
  });
});
