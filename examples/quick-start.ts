// Quick start: an Express app whose IM REST routes share their limits through Redis.
import express from 'express';
import { imRateLimit, RedisStore } from 'im-rate-limit';
import { Redis } from 'ioredis';

const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
redis.on('error', () => {}); // the limiter logs an outage once; without a handler ioredis prints every retry

const app = express();
app.use(express.json()); // before the limiter: a send is limited by the recipients in its body
app.use(imRateLimit({ edition: 'community', store: new RedisStore({ client: redis }) }));

// your IM REST API: /{org}/{app}/…
app.post('/:org/:app/messages/users', (req, res) => {
  const to: string[] = req.body?.to ?? []; // none without a body (Express 5: req.body undefined) or `to`
  res.json({ data: Object.fromEntries(to.map((user) => [user, 'success'])) });
});

const port = Number(process.env.PORT ?? 3000);
// loopback only: put it behind your own proxy before opening it to a network
export const server = app.listen(port, '127.0.0.1', () => console.log(`IM API on http://127.0.0.1:${port}`));
server.on('close', () => redis.quit());
