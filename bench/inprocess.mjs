// Where the server's CPU goes, without the network: the benchmark's route through the whole Express
// app in process, a real IncomingMessage and ServerResponse per request on a socket that swallows
// what is written. CPU per request for bare Express and each limiter (memory stores), then, with
// --profile, a CPU profile of each and the functions whose own time differs most from bare Express.
// Usage: npm run build && node bench/inprocess.mjs [--profile] [requests]
import { IncomingMessage, ServerResponse } from 'node:http';
import { Session } from 'node:inspector/promises';
import { Socket } from 'node:net';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { imRateLimit, MemoryStore } from 'im-rate-limit';
import { RateLimiterMemory } from 'rate-limiter-flexible';

const profile = process.argv.includes('--profile');
const REQUESTS = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 200_000);
const LIMIT = 1_000_000;
const policy = `"users";q=${LIMIT};w=1`;

const limiters = {
  express: () => undefined,
  'im-rate-limit': () =>
    imRateLimit({
      edition: 'enterprise',
      store: new MemoryStore(),
      overrides: { 'acme#chat': { users: { ratePerSecond: LIMIT } } },
    }),
  'express-rate-limit': () =>
    rateLimit({
      windowMs: 1000,
      limit: LIMIT,
      keyGenerator: () => 'acme#chat',
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      validate: false,
    }),
  'rate-limiter-flexible': () => {
    const limiter = new RateLimiterMemory({ points: LIMIT, duration: 1 });
    return (_req, res, next) =>
      limiter.consume('acme#chat').then((r) => {
        res.set({ 'RateLimit-Policy': policy, RateLimit: `"users";r=${r.remainingPoints};t=1` });
        next();
      }, next);
  },
};

function appWith(limiter) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json());
  if (limiter) app.use(limiter);
  app.get('/:org/:app/users', (_req, res) => {
    res.json({ entities: [{ username: 'alice' }], count: 1 });
  });
  return app;
}

/** A socket that takes every write at once: the response is built and "sent" in full, nothing leaves. */
const socket = new Socket();
socket.write = (_data, encoding, callback) => {
  (typeof encoding === 'function' ? encoding : callback)?.();
  return true;
};
socket.cork = () => {};
socket.uncork = () => {};

const once = (app) =>
  new Promise((resolve, reject) => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/acme/chat/users';
    req.headers = { host: 'x' };
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.on('finish', () => {
      res.detachSocket(socket);
      resolve();
    });
    app.handle(req, res, reject);
  });

async function cpuPerRequest(app, requests) {
  for (let i = 0; i < 20_000; i++) await once(app); // warm: optimised code, a settled heap
  const before = process.cpuUsage();
  for (let i = 0; i < requests; i++) await once(app);
  const { user, system } = process.cpuUsage(before);
  return (user + system) / requests;
}

/** Own time per function, µs per request, from a CPU profile of `requests` requests. */
async function selfTimes(app, requests) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 50 });
  await session.post('Profiler.start');
  for (let i = 0; i < requests; i++) await once(app);
  const { profile: cpu } = await session.post('Profiler.stop');
  session.disconnect();
  const nodes = new Map(cpu.nodes.map((node) => [node.id, node]));
  const perSample = (cpu.endTime - cpu.startTime) / cpu.samples.length / requests;
  const self = new Map();
  for (const id of cpu.samples) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const where = `${functionName || '(anonymous)'} ${url.split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    self.set(where, (self.get(where) ?? 0) + perSample);
  }
  return self;
}

const apps = Object.fromEntries(Object.entries(limiters).map(([name, make]) => [name, appWith(make())]));
const rounds = 3;
const samples = Object.fromEntries(Object.keys(apps).map((name) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (const [name, app] of Object.entries(apps)) samples[name].push(await cpuPerRequest(app, REQUESTS));
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const bare = median(samples.express);
console.log(`\n### In process (${rounds} rounds × ${REQUESTS} requests; medians)\n`);
console.log('| server | CPU µs/req | over bare Express |');
console.log('|---|---:|---:|');
for (const [name, values] of Object.entries(samples)) {
  const own = median(values);
  console.log(`| ${name} | ${own.toFixed(2)} | ${name === 'express' ? '' : `${(own - bare).toFixed(2)} µs`} |`);
}

if (profile) {
  const base = await selfTimes(apps.express, REQUESTS);
  const own = await selfTimes(apps['im-rate-limit'], REQUESTS);
  const rows = [...new Set([...base.keys(), ...own.keys()])]
    .map((where) => [where, (own.get(where) ?? 0) - (base.get(where) ?? 0)])
    .filter(([where]) => where !== '(idle) :0' && where !== '(program) :0')
    .sort((a, b) => b[1] - a[1]);
  console.log('\n### im-rate-limit over bare Express, own time by function (µs per request, sampled)\n');
  for (const [where, micros] of rows.slice(0, 20)) console.log(`${micros.toFixed(3).padStart(7)}  ${where}`);
}
