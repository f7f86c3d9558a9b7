import type { ErrorRequestHandler, Express, Request, Response } from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { ImRateLimitError, imRateLimit, MemoryStore } from '../../src/index.js';
import type { Store } from '../../src/store/index.js';
import { FakeClock } from '../helpers.js';
import { expressVersions } from '../support/express.js';

// TC39 decorators (this project's default): what @limiter.limit is applied to other than a method.

describe('@limiter.limit misused (TC39)', () => {
  const limiter = imRateLimit();
  const message = (what: string) =>
    new ImRateLimitError(
      'ERR_INVALID_DECORATOR',
      'im-rate-limit: @limiter.limit("files") decorates a class method that is an Express handler ' +
        `(req, res, next?); it was applied to ${what}`,
    );
  const decorate = limiter.limit('files') as unknown as (...args: unknown[]) => unknown;

  it('on a getter', () => {
    expect(() => {
      class Controller {
        // @ts-expect-error: a getter is no handler, and the types say so
        @limiter.limit('files')
        get count() {
          return 1;
        }
      }
      return Controller;
    }).toThrow(message('a getter'));
  });

  it('on a class, a field or an accessor', () => {
    expect(() => decorate(class {}, { kind: 'class', name: 'C' })).toThrow(message('a class'));
    expect(() => decorate(undefined, { kind: 'field', name: 'f' })).toThrow(message('a field'));
    expect(() => decorate({}, { kind: 'accessor', name: 'a' })).toThrow(message('an accessor'));
  });

  it('on a method, with a handler of any arity', async () => {
    class Controller {
      @limiter.limit('files')
      download(_req: Request, _res: Response) {
        return 'ran';
      }
    }
    expect(typeof new Controller().download).toBe('function');
  });
});

describe.each(expressVersions)('@limiter.limit failures reach the error handler ($name)', ({ express }) => {
  /** A MemoryStore that answers through a promise, as every shared store does. */
  const asyncStore = (): Store => {
    const memory = new MemoryStore({ clock: new FakeClock().now });
    return { take: async (checks) => memory.take(checks) };
  };
  const appOf = (handler: (req: Request, res: Response) => unknown): Express => {
    const app = express();
    app.get('/:org/:app/x', (req, res) => handler(req, res)); // called without next, as controllers are
    app.use(((error, _req, res, _next) => {
      res.status(500).json({ failed: String(error.message ?? error) });
    }) satisfies ErrorRequestHandler);
    return app;
  };

  it("the method's own throw, after the guard waited for the store", async () => {
    const limiter = imRateLimit({ store: asyncStore() });
    class Controller {
      @limiter.limit('files')
      parse(req: Request, res: Response) {
        res.json(JSON.parse(String(req.query.q)));
      }
    }
    const controller = new Controller();
    const app = appOf((req, res) => controller.parse(req, res));
    const bad = await request(app).get('/acme/chat/x?q={');
    expect(bad.status).toBe(500);
    expect(bad.body.failed).toMatch(/JSON/);
    expect((await request(app).get('/acme/chat/x?q=1')).body).toBe(1);
  });

  it('an onRefused that rejects, after the guard was done', async () => {
    const limiter = imRateLimit({
      store: asyncStore(),
      onRefused: async () => {
        throw new Error('no answer for you');
      },
    });
    class Controller {
      @limiter.limit('files')
      list(_req: Request, res: Response) {
        res.json({ ok: true });
      }
    }
    const controller = new Controller();
    const app = appOf((req, res) => controller.list(req, res));
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await request(app).get('/acme/chat/x')).status);
    expect(statuses).toStrictEqual([...Array<number>(10).fill(200), 500, 500]);
  });
});
