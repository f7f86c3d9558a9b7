// npm run bench:profile -- '<server>' <admitted|refused>: a CPU profile of one benchmark server under
// load, written to bench/results/, with the functions that took the most time of their own.
import { readdirSync, readFileSync } from 'node:fs';
import { load, startRedis, startServer } from './lib.mjs';

const [variant = 'im-rate-limit memory', mode = 'admitted'] = process.argv.slice(2);
const dir = new URL('./results/profiles/', import.meta.url).pathname;
const redis = await startRedis();
const server = await startServer(variant, mode, redis.port, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
const result = await load(server.port, 8);
console.log(`${variant}, ${mode}: ${result.requests.average.toFixed(0)} req/s`);
server.child.kill('SIGINT');
await new Promise((resolve) => server.child.once('exit', resolve));
redis.stop();

const newest = readdirSync(dir).sort().at(-1);
const profile = JSON.parse(readFileSync(dir + newest, 'utf8'));
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
for (const id of profile.samples) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  const where = `${functionName || '(anonymous)'} ${url.split('/node_modules/').at(-1).split('/').slice(-2).join('/')}:${lineNumber + 1}`;
  self.set(where, (self.get(where) ?? 0) + 1);
}
console.log(`${dir}${newest}\nself time:`);
for (const [where, samples] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${((samples / profile.samples.length) * 100).toFixed(1).padStart(5)}%  ${where}`);
}
