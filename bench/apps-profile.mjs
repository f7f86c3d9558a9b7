// Where this process's CPU goes on Redis plain calls over N apps in rotation with the default plan cache
// (bench/growth.mjs's harness): a CPU profile of 60,000 decisions after a warm-up, functions by self time.
//   npm run build && node bench/apps-profile.mjs 1000000     (and 1000, to compare)
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';
import { RedisStore } from '../dist/index.js';
import { admittingLimiter, CONCURRENCY, drive, routes } from './drive.mjs';
import { startRedis } from './redis.mjs';

const apps = Number(process.argv[2] ?? 1_000_000);
const MEASURED = 60_000;
const warmUp = Math.min(apps, 200_000) + 20_000; // past 10,000 apps the cache misses on every request anyway
const redis = await startRedis();
const client = new Redis({ port: redis.port, host: '127.0.0.1' });
const middleware = admittingLimiter(new RedisStore({ client }), 10_000, { warn() {} });
await drive(middleware, routes.users, apps, 0, warmUp, CONCURRENCY);

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 });
await session.post('Profiler.start');
const before = process.cpuUsage();
await drive(middleware, routes.users, apps, warmUp, MEASURED, CONCURRENCY);
const cpu = process.cpuUsage(before);
const { profile } = await session.post('Profiler.stop');
client.disconnect();
redis.stop();

// self time by function, as shares of the samples that were not idle (this process's CPU)
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
let busy = 0;
for (const id of profile.samples) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  if (functionName === '(idle)') continue;
  busy++;
  const where = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  self.set(where, (self.get(where) ?? 0) + 1);
}
console.log(`${apps} apps: ${((cpu.user + cpu.system) / MEASURED).toFixed(2)} µs of CPU a decision; self time:`);
for (const [where, samples] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 20)) {
  console.log(`${((samples / busy) * 100).toFixed(1).padStart(5)}%  ${where}`);
}
process.exit(0);
