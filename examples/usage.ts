// The README's usage example: the region `usage` is the README's block, character for character
// (test/docs/snippets.test.ts); type-checked by `npm run typecheck` and run by test/examples.test.ts.
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

export async function createServer(store = new MemoryStore()) {
  // #region usage
  const limiter = imRateLimit({
    edition: 'community', // or 'enterprise', or (appKey, req) => edition (may be async; cached)
    store, // a MemoryStore by default; a RedisStore to share limits between processes
    overrides: { 'acme#chat': { messages: { ratePerSecond: 100 } } }, // a customer who bought 100/s
    headers: 'draft', // RateLimit-Policy + RateLimit (IETF draft 8); or 'draft-7', 'draft-6', 'legacy', false
    onStoreError: 'fallback', // per-process buckets while the store is down; 'allow' | 'deny' (503)
  });

  const app = express();
  // the admin endpoints (inspect, reset, edition, overrides): before the limiter, behind your authentication
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

  // class-based controllers: a TC39 method decorator (TypeScript 5+, no experimentalDecorators)
  class ChatRooms {
    @limiter.limit('chatrooms')
    list(_req: Request, res: Response) {
      res.json({ data: [] });
    }
  }
  const rooms = new ChatRooms();
  app.get('/v2/:org/:app/rooms', (req, res) => rooms.list(req, res));

  await limiter.setEdition('bigco#im', 'enterprise'); // run-time switch, no restart
  const enterprise = limiter.rules('bigco#im').messages.ratePerSecond; // 30: the effective limits of one app
  await limiter.setOverrides('bigco#im', { messages: { ratePerSecond: 50 } }); // every process, within editionCacheMs
  const state = await limiter.inspect('acme#chat'); // the app's buckets as they stand; limiter.reset(appKey) refills them
  // #endregion usage
  return { app, enterprise, overridden: limiter.rules('bigco#im').messages.ratePerSecond, state };
}
