// A fuller example of the API in one app (docs/ links to it): type-checked by `npm run typecheck`, run by test/examples.test.ts.
import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Request, type RequestHandler, type Response } from 'express';
import { imRateLimit, MemoryStore } from 'im-rate-limit';

/** Operators only: `Authorization: Bearer <token>`, compared in constant time; nobody without a token. */
function operatorsOnly(token: string | undefined): RequestHandler {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  const expected = token ? digest(`Bearer ${token}`) : undefined;
  return (req, res, next) => {
    if (expected !== undefined && timingSafeEqual(digest(req.get('authorization') ?? ''), expected)) next();
    else res.sendStatus(401);
  };
}

export function createServer(store = new MemoryStore()) {
  const limiter = imRateLimit({
    edition: 'community', // or 'enterprise', or (appKey, req) => edition (may be async; cached)
    store, // default: a MemoryStore; a RedisStore to share limits between processes
    overrides: { 'acme#chat': { messages: { ratePerSecond: 100 } } }, // a customer who bought 100/s
    headers: 'draft', // RateLimit-Policy + RateLimit (IETF draft 8); or 'draft-7', 'draft-6', 'legacy', false
    onStoreError: 'fallback', // per-process buckets while the store is down; 'allow' | 'deny' (503)
  });

  const app = express();
  // the admin endpoints (inspect, reset, edition, overrides), before the limiter and behind your authentication
  app.use('/admin', operatorsOnly(process.env.ADMIN_TOKEN), limiter.admin());
  app.use(express.json());
  app.use(limiter); // every route of the IM REST catalog, classified and limited

  app.post('/:org/:app/messages/users', (req, res) => {
    res.json({ data: Object.fromEntries((req.body.to as string[]).map((user) => [user, 'sent'])) });
  });

  // a route outside the catalog, held to the messages quota of its app
  app.post('/custom/:org/:app/notify', limiter.guard('messages'), (_req, res) => {
    res.json({ ok: true });
  });

  // class-based controllers: a TC39 method decorator
  class ChatRooms {
    @limiter.limit('chatrooms')
    list(_req: Request, res: Response) {
      res.json({ data: [] });
    }
  }
  const rooms = new ChatRooms();
  app.get('/v2/:org/:app/rooms', (req, res) => rooms.list(req, res));

  // run-time edition switch, no restart; and the effective limits of one app
  limiter.setEdition('bigco#im', 'enterprise');
  console.assert(limiter.rules('bigco#im').messages.ratePerSecond === 30);
  // run-time overrides, seen by every process sharing the store within editionCacheMs; undefined removes them
  void limiter.setOverrides('bigco#im', { messages: { ratePerSecond: 50 } });
  console.assert(limiter.rules('bigco#im').messages.ratePerSecond === 50);
  // an app's buckets as they stand, nothing taken; and refilled
  void limiter.inspect('acme#chat').then((state) => console.assert(state.categories.messages.limit === 100));
  void limiter.reset('acme#chat', 'messages');

  return app;
}
