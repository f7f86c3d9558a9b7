// The ways to mount the limiter that docs/mounting.md shows: type-checked by `npm run typecheck`,
// each run by test/examples.test.ts against a request of the catalog.
import express, { type Express, type Request, type Response, type Router } from 'express';
import { imRateLimit } from 'im-rate-limit';

// #region mount
/** The API at the root: /acme/chat/users. */
export const atTheRoot = (app: Express) => app.use(imRateLimit());

/** Under a prefix: the limiter classifies below its mount point, /api/acme/chat/users. */
export const underAPrefix = (app: Express) => app.use('/api', imRateLimit());

/** Inside a router the app mounts at /v1 (`app.use('/v1', router)`): the same. */
export const inARouter = (router: Router) => router.use(imRateLimit());

/** At the root, the API under /v1: `basePath` is taken off the full path. */
export const withABasePath = (app: Express) => app.use(imRateLimit({ basePath: '/v1' }));

/** Every version: a pattern matched at the path's start. */
export const everyVersion = (app: Express) => app.use(imRateLimit({ basePath: /^\/v\d+/ }));

/** Inside a router whose own mount path is part of the catalog's (`/:org/:app`): say where it begins. */
export const inAnAppRouter = (router: Router) => router.use(imRateLimit({ basePath: '/' }));
// #endregion

// #region body
/** Your JSON parser after the limiter: hand it the same parser, which it runs when a check needs the body. */
export function parserAfter(app: Express) {
  const json = express.json({ limit: '1mb' });
  app.use(imRateLimit({ bodyParser: json }), json);
}
// #endregion

// #region guards
export function guarded(app: Express) {
  const limiter = imRateLimit();
  app.use(limiter); // the catalog's routes

  // a route outside the catalog, held to the messages quota of the app its :org and :app name
  app.post('/custom/:org/:app/notify', limiter.guard('messages'), (_req, res) => {
    res.json({ ok: true });
  });

  // a route that names its app otherwise: say how
  const byTenant = limiter.guard('messages', { appKey: (req) => ({ org: 'hooks', app: String(req.params.tenant) }) });
  app.post('/hooks/:tenant/push', byTenant, (_req, res) => {
    res.json({ ok: true });
  });

  // class-based controllers: a TC39 method decorator (TypeScript 5+, no experimentalDecorators)
  class ChatRooms {
    @limiter.limit('chatrooms')
    list(_req: Request, res: Response) {
      res.json({ data: [] });
    }
  }
  const rooms = new ChatRooms();
  app.get('/v2/:org/:app/rooms', (req, res) => rooms.list(req, res));
}
// #endregion
