// One benchmark server per process, so its own CPU time can be read from /proc/<pid>/stat.
// Usage: node bench/server.mjs <variant> <admitted|refused> <redisPort>
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { imRateLimit, MemoryStore, RedisStore } from 'im-rate-limit';
import { Redis } from 'ioredis';
import { RedisStore as RateLimitRedisStore } from 'rate-limit-redis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';

const [variant, mode, redisPort] = process.argv.slice(2);
/** Calls per second per app: so high nothing is refused (the table's largest rate), or 10 as in the community edition. */
const LIMIT = mode === 'admitted' ? 1_000_000 : 10;
const redis = () => new Redis({ port: Number(redisPort), host: '127.0.0.1' });

// What every limiter answers, so that only the limiting differs between them.
const appKeyOf = (req) => {
  const [, org, app] = req.path.split('/');
  return `${org}#${app}`;
};
const refuse = (res, msBeforeNext) => {
  res.set('Retry-After', String(Math.max(1, Math.ceil(msBeforeNext / 1000))));
  res.status(429).json({
    error: 'reach_limit',
    exception: 'ReachLimitException',
    timestamp: Date.now(),
    duration: 0,
    error_description: 'This request has reached api limit',
  });
};

/** A small middleware around a rate-limiter-flexible limiter, as its README suggests. */
const flexible = (limiter) => (req, res, next) => {
  const policy = `"users";q=${LIMIT};w=1`;
  limiter.consume(appKeyOf(req)).then(
    (r) => {
      res.set({
        'RateLimit-Policy': policy,
        RateLimit: `"users";r=${r.remainingPoints};t=${Math.ceil(r.msBeforeNext / 1000)}`,
      });
      next();
    },
    (r) => {
      if (r instanceof Error) return next(r);
      res.set({ 'RateLimit-Policy': policy, RateLimit: `"users";r=0;t=${Math.ceil(r.msBeforeNext / 1000)}` });
      refuse(res, r.msBeforeNext);
    },
  );
};

const expressRateLimit = (store) =>
  rateLimit({
    windowMs: 1000,
    limit: LIMIT,
    keyGenerator: appKeyOf,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    validate: false,
    handler: (req, res) => refuse(res, req.rateLimit.resetTime ? req.rateLimit.resetTime.getTime() - Date.now() : 1000),
    ...(store ? { store } : {}),
  });

/** BENCH_IMRL_OPTIONS: more options for im-rate-limit, as JSON (to measure what one of them costs). */
const extra = JSON.parse(process.env.BENCH_IMRL_OPTIONS ?? '{}');
const imrl = (store) =>
  imRateLimit({
    edition: 'enterprise',
    store,
    overrides: { 'acme#chat': { users: { ratePerSecond: LIMIT } } },
    ...extra,
  });

const limiters = {
  express: () => undefined,
  'im-rate-limit memory': () => imrl(new MemoryStore()),
  'im-rate-limit redis': () => imrl(new RedisStore({ client: redis() })),
  'express-rate-limit memory': () => expressRateLimit(),
  'express-rate-limit redis': () => {
    const client = redis();
    return expressRateLimit(
      new RateLimitRedisStore({ sendCommand: (command, ...args) => client.call(command, ...args) }),
    );
  },
  'rate-limiter-flexible memory': () => flexible(new RateLimiterMemory({ points: LIMIT, duration: 1 })),
  'rate-limiter-flexible redis': () =>
    flexible(new RateLimiterRedis({ storeClient: redis(), points: LIMIT, duration: 1 })),
};

const app = express();
app.disable('x-powered-by');
app.use(express.json());
const limiter = limiters[variant]?.();
if (limiter) app.use(limiter);
app.get('/:org/:app/users', (_req, res) => {
  res.json({ entities: [{ username: 'alice' }], count: 1 });
});
const server = app.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
// under valgrind (bench/socket.mjs) a connection can wait longer than Node's 5 s for its next turn
if (process.env.BENCH_KEEP_ALIVE_MS) server.keepAliveTimeout = Number(process.env.BENCH_KEEP_ALIVE_MS);
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0)); // lets --cpu-prof write its profile
