// npm run build && node bench/profile-diff.mjs '<server>' ['<baseline>'] [admitted|refused]: CPU profiles of two
// benchmark servers under the same load, and the functions whose own time per request differs most.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { load, startRedis, startServer } from './lib.mjs';

const [variant = 'im-rate-limit memory', baseline = 'express', mode = 'admitted'] = process.argv.slice(2);
const SECONDS = 8;

/** Own time per function in µs per request, from a profile of `name` under load. */
async function profileOf(name, redisPort) {
  const dir = new URL(`./results/profiles/diff-${name.replaceAll(' ', '-')}/`, import.meta.url).pathname;
  rmSync(dir, { recursive: true, force: true });
  const server = await startServer(name, mode, redisPort, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  await load(server.port, 2);
  const result = await load(server.port, SECONDS);
  server.child.kill('SIGINT');
  await new Promise((resolve) => server.child.once('exit', resolve));
  const profile = JSON.parse(readFileSync(dir + readdirSync(dir)[0], 'utf8'));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  // the whole profile covers warm-up and load: time per request over both
  const requests = result.requests.total * ((SECONDS + 2) / SECONDS);
  const perSample = (profile.endTime - profile.startTime) / profile.samples.length / requests;
  const self = new Map();
  for (const id of profile.samples) {
    const { functionName, url, lineNumber } = nodes.get(id).callFrame;
    const where = `${functionName || '(anonymous)'} ${url.split('/node_modules/').at(-1).split('/').slice(-2).join('/')}:${lineNumber + 1}`;
    self.set(where, (self.get(where) ?? 0) + perSample);
  }
  return self;
}

const redis = await startRedis();
try {
  const base = await profileOf(baseline, redis.port);
  const own = await profileOf(variant, redis.port);
  const busy = (self) =>
    [...self].filter(([where]) => !where.startsWith('(idle)')).reduce((sum, [, us]) => sum + us, 0);
  console.log(`${variant} over ${baseline}, ${mode}: ${(busy(own) - busy(base)).toFixed(1)} µs CPU per request`);
  const rows = [...new Set([...base.keys(), ...own.keys()])]
    .filter((where) => !where.startsWith('(idle)'))
    .map((where) => [where, (own.get(where) ?? 0) - (base.get(where) ?? 0)])
    .sort((a, b) => b[1] - a[1]);
  for (const [where, micros] of rows.slice(0, 25)) console.log(`${micros.toFixed(2).padStart(6)} µs  ${where}`);
} finally {
  redis.stop();
}
