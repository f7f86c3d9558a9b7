// The README's usage example, type-checked by `npm run typecheck` and run by test/examples.test.ts.
import express, { type Request, type Response } from 'express';
import { imRateLimit, MemoryStore } from 'im-rate-limit';

export function createServer(store = new MemoryStore()) {
  const limiter = imRateLimit({
    edition: 'community', // or 'enterprise', or (appKey, req) => edition (may be async; cached)
    store, // default: a MemoryStore; a RedisStore to share limits between processes
    overrides: { 'acme#chat': { messages: { ratePerSecond: 100 } } }, // a customer who bought 100/s
    headers: 'draft', // RateLimit-Policy + RateLimit; 'legacy' for X-RateLimit-*; false for none
    onStoreError: 'fallback', // per-process buckets while the store is down; 'allow' | 'deny' (503)
  });

  const app = express();
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

  return app;
}
