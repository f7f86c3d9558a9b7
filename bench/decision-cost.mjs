// This process's cost of one decision through the whole middleware, on one store and one kind of request,
// with growth.mjs's harness (64 requests in flight on one ioredis connection, no auto-pipelining).
// Made to be run under callgrind, where time means nothing and instructions are what counts:
//   npm run build
//   node bench/decision-cost.mjs --store redis --route users --requests 20000     (CPU µs/decision, Redis calls)
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p node bench/decision-cost.mjs --requests 4000
//   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p node bench/decision-cost.mjs --requests 8000
// The instructions of one decision are the difference between the two runs over 4,000: start-up, the
// servers' start and the warm-up cancel out. --store: memory, redis or cluster (a server, or a 3-master
// Cluster, of its own on a free loopback port, stopped at the end); --route: users, send or download;
// --store-only: the store's take alone, no middleware (see takeDirectly).
import { Cluster, Redis } from 'ioredis';
import { MemoryStore, RedisStore } from '../dist/index.js';
import { admittingLimiter, CONCURRENCY, drive, routes } from './drive.mjs';
import { startCluster, startRedis } from './redis.mjs';

const option = (name, fallback) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1];
};
const storeKind = option('store', 'redis');
const route = routes[option('route', 'users')];
const requests = Number(option('requests', '20000'));
const APPS = 1_000;
const WARM_UP = Number(option('warm-up', '5000'));

const servers = storeKind === 'memory' ? [] : storeKind === 'cluster' ? await startCluster() : [await startRedis()];
const client =
  storeKind === 'cluster'
    ? new Cluster(servers.map((server) => ({ host: '127.0.0.1', port: server.port })))
    : storeKind === 'redis'
      ? new Redis({ port: servers[0].port, host: '127.0.0.1' })
      : undefined;
if (client instanceof Cluster) await new Promise((resolve) => client.once('ready', resolve));
const admins = servers.map((server) => new Redis({ port: server.port, host: '127.0.0.1' }));
const scriptCalls = async () => {
  let calls = 0;
  for (const admin of admins) {
    for (const [, command, count] of (await admin.info('commandstats')).matchAll(/cmdstat_(\w+):calls=(\d+)/g)) {
      if (command === 'evalsha' || command === 'eval') calls += Number(count);
    }
  }
  return calls;
};
/**
 * --store-only: the store alone, `store.take` of one app bucket (a plain call's check) by `concurrency`
 * callers, each taking again once answered: what the store adds, without the middleware.
 */
const STORE_ONLY = process.argv.includes('--store-only');
async function takeDirectly(store, from, count, concurrency) {
  let next = from;
  const until = from + count;
  let admitted = 0;
  const caller = async () => {
    while (next < until) {
      const app = next++ % APPS;
      const readings = await store.take([
        { type: 'bucket', key: `imrl:{org${app}#app}:users:rate`, capacity: 1e6, intervalMs: 1e6, cost: 1 },
      ]);
      if (readings[0].allowed) admitted++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { admitted };
}

/** Every Redis's CPU (user and system) so far, in seconds. */
const redisCpuSeconds = async () => {
  let seconds = 0;
  for (const admin of admins) {
    const cpu = await admin.info('cpu');
    seconds += Number(/used_cpu_user:([\d.]+)/.exec(cpu)[1]) + Number(/used_cpu_sys:([\d.]+)/.exec(cpu)[1]);
  }
  return seconds;
};

/** Under bench/decision-callgrind.mjs: tells it where the measured requests start and end, and waits for its answer. */
const measuring = (at) =>
  process.send === undefined
    ? undefined
    : new Promise((resolve) => {
        process.once('message', resolve);
        process.send(at);
      });

const warnings = [];
try {
  const store = client === undefined ? new MemoryStore() : new RedisStore({ client });
  // settings read once per app: a run under callgrind lasts minutes, past the default editionCacheMs
  const middleware = admittingLimiter(
    store,
    10_000,
    { warn: (_fields, message) => warnings.push(message) },
    { editionCacheMs: 3_600_000, storeTimeoutMs: 60_000 },
  );
  const concurrency = client === undefined ? 1 : CONCURRENCY;
  const run = STORE_ONLY
    ? (from, count) => takeDirectly(store, from, count, concurrency)
    : (from, count) => drive(middleware, route, APPS, from, count, concurrency);
  await run(0, WARM_UP);
  await Promise.all(admins.map((admin) => admin.config('RESETSTAT')));
  await measuring('start');
  const redisBefore = await redisCpuSeconds();
  const before = process.cpuUsage();
  const tally = await run(WARM_UP, requests);
  const { user, system } = process.cpuUsage(before);
  await measuring('end');
  if (tally.admitted !== requests) throw new Error(`expected every request admitted: ${JSON.stringify(tally)}`);
  const redisMicros = ((await redisCpuSeconds()) - redisBefore) * 1e6;
  const calls = client === undefined ? 0 : (await scriptCalls()) / requests;
  console.log(
    `${storeKind} ${route.label}: ${requests} decisions, ${((user + system) / requests).toFixed(2)} µs CPU each ` +
      `(${(user / requests).toFixed(2)} user, ${(system / requests).toFixed(2)} system), ` +
      `${calls.toFixed(3)} script calls each, ${(redisMicros / requests).toFixed(2)} µs of Redis CPU each`,
  );
  if (process.argv.includes('--commands')) for (const admin of admins) console.log(await admin.info('commandstats'));
  if (warnings.length > 0) console.log(`limiter warnings:\n${warnings.join('\n')}`);
} finally {
  client?.disconnect();
  for (const admin of admins) admin.disconnect();
  await Promise.all(servers.map((server) => server.stop()));
}
