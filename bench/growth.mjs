// How cost grows: with the number of apps, with the kind of request, and from one Redis to a Cluster.
// Usage: npm run build && node bench/growth.mjs [--quick] [--only apps|categories|nodes | --apps] [--app-counts=1000,1000000] [--shards]
// --shards: only the Cluster rows of the cluster-wide downloads bucket, one shard and several
// (bench/results/growth-shards.{json,md}; growth.md and the plots are left as they are).
// Starts its own redis-server and 3-master Redis Cluster on loopback free ports and stops them by pid.
// Writes bench/results/growth.{json,md} and growth-{apps,categories,nodes}.svg; with --only, runs that
// table alone and prints it, writing nothing (--apps: --only apps, also written to
// bench/results/growth-apps-only.json; the apps table starts no Cluster). --app-counts picks the apps
// table's rows by apps in rotation.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Cluster, Redis } from 'ioredis';
import { MemoryStore, RedisStore } from '../dist/index.js';
import { sharedChecks } from '../dist/plan.js';
import { takeScript } from '../dist/store/take-script.js';
import { admittingLimiter, CONCURRENCY, drive, routes } from './drive.mjs';
import { median, range } from './lib.mjs';
import { barChart } from './plot.mjs';
import { startCluster, startRedis } from './redis.mjs';

const QUICK = process.argv.includes('--quick');
/** Measurements of each row of the apps and categories tables, one after the other; the row gives their median and spread. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECTIONS = ['apps', 'categories', 'nodes'];
/** --apps: --only apps, its rows also kept in bench/results/growth-apps-only.json (a before and after of one change). */
const APPS_JSON = process.argv.includes('--apps');
const ONLY = APPS_JSON
  ? 'apps'
  : process.argv.includes('--only')
    ? process.argv[process.argv.indexOf('--only') + 1]
    : undefined;
const countsArg = process.argv.find((arg) => arg.startsWith('--app-counts='));
if (ONLY !== undefined && !SECTIONS.includes(ONLY)) throw new Error(`--only takes one of ${SECTIONS.join(', ')}`);
const SHARDS_ONLY = process.argv.includes('--shards');
setFlagsFromString('--expose-gc'); // so that `node bench/growth.mjs` needs no flag
const gc = runInNewContext('gc');
const startedAt = Date.now();
const loadAtStart = loadavg()[0];
const execFileAsync = promisify(execFile);

/** Apps in rotation; --quick stops at 100,000. */
const APP_COUNTS =
  countsArg !== undefined
    ? countsArg.slice('--app-counts='.length).split(',').map(Number)
    : QUICK
      ? [1, 1_000, 100_000]
      : [1, 1_000, 100_000, 1_000_000];
/** Requests measured per row (after a warm-up pass over every app), by store. */
const MEASURED = QUICK ? { memory: 100_000, redis: 10_000 } : { memory: 400_000, redis: 60_000 };
/** The seconds each Redis throughput run lasts (after 1 s not counted), and its callers. */
const NODE_SECONDS = QUICK ? 2 : 6;
const NODE_CALLERS = 512;
const DEFAULT_CACHED_APPS = 10_000;

const warnings = [];
// every warning but the audit of the harness's own resets between rounds (measure())
const logger = {
  warn: (fields, message) => {
    if (fields?.code !== 'WRN_ADMIN_CHANGE') warnings.push(message);
  },
};
const limiterFor = (store, maxCachedApps) => admittingLimiter(store, maxCachedApps, logger);

// ---------------------------------------------------------------------------------------------------
// Measuring: this process's CPU and heap, and a Redis's own CPU, memory and commands
// ---------------------------------------------------------------------------------------------------

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const heapUsed = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/** `INFO section` as numbers: `{ used_memory: 123, … }`; commandstats as `{ evalsha: calls, … }`. */
async function info(client, section) {
  const fields = {};
  for (const line of (await client.info(section)).split('\r\n')) {
    const stat = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (stat) fields[stat[1]] = Number(stat[2]);
    else if (line.includes(':') && !line.startsWith('#')) {
      const [name, value] = line.split(':');
      fields[name] = Number(value);
    }
  }
  return fields;
}
const redisCpuSeconds = async (client) => {
  const cpu = await info(client, 'cpu');
  return cpu.used_cpu_user + cpu.used_cpu_sys;
};
/** Commands a client sends (a script call is one round trip), and what is not the workload's. */
const SCRIPT_CALLS = new Set(['evalsha', 'eval', 'evalsha_ro', 'eval_ro', 'fcall', 'fcall_ro']);
const ADMIN = new Set(['info', 'config', 'ping', 'cluster', 'client', 'command', 'hello', 'select', 'flushall']);
ADMIN.add('dbsize').add('script').add('readonly').add('auth').add('quit');

/** Round trips (script calls) and the commands the scripts ran inside Redis, summed over `nodes`. */
async function commandsOf(nodes) {
  const perNode = [];
  for (const node of nodes) {
    const stats = await info(node, 'commandstats');
    let calls = 0;
    let inside = 0;
    for (const [name, count] of Object.entries(stats)) {
      const command = name.split('|')[0];
      if (SCRIPT_CALLS.has(command)) calls += count;
      else if (!ADMIN.has(command)) inside += count;
    }
    perNode.push({ calls, inside, keys: await node.dbsize() });
  }
  return perNode;
}
const resetStats = (nodes) => Promise.all(nodes.map((node) => node.config('RESETSTAT')));

/** A Redis side: the client the store uses, and one admin client per master for INFO. */
async function redisSide(kind, servers) {
  const admins = servers.map((server) => new Redis({ port: server.port, host: '127.0.0.1' }));
  const client =
    kind === 'cluster'
      ? new Cluster(servers.map((server) => ({ host: '127.0.0.1', port: server.port })))
      : new Redis({ port: servers[0].port, host: '127.0.0.1' });
  await (kind === 'cluster' ? new Promise((resolve) => client.once('ready', resolve)) : client.ping());
  return {
    kind,
    admins,
    client,
    flush: () => Promise.all(admins.map((admin) => admin.flushall())),
    usedMemory: async () =>
      (await Promise.all(admins.map((admin) => info(admin, 'memory')))).reduce((sum, m) => sum + m.used_memory, 0),
    cpuSeconds: async () => (await Promise.all(admins.map(redisCpuSeconds))).reduce((a, b) => a + b, 0),
    close: () => {
      for (const c of [client, ...admins]) c.disconnect();
    },
  };
}

/**
 * One measured run: `count` requests of `route` over `apps` apps continuing the rotation at `from`.
 * CPU per request is this process's (user + system), net of the harness's own (`harnessMicros`).
 */
async function measure(middleware, route, apps, from, count, side, harnessMicros) {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    // a bucket holds 1,000,000 tokens (drive.mjs): an app that takes 100,000 or more a round (one app,
    // 400,000) is filled again before each, outside the measured time, so that every round admits all
    if (count / apps >= 100_000) {
      for (let app = 0; app < apps; app++) await middleware.reset(`org${app}#app`);
    }
    rounds.push(await measureOnce(middleware, route, apps, from + round * count, count, side, harnessMicros));
  }
  // each figure the median of the rounds; the CPU's min–max says how far they differ
  const row = { requests: count, rounds: ROUNDS };
  for (const field of Object.keys(rounds[0]))
    if (field !== 'requests') row[field] = median(rounds.map((r) => r[field]));
  row.cpuRange = range(rounds.map((r) => r.cpuMicrosPerRequest));
  return row;
}

async function measureOnce(middleware, route, apps, from, count, side, harnessMicros) {
  if (side !== undefined) await resetStats(side.admins);
  const redisBefore = side === undefined ? 0 : await side.cpuSeconds();
  const before = cpuMicros();
  const wallBefore = performance.now();
  const tally = await drive(middleware, route, apps, from, count, side === undefined ? 1 : CONCURRENCY);
  const wallMs = performance.now() - wallBefore;
  const cpu = cpuMicros() - before;
  if (tally.admitted !== count) {
    throw new Error(`expected every request admitted: ${JSON.stringify(tally)} ${tally.firstError?.stack ?? ''}`);
  }
  const row = {
    requests: count,
    requestsPerSecond: count / (wallMs / 1000),
    cpuMicrosPerRequest: cpu / count - harnessMicros,
  };
  if (side !== undefined) {
    const redisCpu = (await side.cpuSeconds()) - redisBefore;
    const nodes = await commandsOf(side.admins);
    row.redisCpuMicrosPerRequest = (redisCpu * 1e6) / count;
    row.callsPerRequest = nodes.reduce((sum, n) => sum + n.calls, 0) / count;
    row.commandsInScriptsPerRequest = nodes.reduce((sum, n) => sum + n.inside, 0) / count;
  }
  return row;
}

/** What the harness costs alone (fake request and response, the rotation): a middleware that only admits. */
async function harnessCost(route, apps, count) {
  const passThrough = (_req, _res, next) => next();
  await drive(passThrough, route, apps, 0, count, 1);
  const before = cpuMicros();
  await drive(passThrough, route, apps, 0, count, 1);
  return (cpuMicros() - before) / count;
}

// ---------------------------------------------------------------------------------------------------
// 1. apps: CPU per request and memory per app, 1 to 1,000,000 apps in rotation
// ---------------------------------------------------------------------------------------------------

/**
 * One row: a fresh limiter (and MemoryStore, or an emptied Redis), one warm-up pass over every app
 * (each app's bucket is created, its plan compiled and cached if the cache holds it), then the heap
 * and Redis memory per app, then `MEASURED` requests continuing the rotation.
 *
 * `reuse` (Redis with the default cache, after the row with every plan cached): the keys of every
 * app are in Redis already, and a cache of 10,000 misses on every request of the rotation whatever
 * came before, so the warm-up only fills the cache (twice its size) instead of a second pass over
 * 1,000,000 apps at two calls each; Redis bytes per app are then measured from the empty database.
 */
async function appsRow(storeKind, apps, cachedApps, side, harnessMicros, reuse) {
  if (side !== undefined && reuse === undefined) await side.flush();
  const emptyRedis = side === undefined ? 0 : (reuse?.emptyRedis ?? (await side.usedMemory()));
  // room for every app's bucket: the default cap (1,000,000 entries) would hold exactly 1M apps' one bucket
  const store =
    side === undefined
      ? new MemoryStore({ maxEntries: 2 * Math.max(apps, 1_000_000) })
      : new RedisStore({ client: side.client });
  const heapBefore = heapUsed();
  let middleware = limiterFor(store, cachedApps);
  const warmUp = reuse === undefined ? Math.max(apps, 5_000) : 2 * cachedApps;
  const warmStarted = performance.now();
  await drive(middleware, routes.users, apps, 0, warmUp, side === undefined ? 1 : CONCURRENCY);
  const warmUpSeconds = (performance.now() - warmStarted) / 1000;
  const heapPerApp = (heapUsed() - heapBefore) / apps;
  const redisMemoryPerApp = side === undefined ? undefined : ((await side.usedMemory()) - emptyRedis) / apps;
  const count = MEASURED[storeKind];
  const row = await measure(middleware, routes.users, apps, warmUp, count, side, harnessMicros);
  middleware = undefined; // let the plans and buckets go before the next row
  return {
    store: storeKind,
    apps,
    maxCachedApps: cachedApps,
    warmUpRequests: warmUp,
    warmUpSeconds,
    ...row,
    heapBytesPerApp: heapPerApp,
    ...(redisMemoryPerApp === undefined ? {} : { redisBytesPerApp: redisMemoryPerApp, emptyRedis }),
  };
}

async function appsSection(single) {
  const harnessMicros = await harnessCost(routes.users, 1_000, 200_000);
  const rows = [];
  for (const storeKind of ['memory', 'redis']) {
    const side = storeKind === 'redis' ? single : undefined;
    for (const apps of APP_COUNTS) {
      // the plan cache sized to hold every app, then (where it differs) the default cache of 10,000
      let previous;
      for (const cachedApps of apps > DEFAULT_CACHED_APPS ? [apps, DEFAULT_CACHED_APPS] : [DEFAULT_CACHED_APPS]) {
        const reuse = side !== undefined && previous !== undefined ? previous : undefined;
        const row = await appsRow(storeKind, apps, cachedApps, side, harnessMicros, reuse);
        previous = row;
        rows.push(row);
        progress(
          `apps: ${storeKind} ${apps} apps, maxCachedApps ${cachedApps}: ${row.cpuMicrosPerRequest.toFixed(2)} µs CPU/req, ` +
            `${row.heapBytesPerApp.toFixed(0)} B heap/app` +
            (row.redisBytesPerApp === undefined
              ? ''
              : `, ${row.redisBytesPerApp.toFixed(0)} B Redis/app, ${row.callsPerRequest.toFixed(2)} calls/req`) +
            ` (warm-up ${row.warmUpSeconds.toFixed(1)} s)`,
        );
      }
    }
  }
  return { harnessMicrosPerRequest: harnessMicros, rows };
}

// ---------------------------------------------------------------------------------------------------
// 2. categories: what each kind of request costs, on each store
// ---------------------------------------------------------------------------------------------------

const CATEGORY_APPS = 1_000;

async function categoriesSection(sides) {
  const rows = [];
  for (const [storeKind, side] of [['memory', undefined], ...sides.map((s) => [s.kind, s])]) {
    if (side !== undefined) await side.flush();
    const middleware = limiterFor(
      side === undefined ? new MemoryStore() : new RedisStore({ client: side.client }),
      DEFAULT_CACHED_APPS,
    );
    for (const [name, route] of Object.entries(routes)) {
      const harnessMicros = await harnessCost(route, CATEGORY_APPS, 100_000);
      await drive(middleware, route, CATEGORY_APPS, 0, 5_000, side === undefined ? 1 : CONCURRENCY);
      const count = MEASURED[side === undefined ? 'memory' : 'redis'];
      const row = {
        store: storeKind,
        request: name,
        ...(await measure(middleware, route, CATEGORY_APPS, 5_000, count, side, harnessMicros)),
      };
      rows.push(row);
      progress(
        `categories: ${storeKind} ${name}: ${row.cpuMicrosPerRequest.toFixed(2)} µs CPU/req` +
          (row.callsPerRequest === undefined
            ? ''
            : `, ${row.callsPerRequest.toFixed(2)} calls/req, ${row.redisCpuMicrosPerRequest.toFixed(1)} µs Redis CPU/req`),
      );
    }
  }
  return { apps: CATEGORY_APPS, rows };
}

// ---------------------------------------------------------------------------------------------------
// 3. nodes: the decision script's throughput on one Redis and on three masters
// ---------------------------------------------------------------------------------------------------

const NODE_APPS = 100_000;
const appBucket = (app, category) => ({
  type: 'bucket',
  key: `imrl:{org${app}#app}:${category}:rate`,
  capacity: 1e6,
  intervalMs: 1e6,
  cost: 1,
});
const globalBucket = { type: 'bucket', key: 'imrl:{global}:files:downloads', capacity: 1e6, intervalMs: 1e-3, cost: 1 };
/**
 * The cluster-wide bucket's `n` shards (`clusterDownloadsShards`), at figures that admit every take:
 * a download takes one, the next in turn, as the limiter's downloads of one process do.
 */
const shardsOf = (n) =>
  sharedChecks('imrl', 1e6, n).downloadShards.map((shard) => ({ ...shard, capacity: 1e6, intervalMs: 1e-3 }));
const SHARD_COUNTS = [3, 16];
const workloads = {
  apps: { label: 'one app bucket, 100,000 apps', checks: (app) => [appBucket(app, 'users')] },
  downloads: {
    label: 'download: app bucket + cluster-wide bucket',
    shards: [globalBucket],
    checks: (app) => [appBucket(app, 'files'), globalBucket],
  },
  global: { label: 'cluster-wide bucket alone (one key)', shards: [globalBucket], checks: () => [globalBucket] },
};
for (const n of SHARD_COUNTS) {
  const shards = shardsOf(n);
  workloads[`downloads${n}`] = {
    label: `download: app bucket + 1 of ${n} shards`,
    shards,
    clusterOnly: true,
    checks: (app) => [appBucket(app, 'files'), shards[app % n]],
  };
  workloads[`global${n}`] = {
    label: `cluster-wide bucket alone, ${n} shards`,
    shards,
    clusterOnly: true,
    checks: (i) => [shards[i % n]],
  };
}
/** `--shards`: the downloads and cluster-wide workloads, on the Cluster only. */
const shardWorkloads = [
  'downloads',
  ...SHARD_COUNTS.map((n) => `downloads${n}`),
  'global',
  ...SHARD_COUNTS.map((n) => `global${n}`),
];

/** `NODE_CALLERS` callers each taking one request's checks after the other, for `seconds`. */
async function hammer(store, workload, seconds) {
  let ops = 0;
  let next = 0;
  const until = performance.now() + seconds * 1000;
  const caller = async () => {
    while (performance.now() < until) {
      const readings = await store.take(workload.checks(next++ % NODE_APPS));
      if (!readings.every((reading) => reading.allowed)) throw new Error('a take was refused');
      ops++;
    }
  };
  await Promise.all(Array.from({ length: NODE_CALLERS }, caller));
  return ops;
}

async function nodesSection(single, cluster, only) {
  const rows = [];
  const targets = [
    ['1 node', single],
    ['3 masters', cluster],
  ];
  for (const [target, servers] of single === undefined ? targets.slice(1) : targets) {
    const admins = servers.map((server) => new Redis({ port: server.port, host: '127.0.0.1' }));
    const client =
      servers.length > 1
        ? new Cluster(
            servers.map((server) => ({ host: '127.0.0.1', port: server.port })),
            { enableAutoPipelining: true },
          )
        : new Redis({ port: servers[0].port, host: '127.0.0.1', enableAutoPipelining: true });
    const store = new RedisStore({ client });
    try {
      for (const [name, workload] of Object.entries(workloads)) {
        if (only !== undefined && !only.includes(name)) continue;
        if (workload.clusterOnly && servers.length === 1) continue; // shards on one node: one core all the same
        await Promise.all(admins.map((admin) => admin.flushall()));
        await hammer(store, workload, 1); // warm-up: connections, the script loaded on every master
        await resetStats(admins);
        const redisBefore = await Promise.all(admins.map(redisCpuSeconds));
        const before = cpuMicros();
        const started = performance.now();
        const ops = await hammer(store, workload, NODE_SECONDS);
        const seconds = (performance.now() - started) / 1000;
        const nodeCpu = cpuMicros() - before;
        const redisCpu = (await Promise.all(admins.map(redisCpuSeconds))).map((s, i) => s - redisBefore[i]);
        const masters = await commandsOf(admins);
        const globalSlotPort = servers.length > 1 ? await masterOf(client, globalBucket.key) : servers[0].port;
        const shardPorts =
          workload.shards === undefined
            ? []
            : servers.length > 1
              ? await Promise.all(workload.shards.map((shard) => masterOf(client, shard.key)))
              : workload.shards.map(() => servers[0].port);
        const row = {
          target,
          workload: name,
          ops,
          opsPerSecond: ops / seconds,
          nodeCpuMicrosPerOp: nodeCpu / ops,
          redisCpuMicrosPerOp: (redisCpu.reduce((a, b) => a + b, 0) * 1e6) / ops,
          masters: masters.map((m, i) => ({
            port: servers[i].port,
            holdsGlobalBucket: servers[i].port === globalSlotPort,
            shardsHeld: shardPorts.filter((port) => port === servers[i].port).length,
            callShare: m.calls / masters.reduce((sum, x) => sum + x.calls, 0),
            calls: m.calls,
            keys: m.keys,
            cpuMicrosPerOp: (redisCpu[i] * 1e6) / ops,
            busyShare: redisCpu[i] / seconds,
          })),
        };
        row.callsPerOp = masters.reduce((sum, m) => sum + m.calls, 0) / ops;
        rows.push(row);
        progress(
          `nodes: ${target} ${name}: ${row.opsPerSecond.toFixed(0)} ops/s, calls/op ${row.callsPerOp.toFixed(2)}, ` +
            `shares ${row.masters.map((m) => `${(m.callShare * 100).toFixed(0)}%`).join('/')}, ` +
            `Redis busy ${row.masters.map((m) => `${(m.busyShare * 100).toFixed(0)}%`).join('/')}`,
        );
      }
    } finally {
      client.disconnect();
      for (const admin of admins) admin.disconnect();
    }
  }
  return { apps: NODE_APPS, callers: NODE_CALLERS, seconds: NODE_SECONDS, rows };
}

/**
 * The script alone, from a C client: \`redis-benchmark\` (Redis's own, pipelined) calling EVALSHA of
 * the take script with one bucket check, on one node, on the three masters (\`--cluster\`: keys under
 * one hash tag per master, \`{tag}\`, each master's share fixed by the tool), and on the one key of
 * the cluster-wide bucket on the master that holds it. What Redis can do when no Node process stands
 * in front of it; on this machine the tool still shares the cores with every master.
 */
async function scriptAlone(single, cluster, clusterClient) {
  const requests = QUICK ? 150_000 : 500_000;
  const globalPort = await masterOf(clusterClient, globalBucket.key);
  const apps = ['-r', String(NODE_APPS)];
  const runs = [
    {
      target: '1 node',
      workload: 'apps',
      servers: single,
      options: apps,
      key: 'imrl:{org__rand_int__#app}:users:rate',
    },
    {
      target: '3 masters',
      workload: 'apps',
      servers: cluster,
      options: ['--cluster', ...apps],
      key: 'imrl:{tag}:users:rate:__rand_int__',
    },
    {
      target: '1 master of 3',
      workload: 'global',
      servers: cluster.filter((server) => server.port === globalPort),
      options: [],
      key: globalBucket.key,
    },
  ];
  const rows = [];
  for (const run of runs) {
    const admins = run.servers.map((server) => new Redis({ port: server.port, host: '127.0.0.1' }));
    try {
      await Promise.all(admins.map((admin) => admin.flushall()));
      const [sha] = await Promise.all(admins.map((admin) => admin.script('LOAD', takeScript)));
      await resetStats(admins);
      const cpuBefore = await Promise.all(admins.map(redisCpuSeconds));
      const started = performance.now();
      // one decision of one bucket check: now from Redis TIME, then the figures: 1 check, a bucket, capacity, interval (ms), cost
      const command = ['evalsha', sha, '1', run.key, '', '1 b 1000000 1000000 1'];
      const { stdout } = await execFileAsync('redis-benchmark', [
        ...['-h', '127.0.0.1', '-p', String(run.servers[0].port), '-n', String(requests), '-c', '50', '-P', '16'],
        ...[...run.options, '--csv', ...command],
      ]);
      const seconds = (performance.now() - started) / 1000;
      const cpu = (await Promise.all(admins.map(redisCpuSeconds))).map((c, i) => c - cpuBefore[i]);
      const masters = await commandsOf(admins);
      const calls = masters.reduce((sum, m) => sum + m.calls, 0);
      const rps = Number(/"evalsha[^\n]*?","([\d.]+)"/.exec(stdout)?.[1]);
      const row = {
        target: run.target,
        workload: run.workload,
        ops: calls,
        opsPerSecond: rps,
        redisCpuMicrosPerOp: (cpu.reduce((x, y) => x + y, 0) * 1e6) / calls,
        masters: masters.map((m, i) => ({
          port: run.servers[i].port,
          callShare: m.calls / calls,
          keys: m.keys,
          busyShare: cpu[i] / seconds,
        })),
      };
      rows.push(row);
      progress(
        `script alone: ${run.target} ${run.workload}: ${int(rps)} ops/s, ${fixed(row.redisCpuMicrosPerOp)} µs Redis CPU/op, ` +
          `shares ${row.masters.map((m) => `${(m.callShare * 100).toFixed(0)}%`).join('/')}`,
      );
    } finally {
      for (const admin of admins) admin.disconnect();
    }
  }
  return rows;
}

function hasRedisBenchmark() {
  try {
    execFileSync('redis-benchmark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    progress('redis-benchmark not found (Debian: redis-tools): the script-alone rows are left out');
    return false;
  }
}

/** The port of the master serving `key`'s slot. */
async function masterOf(client, key) {
  const slot = await client.cluster('KEYSLOT', key);
  const ranges = await client.cluster('SLOTS');
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  return range[2][1];
}

// ---------------------------------------------------------------------------------------------------
// Output: markdown tables, SVG plots, JSON
// ---------------------------------------------------------------------------------------------------

const progress = (message) =>
  console.error(`[${((Date.now() - startedAt) / 1000).toFixed(0).padStart(3)} s] ${message}`);
const int = (n) => Math.round(n).toLocaleString('en-US');
const fixed = (n, digits = 2) => (n === undefined ? '' : n.toFixed(digits));
/** A projection, to two significant figures. */
const about = (n) => int(Number(n.toPrecision(2)));

function mdTable(header, align, rows) {
  return [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function appsTable({ rows }) {
  return mdTable(
    [
      'store',
      'apps',
      'maxCachedApps',
      'rounds',
      'CPU µs/req (Node), min–max',
      'CPU µs/req (Redis)',
      'Redis calls/req',
      'req/s',
      'heap B/app',
      'Redis B/app',
    ],
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows.map((r) => [
      r.store,
      int(r.apps),
      int(r.maxCachedApps) + (r.maxCachedApps === DEFAULT_CACHED_APPS ? ' (default)' : ''),
      r.rounds,
      `${fixed(r.cpuMicrosPerRequest)} (${fixed(r.cpuRange[0])}–${fixed(r.cpuRange[1])})`,
      fixed(r.redisCpuMicrosPerRequest),
      fixed(r.callsPerRequest),
      int(r.requestsPerSecond),
      r.apps < 1_000 ? '—' : int(r.heapBytesPerApp),
      r.redisBytesPerApp === undefined || r.apps < 1_000 ? '—' : int(r.redisBytesPerApp),
    ]),
  );
}

function categoriesTable({ rows }) {
  return mdTable(
    [
      'request',
      'store',
      'rounds',
      'CPU µs/req (Node), min–max',
      'CPU µs/req (Redis)',
      'Redis calls/req',
      'commands in scripts/req',
      'req/s',
    ],
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r'],
    rows.map((r) => [
      routes[r.request].label,
      r.store,
      r.rounds,
      `${fixed(r.cpuMicrosPerRequest)} (${fixed(r.cpuRange[0])}–${fixed(r.cpuRange[1])})`,
      fixed(r.redisCpuMicrosPerRequest),
      fixed(r.callsPerRequest),
      fixed(r.commandsInScriptsPerRequest),
      int(r.requestsPerSecond),
    ]),
  );
}

function nodesTable({ rows }) {
  return mdTable(
    [
      'workload',
      'Redis',
      'rounds',
      'ops/s',
      'calls/op',
      'CPU µs/op (Node)',
      'CPU µs/op (Redis, all masters)',
      'per master: share of calls, keys, busy',
    ],
    ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows.map((r) => [
      workloads[r.workload].label,
      r.target,
      1, // one run of NODE_SECONDS each: its spread is the one-round rows' of the tables above
      int(r.opsPerSecond),
      fixed(r.callsPerOp),
      fixed(r.nodeCpuMicrosPerOp),
      fixed(r.redisCpuMicrosPerOp),
      r.masters
        .map(
          (m) =>
            `${(m.callShare * 100).toFixed(0)}%, ${int(m.keys)}, ${(m.busyShare * 100).toFixed(0)}%${r.target === '1 node' ? '' : heldMark(r, m)}`,
        )
        .join(' · '),
    ]),
  );
}

/** Which part of the cluster-wide bucket a master holds: `{global}`, or its shards of the row's. */
function heldMark(row, master) {
  if ((workloads[row.workload].shards?.length ?? 1) === 1) return master.holdsGlobalBucket ? ' (global)' : '';
  return ` (${master.shardsHeld} shard${master.shardsHeld === 1 ? '' : 's'})`;
}

function scriptAloneTable(rows) {
  return mdTable(
    ['keys', 'Redis', 'ops/s', 'CPU µs/op (Redis, all masters)', 'per master: share of calls, busy'],
    ['l', 'l', 'r', 'r', 'l'],
    rows.map((r) => [
      r.workload === 'global' ? 'the cluster-wide bucket (one key)' : `one app bucket, ${int(NODE_APPS)} keys`,
      r.target,
      int(r.opsPerSecond),
      fixed(r.redisCpuMicrosPerOp),
      r.masters.map((m) => `${(m.callShare * 100).toFixed(0)}%, ${(m.busyShare * 100).toFixed(0)}%`).join(' · '),
    ]),
  );
}

function interpretation(apps, categories, nodes) {
  const find = (list, where) => list.find((r) => Object.entries(where).every(([k, v]) => r[k] === v));
  const biggest = APP_COUNTS.at(-1);
  const lines = [];
  const mem1k = find(apps.rows, { store: 'memory', apps: 1_000 });
  const memBigSized = find(apps.rows, { store: 'memory', apps: biggest, maxCachedApps: biggest });
  const memBigDefault = find(apps.rows, { store: 'memory', apps: biggest, maxCachedApps: DEFAULT_CACHED_APPS });
  const redis1k = find(apps.rows, { store: 'redis', apps: 1_000 });
  const redisBigSized = find(apps.rows, { store: 'redis', apps: biggest, maxCachedApps: biggest });
  const redisBigDefault = find(apps.rows, { store: 'redis', apps: biggest, maxCachedApps: DEFAULT_CACHED_APPS });
  lines.push(
    `- **Apps, memory store.** From 1,000 to ${int(biggest)} apps with the plan cache holding every app, CPU per request goes from ` +
      `${fixed(mem1k.cpuMicrosPerRequest)} to ${fixed(memBigSized.cpuMicrosPerRequest)} µs (most likely larger maps, less of which stays in the CPU's caches) ` +
      `and the heap holds ${int(memBigSized.heapBytesPerApp)} bytes per app: the app's bucket in the store (about 130 B, see "MemoryStore ` +
      `memory") plus its cached plan and settings. With the default \`maxCachedApps\` (10,000) every request of a rotation over more apps ` +
      `than that misses the cache and compiles the app's plan again: ${fixed(memBigDefault.cpuMicrosPerRequest)} µs per request, ` +
      `${int(memBigDefault.heapBytesPerApp)} bytes per app (the store's bucket, and the cache's 10,000 plans shared out).`,
  );
  lines.push(
    `- **Apps, Redis.** With every plan cached, a request waits for one Redis round trip, the requests in flight sharing each call ` +
      `(${fixed(redisBigSized.callsPerRequest)} calls per request), at any scale, and costs ` +
      `${fixed(redis1k.cpuMicrosPerRequest)} µs of this process's CPU at 1,000 apps, ${fixed(redisBigSized.cpuMicrosPerRequest)} at ${int(biggest)}; ` +
      `Redis holds ${int(redisBigSized.redisBytesPerApp)} bytes per app (one bucket key, while it is not full). With the default cache, an ` +
      `app that fell out of it has its run-time settings compared inside its take's script call (\`takeChecked\`), so it is still ` +
      `${fixed(redisBigDefault.callsPerRequest)} calls per request, at ${fixed(redisBigDefault.cpuMicrosPerRequest)} µs: ` +
      `${(redisBigDefault.cpuMicrosPerRequest / redis1k.cpuMicrosPerRequest).toFixed(2)} × the 1,000-app row, the app's names and plan ` +
      `made again (their memos forgotten at once when full) and its settings' oldest cache entry evicted on every request. ` +
      `(A rotation over every app is the worst case: real traffic, where a few apps send most requests, hits the cache more.) ` +
      `A server that sees more than 10,000 apps within \`editionCacheMs\` can raise \`maxCachedApps\` to about the number of active apps ` +
      `(about ${int(redisBigSized.heapBytesPerApp)} bytes of heap each): that saves CPU, never a round trip.`,
  );
  const cat = (store, request) => find(categories.rows, { store, request });
  lines.push(
    `- **Kinds of request.** A send with the daily quota takes two keys in one decision (${fixed(cat('redis', 'send').commandsInScriptsPerRequest)} ` +
      `commands inside the scripts per request, against ${fixed(cat('redis', 'users').commandsInScriptsPerRequest)} for a plain call: a \`SET\` per key ` +
      `written, \`TIME\` and \`MGET\` once per call). A download waits for one round trip on one Redis, where both keys sit together, and ` +
      `two on a Cluster, where the cluster-wide bucket lives in its own slot: the app's slot first, then \`{global}\`, whose calls the downloads ` +
      `in flight share (${fixed(cat('cluster', 'download').callsPerRequest)} calls per download). Its pacing and refund wrappers cost this process ` +
      `${fixed(cat('memory', 'download').cpuMicrosPerRequest - cat('memory', 'users').cpuMicrosPerRequest)} µs more than a plain call on the memory store.`,
  );
  const node = (target, workload) => find(nodes.rows, { target, workload });
  const one = node('1 node', 'apps');
  const three = node('3 masters', 'apps');
  const downloadsThree = node('3 masters', 'downloads');
  const hot = downloadsThree.masters.find((m) => m.holdsGlobalBucket);
  const others = downloadsThree.masters.filter((m) => !m.holdsGlobalBucket);
  const pct = (share) => `${(share * 100).toFixed(0)} %`;
  const alone = (target, workload) => find(nodes.scriptAlone, { target, workload });
  const aloneOne = alone('1 node', 'apps');
  const aloneThree = alone('3 masters', 'apps');
  const aloneGlobal = alone('1 master of 3', 'global');
  const busiest = (row) => Math.max(...row.masters.map((m) => m.busyShare));
  lines.push(
    `- **One Redis against three masters, through the library.** Many apps' buckets: ${int(one.opsPerSecond)} decisions/s on one node, ` +
      `${int(three.opsPerSecond)} on three masters, which took ${three.masters.map((m) => pct(m.callShare)).join(', ')} of the calls ` +
      `and held ${three.masters.map((m) => int(m.keys)).join(', ')} keys: the apps' hash tags spread evenly, no master is hotter than another. This process spent ` +
      `${fixed(one.nodeCpuMicrosPerOp)} µs of CPU per decision on one node and ${fixed(three.nodeCpuMicrosPerOp)} µs on the Cluster (ioredis's ` +
      `Cluster client routes every command by slot and pipelines per master), while the busiest master was ${pct(busiest(three))} busy: ` +
      `the Node client, not Redis, is what these rows measure, on ${availableParallelism()} cores shared with every server.`,
  );
  if (aloneOne !== undefined && aloneThree !== undefined) {
    lines.push(
      `- **The script alone** (redis-benchmark, pipelined, no Node): ${int(aloneOne.opsPerSecond)} decisions/s on one node ` +
        `(${pct(busiest(aloneOne))} of a core, ${fixed(aloneOne.redisCpuMicrosPerOp)} µs of Redis CPU each), ` +
        `${int(aloneThree.opsPerSecond)} on three masters. Here three masters and the client share ${availableParallelism()} cores, so ` +
        `the Cluster cannot show its scaling. At ${fixed(aloneOne.redisCpuMicrosPerOp)} µs of Redis CPU per decision, a master with a core of its own ` +
        `would do about ${about(1e6 / aloneOne.redisCpuMicrosPerOp)} decisions/s of this script on this machine, and a Cluster about that ` +
        `many times its masters, since the apps' keys spread evenly.`,
    );
  }
  const ceiling = aloneGlobal ?? node('3 masters', 'global');
  lines.push(
    `- **The cluster-wide download bucket is one key on one master.** Every download calls it, admitted or refused: with downloads, ` +
      `the master holding \`{global}\` took ${pct(hot.callShare)} of the calls, the others ${others.map((m) => pct(m.callShare)).join(' and ')} ` +
      `(a download is two calls on a Cluster: the app's slot, then \`{global}\`). Its ceiling is one master's core, whatever the ` +
      `number of masters: ${int(ceiling.opsPerSecond)} takes/s of that one key ${aloneGlobal === undefined ? 'through the library' : 'from redis-benchmark'} ` +
      `with the master ${pct(busiest(ceiling))} busy, ${fixed(ceiling.redisCpuMicrosPerOp)} µs of Redis CPU each: about ` +
      `${about(1e6 / ceiling.redisCpuMicrosPerOp)}/s with a core of its own on this machine. Through the library it ran ` +
      `${int(node('1 node', 'global').opsPerSecond)}/s on one node and ${int(node('3 masters', 'global').opsPerSecond)}/s on the Cluster. ` +
      `That is far above the 300 downloads/s the table admits, but refused attempts cost the same call, so a flood of downloads from ` +
      `many apps meets it first, and with it everything else on that master.`,
  );
  lines.push(shardsMeaning(nodes.rows));
  return lines.map((line) => wrap(line)).join('\n');
}

/** What the rows of the cluster-wide bucket in shards say (`clusterDownloadsShards`), on the Cluster. */
function shardsMeaning(rows) {
  const row = (workload) => rows.find((r) => r.target === '3 masters' && r.workload === workload);
  const pct = (share) => `${(share * 100).toFixed(0)} %`;
  const shares = (r) => r.masters.map((m) => pct(m.callShare)).join(', ');
  const most = (r) => pct(Math.max(...r.masters.map((m) => m.callShare)));
  const [few, many] = SHARD_COUNTS;
  return (
    `- **In shards** (\`clusterDownloadsShards\`: N buckets under hash tags spread over the masters, each with 1/N of the rate; ` +
    `a download takes one, the next in turn). With downloads the masters took ${shares(row(`downloads${few}`))} of the calls ` +
    `with ${few} shards and ${shares(row(`downloads${many}`))} with ${many} (at most ${most(row(`downloads${few}`))} and ` +
    `${most(row(`downloads${many}`))}, against ${most(row('downloads'))} on the master of one bucket), still 2 calls a download. ` +
    `The cluster-wide bucket alone: ${int(row('global').opsPerSecond)} takes/s as one key, ${int(row(`global${few}`).opsPerSecond)} in ` +
    `${few} shards and ${int(row(`global${many}`).opsPerSecond)} in ${many}, its calls spread ${shares(row(`global${few}`))} and ` +
    `${shares(row(`global${many}`))}: through the library on ${availableParallelism()} cores the Node client is the limit here, ` +
    `but its ceiling is now every master's core rather than one's.`
  );
}

/** A bullet wrapped at `width` columns, its continuation lines indented under its text. */
function wrap(text, width = 120) {
  const out = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = `  ${word}`;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  out.push(line);
  return out.join('\n');
}

function markdown(apps, categories, nodes, runSeconds) {
  const now = new Date().toISOString().slice(0, 10);
  return `## How cost grows

Measured by \`npm run build && node bench/growth.mjs\` (${now}, ${QUICK ? '**--quick**: fewer apps and requests, ' : ''}${int(runSeconds)} s on
${availableParallelism()} cores, Node ${process.version}, load average ${loadAtStart.toFixed(1)} at the start and ${loadavg()[0].toFixed(1)} at the end;
it starts its own redis-server and 3-master Redis Cluster on loopback and stops them). On a machine with other work running,
rows swing by a third between runs: read the ratios within a table, and the calls and bytes, which do not swing.
Every request is driven in process, not over HTTP: the middleware from \`dist/index.js\` is called with a minimal request (the
path, the parsed body) and response (\`setHeader\`, \`end\`, the methods download pacing wraps), and an admitted request's handler
answers \`res.end()\`. CPU per request is this process's (\`process.cpuUsage()\`), net of the harness alone
(${fixed(apps.harnessMicrosPerRequest, 2)} µs per request, a middleware that only calls \`next()\`); Redis's is \`INFO cpu\` of every
master; calls are script calls (\`EVALSHA\`) from \`INFO commandstats\`: the RedisStore sends the requests of one turn of the
event loop in one call (per Cluster slot), so a request waits for one round trip (a download on a Cluster, two) and calls per request
fall below 1 as requests share them. Every figure of the table is raised so that every request
is admitted and every bucket stays not full (rate 1/1000 s, burst 1,000,000; cluster-wide downloads 1,000,000/s; daily quota 10⁹):
the checks are those of the community edition, their keys live in the store as an active app's do. On Redis the limiter has up
to ${CONCURRENCY} requests in flight on one ioredis connection (no auto-pipelining), \`storeTimeoutMs\` 5 s so that none falls back.

### Apps

![CPU per request and memory per app, by apps in rotation](bench/results/growth-apps.svg)

${appsTable(apps)}

- _apps_: \`GET /org<i>/app/users\` for i in rotation; one warm-up pass over every app (at least 5,000 requests), then
  ${int(MEASURED.memory)} (memory) or ${int(MEASURED.redis)} (Redis) requests measured, continuing the rotation. On Redis with the
  default cache the keys of the row above are kept and the warm-up is 20,000 requests: the cache misses on every request anyway.
- _heap B/app_: this process's heap after a forced GC, after the warm-up pass, less before it, per app: the MemoryStore's
  buckets (memory only), the cached plans and the cached run-time settings. _Redis B/app_: \`used_memory\` likewise.
  Both are left out below 1,000 apps, where they are noise.
- The MemoryStore's \`maxEntries\` (default 1,000,000) is set to twice the apps: at the default, 1,000,000 apps' one bucket each
  fill it exactly, and a community send (a bucket and a day's window) fills it at 500,000 apps, past which the oldest are dropped.
- \`maxCachedApps\` is set to the apps in rotation, then (above 10,000 apps) left at its default, 10,000, which a rotation over
  more apps misses on every request.

### Kinds of request

![CPU and Redis calls per request, by kind of request and store](bench/results/growth-categories.svg)

${categoriesTable(categories)}

- ${int(CATEGORY_APPS)} apps in rotation, every plan cached; the send is \`{"to":["alice"],"type":"txt","body":{"msg":"hello"}}\`
  (one push on the daily window). _commands in scripts_: \`TIME\`, \`MGET\`, \`SET\` run by the script, as \`INFO commandstats\`
  counts them.

### One Redis, three masters

![Decisions per second on one Redis and on a 3-master Cluster, and each master's share of the calls](bench/results/growth-nodes.svg)

${nodesTable(nodes)}

- The library's \`RedisStore.take()\` called directly (no Express, no limiter), by ${NODE_CALLERS} concurrent callers on one ioredis
  client with auto-pipelining, ${nodes.seconds} s per row after 1 s of warm-up; ${int(NODE_APPS)} apps in rotation. _busy_: the master's CPU
  over the run's wall time; _(global)_ marks the master holding \`{global}\`, _(k shards)_ how many of the row's
  shards (\`clusterDownloadsShards\`) a master holds, taken in turn as one process's downloads take them.

${
  nodes.scriptAlone.length === 0
    ? 'The script alone (redis-benchmark) was left out: redis-benchmark was not found.'
    : `The script alone, from a C client (\`redis-benchmark -c 50 -P 16\`, EVALSHA of the take script with one bucket check; on the
Cluster with \`--cluster\`, which puts each master's keys under one hash tag of its own and spreads the calls itself):

${scriptAloneTable(nodes.scriptAlone)}`
}

### What it means

${interpretation(apps, categories, nodes)}
`;
}

/** The three plots. */
function plots(apps, categories, nodes) {
  const series = (store, cached) =>
    APP_COUNTS.map((n) =>
      apps.rows.find(
        (r) =>
          r.store === store &&
          r.apps === n &&
          r.maxCachedApps === (cached === 'all' ? Math.max(n, DEFAULT_CACHED_APPS) : DEFAULT_CACHED_APPS),
      ),
    );
  const appLabels = APP_COUNTS.map((n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}k` : String(n)));
  const line = [
    { name: 'memory, every plan cached', rows: series('memory', 'all') },
    { name: 'memory, default cache (10k)', rows: series('memory', 'default') },
    { name: 'Redis, every plan cached', rows: series('redis', 'all') },
    { name: 'Redis, default cache (10k)', rows: series('redis', 'default') },
  ];
  const appsSvg = barChart({
    title: 'Cost by apps in rotation',
    panels: [
      {
        title: 'CPU µs per request (this process)',
        groups: appLabels,
        series: line.map((s) => ({ name: s.name, values: s.rows.map((r) => r.cpuMicrosPerRequest) })),
      },
      {
        title: 'Redis calls per request',
        groups: appLabels,
        series: line
          .filter((s) => s.name.startsWith('Redis'))
          .map((s) => ({ name: s.name, values: s.rows.map((r) => r.callsPerRequest) })),
      },
      {
        title: 'bytes per app (heap; Redis used_memory)',
        groups: appLabels.slice(1),
        series: [
          ...line.map((s) => ({ name: `heap, ${s.name}`, values: s.rows.slice(1).map((r) => r.heapBytesPerApp) })),
          {
            name: 'Redis used_memory',
            values: series('redis', 'all')
              .slice(1)
              .map((r) => r.redisBytesPerApp),
          },
        ],
      },
    ],
  });
  const requests = Object.keys(routes);
  const stores = ['memory', 'redis', 'cluster'];
  const catRow = (store, request) => categories.rows.find((r) => r.store === store && r.request === request);
  const categoriesSvg = barChart({
    title: 'Cost by kind of request',
    panels: [
      {
        title: 'CPU µs per request (this process)',
        groups: requests,
        series: stores.map((s) => ({ name: s, values: requests.map((q) => catRow(s, q).cpuMicrosPerRequest) })),
      },
      {
        title: 'CPU µs per request (Redis, all masters)',
        groups: requests,
        series: stores
          .slice(1)
          .map((s) => ({ name: s, values: requests.map((q) => catRow(s, q).redisCpuMicrosPerRequest) })),
      },
      {
        title: 'Redis calls per request',
        groups: requests,
        series: stores.slice(1).map((s) => ({ name: s, values: requests.map((q) => catRow(s, q).callsPerRequest) })),
      },
    ],
  });
  const names = Object.keys(workloads);
  const nodeRow = (target, workload) => nodes.rows.find((r) => r.target === target && r.workload === workload);
  const nodesSvg = barChart({
    title: 'The decision script on one Redis and on three masters',
    panels: [
      {
        title: 'decisions per second',
        groups: names,
        // a shard workload runs on the Cluster alone: no bar on one node
        series: ['1 node', '3 masters'].map((t) => ({
          name: t,
          values: names.map((w) => nodeRow(t, w)?.opsPerSecond ?? 0),
        })),
      },
      {
        title: 'share of calls per master, % (3 masters)',
        groups: names,
        series: [0, 1, 2].map((i) => ({
          name: `master ${i + 1}`,
          values: names.map((w) => nodeRow('3 masters', w).masters[i].callShare * 100),
        })),
      },
      ...(nodes.scriptAlone.length === 0
        ? []
        : [
            {
              title: 'the script alone (redis-benchmark), ops/s',
              groups: nodes.scriptAlone.map((r) => (r.workload === 'global' ? 'global key' : r.target)),
              series: [{ name: 'EVALSHA of the take script', values: nodes.scriptAlone.map((r) => r.opsPerSecond) }],
            },
          ]),
    ],
  });
  return { 'growth-apps.svg': appsSvg, 'growth-categories.svg': categoriesSvg, 'growth-nodes.svg': nodesSvg };
}

// ---------------------------------------------------------------------------------------------------

/** `--shards`: the cluster-wide bucket's rows alone, on the Cluster; written to growth-shards.{json,md}. */
async function shardsOnly() {
  const cluster = await startCluster();
  try {
    progress(`cluster on ${cluster.map((n) => n.port).join(', ')}${QUICK ? ' (--quick)' : ''}`);
    const nodes = await nodesSection(undefined, cluster, shardWorkloads);
    const md = `${nodesTable(nodes)}\n\n${wrap(shardsMeaning(nodes.rows))}\n`;
    const dir = new URL('./results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const report = {
      date: new Date().toISOString(),
      quick: QUICK,
      node: process.version,
      cores: availableParallelism(),
      nodes,
    };
    writeFileSync(new URL('growth-shards.json', dir), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(new URL('growth-shards.md', dir), md);
    console.log(md);
    progress('wrote bench/results/growth-shards.{json,md}');
  } finally {
    await Promise.all(cluster.map((server) => server.stop()));
  }
}

const servers = [];
let single;
let clusterSide;
if (SHARDS_ONLY) {
  await shardsOnly();
  process.exit(0);
}
try {
  // the apps table alone needs no Cluster
  const [redis, cluster] = await Promise.all([startRedis(), ONLY === 'apps' ? [] : startCluster()]);
  servers.push(redis, ...cluster);
  progress(
    `redis-server on ${redis.port}, cluster on ${cluster.map((n) => n.port).join(', ') || 'none'}${QUICK ? ' (--quick)' : ''}`,
  );
  single = await redisSide('redis', [redis]);
  if (ONLY !== 'apps') clusterSide = await redisSide('cluster', cluster);

  if (ONLY !== undefined) {
    const tables = {
      apps: async () => {
        const apps = await appsSection(single);
        if (APPS_JSON) {
          mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
          const report = { date: new Date().toISOString(), quick: QUICK, node: process.version, apps, warnings };
          writeFileSync(
            new URL('./results/growth-apps-only.json', import.meta.url),
            `${JSON.stringify(report, null, 2)}\n`,
          );
        }
        return appsTable(apps);
      },
      categories: async () => categoriesTable(await categoriesSection([single, clusterSide])),
      nodes: async () => nodesTable(await nodesSection([redis], cluster)),
    };
    console.log(await tables[ONLY]());
    if (warnings.length > 0)
      console.log(`limiter warnings during the run (numbers may be off):\n${warnings.join('\n')}`);
    progress(APPS_JSON ? '--apps: wrote bench/results/growth-apps-only.json' : `--only ${ONLY}: wrote nothing`);
  } else {
    const apps = await appsSection(single);
    const categories = await categoriesSection([single, clusterSide]);
    const nodes = await nodesSection([redis], cluster);
    nodes.scriptAlone = hasRedisBenchmark() ? await scriptAlone([redis], cluster, clusterSide.client) : [];
    const runSeconds = (Date.now() - startedAt) / 1000;

    const dir = new URL('./results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    const md = markdown(apps, categories, nodes, runSeconds);
    const report = {
      date: new Date().toISOString(),
      quick: QUICK,
      node: process.version,
      cores: availableParallelism(),
      runSeconds,
      apps,
      categories,
      nodes,
      warnings,
    };
    writeFileSync(new URL('growth.json', dir), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(new URL('growth.md', dir), md);
    for (const [file, svg] of Object.entries(plots(apps, categories, nodes))) writeFileSync(new URL(file, dir), svg);
    console.log(md);
    if (warnings.length > 0)
      console.log(`limiter warnings during the run (numbers may be off):\n${warnings.join('\n')}`);
    progress('wrote bench/results/growth.{json,md} and growth-{apps,categories,nodes}.svg');
  }
} finally {
  single?.close();
  clusterSide?.close();
  await Promise.all(servers.map((server) => server.stop()));
}
