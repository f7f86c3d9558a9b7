// npm run bench: every server side by side against the same route, in alternating order over several
// rounds; req/s, latency, and each server's own CPU time per request, as ratios to bare Express.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { CONNECTIONS, load, loadAverage, median, range, spreadNote, startRedis, startServer } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const only = process.env.BENCH_VARIANTS?.split(',');
const variants = [
  'express',
  'im-rate-limit memory',
  'im-rate-limit redis',
  'express-rate-limit memory',
  'express-rate-limit redis',
  'rate-limiter-flexible memory',
  'rate-limiter-flexible redis',
].filter((variant) => variant === 'express' || only === undefined || only.includes(variant));
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Commands Redis has served since it started (INFO commandstats), whoever sent them. */
async function redisCalls() {
  const stats = await admin.info('commandstats');
  let calls = 0;
  for (const [, count] of stats.matchAll(/^cmdstat_[^:]+:calls=(\d+)/gm)) calls += Number(count);
  return calls;
}

async function measure(server) {
  await load(server.port, WARMUP_SECONDS);
  const cpuBefore = cpuSeconds(server.child.pid);
  const callsBefore = await redisCalls();
  const result = await load(server.port, SECONDS);
  const cpu = cpuSeconds(server.child.pid) - cpuBefore;
  const requests = result.requests.total;
  // the servers take turns: what Redis served meanwhile is this one's (INFO itself is one call)
  const redisCallsPerRequest = (await redisCalls()) - callsBefore - 1;
  return {
    redisCallsPerRequest: redisCallsPerRequest / requests,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    cpuMicrosPerRequest: (cpu / requests) * 1e6,
    refusedShare: result.non2xx / requests,
  };
}

const redis = await startRedis();
const admin = new Redis({ port: redis.port, host: '127.0.0.1' });
const report = {
  date: new Date().toISOString(),
  rounds: ROUNDS,
  seconds: SECONDS,
  connections: CONNECTIONS,
  modes: {},
};
try {
  for (const mode of process.env.BENCH_MODES?.split(',') ?? ['admitted', 'refused']) {
    const servers = await Promise.all(variants.map((variant) => startServer(variant, mode, redis.port)));
    const loadBefore = loadAverage();
    const samples = Object.fromEntries(variants.map((v) => [v, []]));
    for (let round = 0; round < ROUNDS; round++) {
      // alternate the order: each round starts one further along, every other round backwards
      const order = servers.slice(round % servers.length).concat(servers.slice(0, round % servers.length));
      if (round % 2 === 1) order.reverse();
      for (const server of order) {
        const sample = await measure(server);
        samples[server.variant].push(sample);
        console.error(
          `${mode} round ${round + 1}: ${server.variant.padEnd(30)} ${sample.rps.toFixed(0)} req/s, ${sample.cpuMicrosPerRequest.toFixed(1)} µs CPU/req`,
        );
      }
    }
    for (const server of servers) server.child.disconnect();
    const base = samples.express;
    const rows = variants.map((variant) => {
      const own = samples[variant];
      const speedRatios = own.map((s, i) => base[i].cpuMicrosPerRequest / s.cpuMicrosPerRequest);
      const rpsRatios = own.map((s, i) => s.rps / base[i].rps);
      return {
        variant,
        rps: median(own.map((s) => s.rps)),
        p50: median(own.map((s) => s.p50)),
        p99: median(own.map((s) => s.p99)),
        rpsRatio: median(rpsRatios),
        rpsRatioRange: range(rpsRatios),
        cpuMicrosPerRequest: median(own.map((s) => s.cpuMicrosPerRequest)),
        cpuRatio: median(own.map((s, i) => s.cpuMicrosPerRequest / base[i].cpuMicrosPerRequest)),
        // the measure: bare Express's CPU per request over this server's, higher is better
        speedRatio: median(speedRatios),
        speedRatioRange: range(speedRatios),
        speedRatios,
        refusedShare: median(own.map((s) => s.refusedShare)),
        redisCallsPerRequest: median(own.map((s) => s.redisCallsPerRequest)),
      };
    });
    // a limiter's row claims a lead (or a gap) over the best peer on the same store: say when its spread is wider
    for (const row of rows) {
      const store = row.variant.split(' ')[1];
      const peers = rows.filter((r) => r.variant.split(' ')[1] === store && !r.variant.startsWith('im-rate-limit'));
      if (!row.variant.startsWith('im-rate-limit') || peers.length === 0) continue;
      const best = peers.reduce((a, b) => (b.speedRatio > a.speedRatio ? b : a));
      row.note = spreadNote(
        row.speedRatio,
        row.speedRatioRange,
        best.speedRatio,
        best.variant,
        row.speedRatios,
        best.speedRatios,
      );
    }
    report.modes[mode] = { loadBefore, loadAfter: loadAverage(), rows };
  }
} finally {
  admin.disconnect();
  redis.stop();
}

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/http.json', import.meta.url), JSON.stringify(report, null, 2));
const fixed2 = ([low, high]) => `${low.toFixed(2)}–${high.toFixed(2)}`;
for (const [mode, { loadBefore, loadAfter, rows }] of Object.entries(report.modes)) {
  console.log(
    `\n### ${mode} (${ROUNDS} rounds × ${SECONDS} s, -c ${CONNECTIONS}; medians, min–max over the rounds; ratios to bare Express in the same round; load average ${loadBefore} before, ${loadAfter} after)\n`,
  );
  console.log(
    '| server | rounds | req/s | ratio (min–max) | p50 ms | p99 ms | CPU µs/req | CPU ratio | Express CPU / own (min–max) | refused | Redis commands/req | spread against the gap |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${ROUNDS} | ${r.rps.toFixed(0)} | ${r.rpsRatio.toFixed(2)} (${fixed2(r.rpsRatioRange)}) | ${r.p50} | ${r.p99} | ${r.cpuMicrosPerRequest.toFixed(1)} | ${r.cpuRatio.toFixed(2)} | ${r.speedRatio.toFixed(2)} (${fixed2(r.speedRatioRange)}) | ${(r.refusedShare * 100).toFixed(1)}% | ${r.variant.endsWith('redis') ? r.redisCallsPerRequest.toFixed(3) : ''} | ${r.note ?? ''} |`,
    );
  }
}
