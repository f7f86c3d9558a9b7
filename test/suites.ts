/**
 * Which test files are integration tests: they need a real redis-server, Redis Cluster or Sentinel,
 * another process, or the built package. Every other `*.test.ts` is a unit test: in-process, no
 * server but the loopback HTTP servers its Express apps listen on, done in seconds.
 * `test/suites.test.ts` checks that no unit test reaches for a server.
 */
export const integrationTests: readonly string[] = [
  'test/docs/commands.test.ts', // runs the documentation's <!-- run --> shell blocks
  'test/examples-redis.test.ts', // the README's quick start and docs/redis.md's examples, on real Redis
  'test/limiter/*.test.ts', // every limiter test runs on both stores, the RedisStore included
  'test/membership/caps.test.ts',
  'test/membership/dissolve-large.test.ts',
  'test/membership/late-reply.test.ts',
  'test/membership/ledgers.test.ts',
  'test/membership/settle.test.ts',
  'test/membership/source-failure.test.ts',
  'test/middleware/admin.test.ts',
  'test/middleware/decisions.test.ts',
  'test/middleware/redis.test.ts',
  'test/middleware/request-target.test.ts',
  'test/middleware/throttle.test.ts', // 1 MiB paced at 500 KiB/s, and a download client in another process
  'test/nestjs/guard.test.ts',
  'test/package/*.test.ts', // npm pack, npm install and tsc, on the built package
  'test/store/cross-process.test.ts',
  'test/store/eviction-check.test.ts',
  'test/store/failover-*.test.ts',
  'test/store/rate-limiter-flexible-store.test.ts',
  'test/store/redis-*.test.ts',
  'test/store/replica-down.test.ts',
  'test/store/replicas.test.ts',
  'test/store/slot.test.ts',
  'test/store/window-skew.test.ts',
];
