import type { ErrorRequestHandler, Express, NextFunction, Request, Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { imRateLimit, MemoryStore } from '../../src/index.js';
import { FakeClock } from '../helpers.js';
import { expressVersions } from '../support/express.js';

const admitted = async (call: () => request.Test, times: number): Promise<number> => {
  let ok = 0;
  for (let i = 0; i < times; i++) {
    const { status } = await call();
    expect([200, 429]).toContain(status);
    if (status === 200) ok++;
  }
  return ok;
};

describe.each(expressVersions)('$name', ({ express }) => {
  describe('limiter.guard', () => {
    it('limits a route outside the catalog as its category, per app from the route params', async () => {
      const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
      const app = express();
      app.post('/custom/:org/:app/notify', limiter.guard('messages'), (_req, res) => {
        res.json({ ok: true });
      });
      expect(await admitted(() => request(app).post('/custom/acme/chat/notify'), 15)).toBe(10);
      expect(await admitted(() => request(app).post('/custom/acme/other/notify'), 15)).toBe(10);
      const refused = await request(app).post('/custom/acme/chat/notify');
      expect(refused.headers['ratelimit-policy']).toBe('"messages";q=10;w=1');
    });

    it('shares the bucket of the category with the catalog routes, and counts a request once', async () => {
      const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
      const app = express();
      app.use(express.json(), limiter);
      // a catalog route that also carries a guard: app.use(limiter) counted it already
      app.get('/:org/:app/chatgroups', limiter.guard('groups'), (_req, res) => {
        res.json({ ok: true });
      });
      app.get('/:org/:app/custom-groups', limiter.guard('groups'), (_req, res) => {
        res.json({ ok: true });
      });
      expect(await admitted(() => request(app).get('/acme/chat/chatgroups'), 6)).toBe(6);
      expect(await admitted(() => request(app).get('/acme/chat/custom-groups'), 6)).toBe(4);
    });

    it('takes the app from an appKey function', async () => {
      const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
      const app = express();
      const byHeader = (req: Request) => ({ org: 'tenant', app: String(req.headers['x-app']) });
      app.get('/files', limiter.guard('files', { appKey: byHeader }), (_req, res) => {
        res.json({ ok: true });
      });
      expect(await admitted(() => request(app).get('/files').set('x-app', 'one'), 12)).toBe(10);
      expect(await admitted(() => request(app).get('/files').set('x-app', 'two'), 12)).toBe(10);
    });
  });

  describe('a guard on a route without :org and :app', () => {
    /** An app whose error handler answers with the error that reached it. */
    const hooks = (guard: (req: Request, res: Response, next: NextFunction) => void) => {
      const app = express();
      let handled = 0;
      const handler = (_req: Request, res: Response) => {
        handled++;
        res.json({ ok: true });
      };
      app.post('/hooks/:tenant/push', guard, handler);
      app.post('/hooks/push/:id', guard, handler);
      app.use(((error, _req, res, _next) => {
        res.status(500).json({ name: error.name, code: error.code, message: error.message });
      }) satisfies ErrorRequestHandler);
      return { app, handled: () => handled };
    };

    it('does not guess the app from the path: a ConfigError that says to give appKey, nothing counted', async () => {
      const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
      const { app, handled } = hooks(limiter.guard('messages'));
      for (const [path, route] of [
        ['/hooks/tenant1/push', '/hooks/:tenant/push'],
        ['/hooks/push/42', '/hooks/push/:id'],
      ] as const) {
        const response = await request(app).post(path);
        expect(response.status).toBe(500);
        expect(response.body).toEqual({
          name: 'ConfigError',
          code: 'ERR_INVALID_OPTION',
          message:
            `guard('messages'): the route ${route} has no :org and :app parameters to name the app: ` +
            "give guard('messages', { appKey: (req) => ({ org, app }) })",
        });
      }
      expect(handled()).toBe(0);
      // nothing was counted under a guessed app: the catalog's hooks#tenant1 has its 10
      const catalog = express().use(limiter, (_req, res) => {
        res.json({ ok: true });
      });
      expect(await admitted(() => request(catalog).get('/hooks/tenant1/users'), 12)).toBe(10);
    });

    it('refuses an appKey that answers an empty org or app: every tenant would share the bucket `#`', async () => {
      const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
      const { app, handled } = hooks(limiter.guard('messages', { appKey: () => ({ org: '', app: '' }) }));
      const response = await request(app).post('/hooks/tenant1/push');
      expect(response.status).toBe(500);
      expect(response.body).toEqual({
        name: 'ConfigError',
        code: 'ERR_INVALID_OPTION',
        message:
          "guard('messages'): the route /hooks/:tenant/push names no org or app for it: " +
          "give guard('messages', { appKey: (req) => ({ org, app }) })",
      });
      expect(handled()).toBe(0);
    });

    it('keys each tenant on its own bucket with appKey', async () => {
      const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
      const appKey = (req: Request) => ({ org: 'hooks', app: String(req.params.tenant ?? req.params.id) });
      const { app, handled } = hooks(limiter.guard('messages', { appKey }));
      expect(await admitted(() => request(app).post('/hooks/tenant1/push'), 12)).toBe(10);
      expect(await admitted(() => request(app).post('/hooks/tenant2/push'), 12)).toBe(10);
      expect(await admitted(() => request(app).post('/hooks/push/tenant3'), 12)).toBe(10);
      expect(handled()).toBe(30);
    });

    it('refuses an appKey that is not a function when the guard is made', () => {
      const limiter = imRateLimit();
      expect(() => limiter.guard('messages', { appKey: 'hooks#tenant1' } as never)).toThrow(
        expect.objectContaining({
          name: 'ConfigError',
          path: 'guard.appKey',
          message: 'guard.appKey: must be a function (req) => { org, app }',
        }),
      );
    });
  });

  describe('@limiter.limit (TC39 method decorator)', () => {
    const limiter = imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }) });
    let calls = 0;

    class MessagesController {
      greeting = 'sent';

      @limiter.limit('messages')
      async send(_req: Request, res: Response) {
        calls++;
        res.json({ result: this.greeting });
        return 'returned';
      }
    }

    it('runs the method only when admitted, with its this and its return value', async () => {
      const controller = new MessagesController();
      const app = express();
      const results: unknown[] = [];
      app.post('/api/:org/:app/send', async (req, res) => {
        results.push(await controller.send(req, res));
      });
      expect(await admitted(() => request(app).post('/api/acme/chat/send'), 12)).toBe(10);
      expect(calls).toBe(10);
      const ok = await request(app).post('/api/acme/other/send');
      expect(ok.body).toEqual({ result: 'sent' });
      expect(results.filter((r) => r === 'returned')).toHaveLength(11);
    });
  });

  // Express 4's router ignores the promise a handler returns: a failure the limiter left in a rejected
  // promise would never be answered there. Each must reach the app's error handler on both.
  describe('failures reach the error handler through next(err)', () => {
    const fresh = () =>
      imRateLimit({ store: new MemoryStore({ clock: new FakeClock().now }), bodyParser: express.json() });
    /** An app with `route` mounted and an error handler that answers with what reached it. */
    const withErrorHandler = (route: (app: Express) => void): Express => {
      const app = express();
      route(app);
      app.use(((error, _req, res, _next) => {
        res.status(error.status ?? 500).json({ failed: error.type ?? error.message });
      }) satisfies ErrorRequestHandler);
      return app;
    };
    /** A users POST, whose user IDs the guard reads from the body: JSON cut short. */
    const malformed = (app: Express, path: string) =>
      request(app).post(path).set('Content-Type', 'application/json').send('{"username":');

    it("guard: the parser's refusal of a body it runs", async () => {
      const limiter = fresh();
      const app = withErrorHandler((app) => {
        app.post('/custom/:org/:app/users', limiter.guard('users'), (_req, res) => {
          res.json({ ok: true });
        });
      });
      const response = await malformed(app, '/custom/acme/chat/users');
      expect({ status: response.status, body: response.body }).toEqual({
        status: 400,
        body: { failed: 'entity.parse.failed' },
      });
    });

    it('guard: an appKey function that throws', async () => {
      const limiter = fresh();
      const app = withErrorHandler((app) => {
        const appKey = (): never => {
          throw new Error('no tenant header');
        };
        app.get('/files', limiter.guard('files', { appKey }), (_req, res) => {
          res.json({ ok: true });
        });
      });
      const response = await request(app).get('/files');
      expect({ status: response.status, body: response.body }).toEqual({
        status: 500,
        body: { failed: 'no tenant header' },
      });
    });

    it("decorator, mounted as the route's handler: the parser's refusal", async () => {
      const limiter = fresh();
      let calls = 0;
      class Users {
        @limiter.limit('users')
        register(_req: Request, res: Response, _next?: NextFunction) {
          calls++;
          res.json({ ok: true });
        }
      }
      const users = new Users();
      const app = withErrorHandler((app) => {
        app.post('/api/:org/:app/users', (req, res, next) => users.register(req, res, next));
      });
      const response = await malformed(app, '/api/acme/chat/users');
      expect({ status: response.status, body: response.body }).toEqual({
        status: 400,
        body: { failed: 'entity.parse.failed' },
      });
      const ok = await request(app).post('/api/acme/chat/users').send({ username: 'alice' });
      expect(ok.status).toBe(200);
      expect(calls).toBe(1);
    });
  });
});
