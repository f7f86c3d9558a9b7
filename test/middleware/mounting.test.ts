import express, { type Express, type RequestHandler } from 'express';
import fc from 'fast-check';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { routes } from '../../src/catalog.js';
import { ConfigError, imRateLimit, MemoryStore, type Options } from '../../src/index.js';
import { compileClassifier } from '../../src/middleware/classify-request.js';
import { concretePath, FakeClock, linesInto } from '../helpers.js';
import { expressVersions } from '../support/express.js';
import { dispatch, oracleApp } from '../support/express-oracle.js';

/** A limiter on a fake clock (community: a burst of 10 users calls), and the warnings it logged. */
function limiterWith(options: Options = {}) {
  const warnings: string[] = [];
  const limiter = imRateLimit({
    store: new MemoryStore({ clock: new FakeClock().now }),
    logger: linesInto(warnings),
    ...options,
  });
  return { limiter, warnings };
}

const ok: RequestHandler = (_req, res) => {
  res.json({ ok: true });
};

/** The statuses of `count` requests sent one after the other. */
async function burst(app: Express, path: string, count = 11): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) statuses.push((await request(app).get(path)).status);
  return statuses;
}

const tenThen429 = [...Array<number>(10).fill(200), 429];

describe('mounted anywhere', () => {
  it('under a mount path: app.use("/api", limiter) classifies below it', async () => {
    const { limiter } = limiterWith();
    const app = express();
    app.use('/api', limiter);
    app.get('/api/:org/:app/users', ok);
    expect(await burst(app, '/api/acme/chat/users')).toStrictEqual(tenThen429);
  });

  it('inside a router mounted under a version prefix', async () => {
    const { limiter } = limiterWith();
    const api = express.Router();
    api.use(limiter);
    api.get('/:org/:app/users', ok);
    const app = express().use('/v1', api);
    expect(await burst(app, '/v1/acme/chat/users')).toStrictEqual(tenThen429);
  });

  it('on a wildcard that takes the whole path (NestJS forRoutes("*")): req.url is "/", the full path is classified', async () => {
    const { limiter } = limiterWith();
    const app = express();
    app.use('/{*path}', limiter);
    app.get('/:org/:app/users', ok);
    expect(await burst(app, '/acme/chat/users')).toStrictEqual(tenThen429);
  });

  it('at the root with basePath: the prefix is taken off the full path, payload checks included', async () => {
    const { limiter } = limiterWith({ basePath: '/v1', bodyParser: express.json() });
    const app = express().use(limiter);
    app.get('/v1/:org/:app/users', ok);
    app.post('/v1/:org/:app/messages/users', ok);
    expect(await burst(app, '/v1/acme/chat/users')).toStrictEqual(tenThen429);
    const big = await request(app)
      .post('/v1/acme/chat/messages/users')
      .send({ to: ['bob'], type: 'txt', body: { msg: 'x'.repeat(5000) } });
    expect(big.status).toBe(400);
    expect(big.body.error_description).toMatch(/4096/);
  });

  it('basePath is matched as Express matches a mount path: whole segments, any ASCII case', async () => {
    const { limiter } = limiterWith({ basePath: '/v1/' });
    const app = express().use(limiter, ok);
    expect(await burst(app, '/V1/acme/chat/users')).toStrictEqual(tenThen429);
    // other prefixes are not the API's: never classified, never counted
    expect(await burst(app, '/v1x/acme/chat/users', 12)).toStrictEqual(Array(12).fill(200));
    expect(await burst(app, '/acme/chat/users', 12)).toStrictEqual(Array(12).fill(200));
  });

  it('a RegExp basePath matches at the start of the path, for every version', async () => {
    const { limiter } = limiterWith({ basePath: /^\/v\d+/ });
    const app = express().use(limiter, ok);
    expect(await burst(app, '/v1/acme/chat/users', 5)).toStrictEqual(Array(5).fill(200));
    expect(await burst(app, '/v2/acme/chat/users', 6)).toStrictEqual([200, 200, 200, 200, 200, 429]); // one app's bucket
    expect(await burst(app, '/x/v1/acme/chat/users', 12)).toStrictEqual(Array(12).fill(200));
  });

  it('a global RegExp keeps no state between requests', async () => {
    const { limiter } = limiterWith({ basePath: /\/api/g });
    const app = express().use(limiter, ok);
    expect(await burst(app, '/api/acme/chat/users')).toStrictEqual(tenThen429);
  });

  describe.each(expressVersions)('$name', ({ express }) => {
    const withLimiter = (options: Options, mount: (app: Express, limiter: RequestHandler) => void) => {
      const { limiter } = limiterWith(options);
      const app = express();
      mount(app, limiter);
      return app;
    };

    it('a router at /v1 and basePath "/v1": a doubled slash after the prefix is counted (Express 4 routes it)', async () => {
      const app = withLimiter({ basePath: '/v1' }, (app, limiter) => {
        const api = express.Router();
        api.get('/:org/:app/users', ok);
        app.use(limiter).use('/v1', api);
      });
      await burst(app, '/v1//acme/chat/users', 3); // 200 on Express 4, 404 on Express 5: counted on both
      expect(await burst(app, '/v1/acme/chat/users', 8)).toStrictEqual([200, 200, 200, 200, 200, 200, 200, 429]);
    });

    it('a RegExp basePath matches without case, as Express routes', async () => {
      const app = withLimiter({ basePath: /^\/v\d+/ }, (app, limiter) => app.use(limiter, ok));
      expect(await burst(app, '/V1/acme/chat/users')).toStrictEqual(tenThen429);
    });

    it('a rewrite of req.url before the limiter is what it classifies, as Express routes it', async () => {
      const app = withLimiter({ basePath: '/v1' }, (app, limiter) => {
        app.use((req, _res, next) => {
          req.url = req.url.replace(/^\/legacy\//, '/v1/').replace(/\/{2,}/g, '/');
          next();
        });
        app.use(limiter);
        app.get('/v1/:org/:app/users', ok);
      });
      const paths = ['/legacy/acme/chat/users', '//v1/acme//chat/users'];
      expect(await burst(app, paths[0] as string, 6)).toStrictEqual(Array(6).fill(200));
      expect(await burst(app, paths[1] as string, 5)).toStrictEqual([200, 200, 200, 200, 429]);
    });

    it('a router mounted at /:org/:app with the limiter inside it, told basePath "/": the whole path', async () => {
      const app = withLimiter({ basePath: '/' }, (app, limiter) => {
        const perApp = express.Router({ mergeParams: true });
        perApp.use(limiter);
        perApp.get('/users', ok);
        app.use('/:org/:app', perApp);
      });
      expect(await burst(app, '/acme/chat/users')).toStrictEqual(tenThen429);
      // its tail is no other app's route: /chatgroups/G/users is not app chatgroups#G's users
      const groups = await burst(app, '/acme/chat/chatgroups/g1/users', 11);
      expect(groups).toStrictEqual([...Array<number>(10).fill(404), 429]); // the groups bucket of acme#chat
    });
  });

  it('warns of an API under a prefix it was not told, naming the prefix', async () => {
    const { limiter, warnings } = limiterWith();
    const app = express().use(limiter, ok);
    await burst(app, '/v2/acme/chat/users', 100);
    expect(warnings).toStrictEqual([
      'im-rate-limit: WRN_NOTHING_CLASSIFIED: 100 requests reached the limiter and none was a route of the IM ' +
        'REST catalog (/{org}/{app}/…); it saw "/v2/acme/chat/users". Below "/v2" they are catalog routes: ' +
        'give that prefix as the basePath option (docs/mounting.md → Mount points and basePath)',
    ]);
  });

  it.each<[unknown, string]>([
    ['v1', 'a leading slash'],
    ['/v1?x', 'a query'],
    ['/v1#x', 'a fragment'],
    ['/v1//x', 'an empty segment'],
    ['/vé', 'non-ASCII'],
    [42, 'a number'],
  ])('refuses basePath %j (%s) at start-up, naming the option', (basePath) => {
    expect(() => imRateLimit({ basePath } as Options)).toThrow(
      new ConfigError(
        'ERR_INVALID_OPTION',
        'basePath',
        "must be a path prefix such as '/v1' (ASCII, from a leading slash, no ? or #) or a RegExp",
      ),
    );
  });
});

describe('basePath agrees with Express 4 and 5 mounting the catalog under it', () => {
  const classify = compileClassifier(routes, { basePath: '/v1' });
  const oracles = expressVersions.map(({ express }) => express().use('/v1', oracleApp(routes, express)));
  const target = fc
    .record({
      prefix: fc.constantFrom(
        '/v1',
        '/V1',
        '/v1/',
        '/v1//',
        '',
        '/v1x',
        '/v',
        '/api/v1',
        '/v1%2F',
        '/%761',
        'http://x/v1',
      ),
      route: fc.constantFrom(...routes),
      upper: fc.boolean(),
      tail: fc.constantFrom('', '/', '?a=1', '#x', '//'),
    })
    .map(({ prefix, route, upper, tail }) => {
      const path = concretePath(`/{org}/{app}/${route.path}`);
      return { method: route.method, target: prefix + (upper ? path.toUpperCase() : path) + tail };
    });

  // Where the versions differ (Express 4 takes one slash after the mount path with it), the limiter
  // counts what either version routes: counting a request the other answers 404 is the safe side.
  it('routes what Express routes, with the same params', async () => {
    await fc.assert(
      fc.asyncProperty(target, async ({ method, target }) => {
        const dispatched = await Promise.all(oracles.map((oracle) => dispatch(oracle, method, target)));
        const routed = dispatched.find((d) => !('none' in d));
        const expected =
          routed === undefined || 'none' in routed || categoryOf(routed.method, routed.path) == null
            ? undefined
            : { path: routed.path, params: { ...routed.params } };
        const match = classify(method, target);
        const { org, app, ...params } = match?.params ?? {};
        expect(
          match && { path: match.route.path, params: { org: match.org, app: match.app, ...params } },
          `${method} ${target}`,
        ).toStrictEqual(expected);
      }),
      { numRuns: 500 },
    );
  });
});

const categoryOf = (method: string, path: string) =>
  routes.find((r) => r.method === method && r.path === path)?.category;
