// Micro-benchmarks of the hot path's parts: classification, the in-memory bucket, payload checks.
import { readFileSync } from 'node:fs';
import { imRateLimit, MemoryStore } from 'im-rate-limit';
import { classify } from 'im-rate-limit/catalog';
import { match } from 'path-to-regexp';
import { Registry } from 'prom-client';
import { Bench } from 'tinybench';
import { checkPayload } from '../dist/limits/payload.js';
import { loadAverage, median, range } from './lib.mjs';

const catalog = JSON.parse(readFileSync(new URL('../test/fixtures/routes.json', import.meta.url), 'utf8'));
const values = {
  org: 'acme',
  app: 'chat',
  username: 'Alice.Smith-01_X',
  friend: 'bob_2',
  group_id: '1234567890123',
  chatroom_id: '987654321',
};
const requests = catalog.map(({ method, path }) => [
  method,
  path.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? `v-${name}`),
]);

/**
 * The baseline is what Express 5's router does with the same catalog as routes: each route's
 * path-to-regexp matcher (case-insensitive, trailing slash allowed, parameters decoded), tried in
 * order, then its method.
 */
const matchers = catalog.map(({ method, path, category }) => ({
  method,
  category,
  match: match(path.replace(/\{(\w+)\}/g, ':$1'), {
    sensitive: false,
    end: true,
    trailing: true,
    decode: decodeURIComponent,
  }),
}));
function linearScan(method, path) {
  const pathname = path.split('?')[0];
  for (const route of matchers) if (route.match(pathname) && route.method === method) return route.category;
  return undefined;
}
// the two must agree before they are timed
for (const [method, path] of requests) {
  if ((classify(method, path)?.category ?? null) !== (linearScan(method, path) ?? null))
    throw new Error(`disagree on ${method} ${path}`);
}

const hot = { type: 'bucket', key: 'imrl:{acme#chat}:messages:rate', capacity: 1e9, intervalMs: 1e-6, cost: 1 };
const hotStore = new MemoryStore();
const wideStore = new MemoryStore();
const distinctKeys = Array.from({ length: 1_000_000 }, (_, i) => `imrl:{org${i}#chat}:messages:rate`);
let nextKey = 0;

const rules = {
  users: { userIdMaxChars: 64, bulkRegistrationMax: 60 },
  contacts: { userIdMaxChars: 64 },
  messages: { messageMaxBytes: 4096 },
};
const send = classify('POST', '/acme/chat/messages/users');
const message = { to: ['bob'], type: 'txt', body: { msg: '你'.repeat(1300) }, ext: { k: 'v'.repeat(80) } };

/** The whole middleware in process, no HTTP: what it adds to each request on top of Express. */
const middlewareFor = (ratePerSecond, options = {}) =>
  imRateLimit({
    edition: 'enterprise',
    overrides: { 'acme#chat': { messages: { ratePerSecond } } },
    logger: { warn() {} },
    ...options,
  });
const admitting = middlewareFor(1e6);
const refusing = middlewareFor(10);
const noop = () => {};
const observing = middlewareFor(1e6, { onDecision: noop });
const measuring = middlewareFor(1e6, { metrics: { registry: new Registry() } });
const both = middlewareFor(1e6, { onDecision: noop, metrics: { registry: new Registry() } });
const sendRequest = () => ({
  method: 'POST',
  url: '/acme/chat/messages/users',
  headers: {},
  body: { to: ['alice'], type: 'txt', body: { msg: 'hello' } },
});
/** A response each, as Express makes them: the limiter marks the request counted in its `res.locals`. */
const response = () => ({ statusCode: 200, locals: {}, setHeader() {}, end() {} });
const next = () => {};
// an admitted request must reach next() without an error, or the error path is what gets timed
for (const middleware of [admitting, observing, measuring, both]) {
  middleware(sendRequest(), response(), (error) => {
    if (error !== undefined) throw error;
  });
}

const bench = new Bench({ time: 2000, warmupTime: 500 });
let i = 0;
bench
  .add('classify() over every routes.json row (trie)', () => {
    const [method, path] = requests[i++ % requests.length];
    classify(method, path);
  })
  .add('linear scan of Express-style path regexes', () => {
    const [method, path] = requests[i++ % requests.length];
    linearScan(method, path);
  })
  .add('MemoryStore.take, one hot key', () => {
    hotStore.take([hot]);
  })
  .add('MemoryStore.take, 1M distinct keys', () => {
    wideStore.take([
      { type: 'bucket', key: distinctKeys[nextKey++ % distinctKeys.length], capacity: 10, intervalMs: 100, cost: 1 },
    ]);
  })
  .add('payload checks, a 4 KB message', () => {
    checkPayload(send, message, rules);
  })
  .add('the middleware, admitted (MemoryStore, no HTTP)', () => {
    admitting(sendRequest(), response(), next);
  })
  .add('the middleware, refused (MemoryStore, no HTTP)', () => {
    refusing(sendRequest(), response(), next);
  })
  .add('the middleware, admitted, onDecision a no-op', () => {
    observing(sendRequest(), response(), next);
  })
  .add('the middleware, admitted, metrics', () => {
    measuring(sendRequest(), response(), next);
  })
  .add('the middleware, admitted, onDecision and metrics', () => {
    both(sendRequest(), response(), next);
  });
// every task once a round, the rounds one after the other: a task's spread is how far its rounds differ
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const loadBefore = loadAverage();
const throughputs = new Map(bench.tasks.map((task) => [task.name, []]));
for (let round = 0; round < ROUNDS; round++) {
  bench.reset(); // tinybench keeps a run's results: without it, every round would report the first
  await bench.run();
  for (const task of bench.tasks) throughputs.get(task.name).push(task.result.throughput.mean);
}

const perSecond = (task) => median(throughputs.get(task.name));
console.log(
  `\n### micro-benchmarks (${ROUNDS} rounds; medians, min–max over the rounds; load average ${loadBefore} before, ${loadAverage()} after)\n`,
);
console.log('| task | rounds | ops/s | ns/op | ns/op min–max |');
console.log('|---|---:|---:|---:|---:|');
for (const task of bench.tasks) {
  const [low, high] = range(throughputs.get(task.name));
  console.log(
    `| ${task.name} | ${ROUNDS} | ${Math.round(perSecond(task)).toLocaleString('en-US')} | ${Math.round(1e9 / perSecond(task))} | ${Math.round(1e9 / high)}–${Math.round(1e9 / low)} |`,
  );
}
const [trie, scan] = bench.tasks;
const classifyRatios = throughputs.get(trie.name).map((t, i) => t / throughputs.get(scan.name)[i]);
const [lowRatio, highRatio] = range(classifyRatios);
console.log(
  `\nclassify(): ${median(classifyRatios).toFixed(1)} × the linear regex scan (rounds ${lowRatio.toFixed(1)}–${highRatio.toFixed(1)})`,
);

/** Bare Express's CPU per request over HTTP, from the HTTP rounds that `npm run bench` runs first (bench/results/http.json). */
const EXPRESS_CPU_NS = (() => {
  try {
    const http = JSON.parse(readFileSync(new URL('./results/http.json', import.meta.url), 'utf8'));
    return http.modes.admitted.rows.find((row) => row.variant === 'express').cpuMicrosPerRequest * 1000;
  } catch {
    return undefined;
  }
})();
const nsOf = (name) => 1e9 / perSecond(bench.tasks.find((task) => task.name === name));
const plain = nsOf('the middleware, admitted (MemoryStore, no HTTP)');
console.log('\nobserving decisions, over the plain admitted middleware:');
for (const name of [
  'the middleware, admitted, onDecision a no-op',
  'the middleware, admitted, metrics',
  'the middleware, admitted, onDecision and metrics',
]) {
  const extra = nsOf(name) - plain;
  const share =
    EXPRESS_CPU_NS === undefined
      ? 'no HTTP rounds to compare with (run bench/run.mjs first)'
      : `${((100 * extra) / EXPRESS_CPU_NS).toFixed(2)} % of bare Express's CPU per request over HTTP (${(EXPRESS_CPU_NS / 1000).toFixed(1)} µs)`;
  console.log(`- ${name.replace('the middleware, admitted, ', '')}: +${Math.round(extra)} ns/request, ${share}`);
}
